/**
 * The server's message handling, independent of sockets: bytes of a RequestMessage in, bytes of a
 * ResponseMessage out. Each batch item runs its operation; a failure becomes that item's result
 * (OperationFailed with a reason and message), and later items follow the Batch Error Continuation Option.
 * A message that cannot be decoded at all gets an error response; nothing here throws.
 * @module
 */
import {
  child, decodeRequest, decodeTtlv, encodeResponse, encodeTtlv, enumName, enumValue, KmipDecodeError, KmipFieldError,
  type KmipVersion, RESULT_STATUS, type ResponseBatchItem, text, type Ttlv, TTLV_TYPE,
} from "@tessera/kmip";
import type { Handler, OpContext } from "./context.ts";
import { OperationError } from "./errors.ts";
import type { Keyring } from "./master_key.ts";
import { addAttribute, deleteAttribute, modifyAttribute, setAttribute } from "./ops/attribute_ops.ts";
import { create, createKeyPair, register } from "./ops/create.ts";
import { decrypt, encrypt, mac, macVerify, signatureVerify, signOp } from "./ops/crypto_ops.ts";
import { discoverVersions, isSupported, query, setQueryOperations, SUPPORTED_VERSIONS } from "./ops/discover.ts";
import { get, getAttributeList, getAttributes } from "./ops/get.ts";
import { activate, destroy, revoke } from "./ops/lifecycle.ts";
import { locate } from "./ops/locate.ts";
import type { AuditEntry, Store } from "./store/store.ts";

const HANDLERS: Record<string, Handler> = {
  DiscoverVersions: discoverVersions, Query: query, Create: create, CreateKeyPair: createKeyPair, Register: register,
  Get: get, GetAttributes: getAttributes, GetAttributeList: getAttributeList, AddAttribute: addAttribute,
  ModifyAttribute: modifyAttribute, DeleteAttribute: deleteAttribute, SetAttribute: setAttribute, Activate: activate,
  Revoke: revoke, Destroy: destroy, Locate: locate, Encrypt: encrypt, Decrypt: decrypt, Sign: signOp,
  SignatureVerify: signatureVerify, MAC: mac, MACVerify: macVerify,
};

const byValue = new Map<number, { name: string; handler: Handler }>();
for (const [name, handler] of Object.entries(HANDLERS)) byValue.set(enumValue("Operation", name), { name, handler });
setQueryOperations([...byValue.keys()]);

/** What the dispatcher needs. */
export interface DispatchDeps {
  store: Store;
  keyring: Keyring;
  now?: () => Date;
  /** Called with each audit record (also stored). */
  onAudit?: (e: AuditEntry) => void;
}

/** Handles one request message for the client `identity`. Never throws. */
export async function handleMessage(deps: DispatchDeps, identity: string, bytes: Uint8Array): Promise<Uint8Array> {
  const now = deps.now ?? (() => new Date());
  let version: KmipVersion = { ...SUPPORTED_VERSIONS[2] };
  const fail = (reason: string, message: string, operation?: number): Uint8Array =>
    encodeTtlv(encodeResponse({
      header: { protocolVersion: version, timeStamp: BigInt(Math.floor(now().getTime() / 1000)), batchCount: 1 },
      items: [{ operation, resultStatus: RESULT_STATUS.OperationFailed, resultReason: enumValue("ResultReason", reason, version), resultMessage: message }],
    }));
  let msg: Ttlv;
  try {
    msg = decodeTtlv(bytes, { maxDepth: 32, maxSize: 4 * 1024 * 1024 });
  } catch (e) {
    return fail("InvalidMessage", e instanceof KmipDecodeError ? e.message : "the message is not TTLV");
  }
  // Answer in the request's protocol version when it can be read, even if the rest is malformed.
  const pv = child(child(msg, "RequestHeader"), "ProtocolVersion");
  const major = child(pv, "ProtocolVersionMajor");
  const minor = child(pv, "ProtocolVersionMinor");
  if (major?.type === TTLV_TYPE.Integer && minor?.type === TTLV_TYPE.Integer) version = { major: major.value, minor: minor.value };
  let request;
  try {
    request = decodeRequest(msg);
  } catch (e) {
    return fail(e instanceof KmipFieldError ? e.reason === "MissingData" ? "InvalidMessage" : e.reason : "InvalidMessage", (e as Error).message);
  }
  if (!isSupported(version)) {
    const asked = `${version.major}.${version.minor}`;
    version = { ...SUPPORTED_VERSIONS[2] };
    if (request.items[0] && enumName("Operation", request.items[0].operation) !== "DiscoverVersions") {
      return fail("InvalidMessage", `protocol version ${asked} is not supported`, request.items[0].operation);
    }
  }
  const stopOnError = request.header.batchErrorContinuationOption === undefined || enumName("BatchErrorContinuationOption", request.header.batchErrorContinuationOption) !== "Continue";
  const items: ResponseBatchItem[] = [];
  const audit: AuditEntry[] = [];
  let idPlaceholder: string | undefined;
  let failed = false;
  for (const b of request.items) {
    const op = byValue.get(b.operation);
    const opName = op?.name ?? enumName("Operation", b.operation, version);
    if (failed && stopOnError) {
      items.push({ operation: b.operation, uniqueBatchItemId: b.uniqueBatchItemId, resultStatus: RESULT_STATUS.OperationFailed, resultReason: enumValue("ResultReason", "OperationCanceledByRequester", version), resultMessage: "not run: an earlier batch item failed" });
      continue;
    }
    const ctx: OpContext = { identity, version, store: deps.store, keyring: deps.keyring, now, idPlaceholder, objectIds: [] };
    try {
      if (!op) throw new OperationError("OperationNotSupported", `${opName} is not supported by this server`);
      const out = await op.handler(ctx, b.payload);
      const payload: Ttlv = { tag: 0x42007c, type: TTLV_TYPE.Structure, value: out };
      const uid = out.find((x) => x.tag === 0x420094 && x.type === TTLV_TYPE.TextString) ?? out.find((x) => x.tag === 0x420066);
      idPlaceholder = uid && uid.type === TTLV_TYPE.TextString ? uid.value : ctx.objectIds[0] ?? idPlaceholder;
      items.push({ operation: b.operation, uniqueBatchItemId: b.uniqueBatchItemId, resultStatus: RESULT_STATUS.Success, payload });
      audit.push({ at: now().getTime(), identity, operation: opName, objectId: idPlaceholder ?? null, result: "Success" });
    } catch (e) {
      failed = true;
      const reason = e instanceof OperationError ? e.reason : e instanceof KmipFieldError ? e.reason === "MissingData" ? "InvalidField" : e.reason : "GeneralFailure";
      const message = e instanceof OperationError || e instanceof KmipFieldError ? e.message : `internal error: ${(e as Error).message}`;
      let reasonValue: number;
      try {
        reasonValue = enumValue("ResultReason", reason, version);
      } catch {
        reasonValue = enumValue("ResultReason", "GeneralFailure", version);
      }
      items.push({ operation: b.operation, uniqueBatchItemId: b.uniqueBatchItemId, resultStatus: RESULT_STATUS.OperationFailed, resultReason: reasonValue, resultMessage: message });
      audit.push({ at: now().getTime(), identity, operation: opName, objectId: text(b.payload, "UniqueIdentifier") ?? null, result: `OperationFailed ${reason}` });
    }
  }
  try {
    await deps.store.audit(audit);
    for (const a of audit) deps.onAudit?.(a);
  } catch {
    // The audit log must not turn a completed operation into a failure the client would retry.
  }
  return encodeTtlv(encodeResponse({
    header: {
      protocolVersion: version, timeStamp: BigInt(Math.floor(now().getTime() / 1000)),
      clientCorrelationValue: request.header.clientCorrelationValue, batchCount: items.length,
    },
    items,
  }));
}
