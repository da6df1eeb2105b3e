/**
 * The server's message handling, independent of sockets: bytes of a RequestMessage in, bytes of a
 * ResponseMessage out. Each batch item runs its operation; a failure becomes that item's result
 * (OperationFailed with a reason and message), and later items follow the Batch Error Continuation Option.
 * A message that cannot be decoded at all gets an error response; nothing here throws.
 * @module
 */
import {
  child,
  decodeRequest,
  enumMemberSince,
  decodeTtlv,
  encodeResponse,
  encodeTtlv,
  enumName,
  enumValue,
  KmipDecodeError,
  KmipFieldError,
  type KmipVersion,
  RESULT_STATUS,
  type ResponseBatchItem,
  type Ttlv,
  TTLV_TYPE,
} from "@tessera/kmip";
import type { Handler, OpContext } from "./context.ts";
import { OperationError } from "./errors.ts";
import type { Keyring } from "@tessera/service";
import { addAttribute, adjustAttribute, deleteAttribute, modifyAttribute, setAttribute } from "./ops/attribute_ops.ts";
import { create, createKeyPair, reKey, register } from "./ops/create.ts";
import { decrypt, encrypt, getUsageAllocation, hashOp, mac, macVerify, signatureVerify, signOp } from "./ops/crypto_ops.ts";
import { discoverVersions, isSupported, query, setQueryOperations, SUPPORTED_VERSIONS } from "./ops/discover.ts";
import { get, getAttributeList, getAttributes } from "./ops/get.ts";
import { activate, destroy, revoke } from "./ops/lifecycle.ts";
import { locate } from "./ops/locate.ts";
import { check, interop, log, rngRetrieve } from "./ops/misc.ts";
import { ObjectBusyError } from "./store/object_locks.ts";
import type { AuditEntry, Store } from "./store/store.ts";

/** How long a request waits for other requests changing the same object before it fails. */
const LOCK_WAIT_MS = 10_000;

const HANDLERS: Record<string, Handler> = {
  DiscoverVersions: discoverVersions,
  Query: query,
  Create: create,
  CreateKeyPair: createKeyPair,
  Register: register,
  Get: get,
  GetAttributes: getAttributes,
  GetAttributeList: getAttributeList,
  AddAttribute: addAttribute,
  ModifyAttribute: modifyAttribute,
  DeleteAttribute: deleteAttribute,
  SetAttribute: setAttribute,
  Activate: activate,
  Revoke: revoke,
  Destroy: destroy,
  Locate: locate,
  Encrypt: encrypt,
  Decrypt: decrypt,
  Sign: signOp,
  SignatureVerify: signatureVerify,
  MAC: mac,
  MACVerify: macVerify,
  Interop: interop,
  Log: log,
  Check: check,
  ReKey: reKey,
  AdjustAttribute: adjustAttribute,
  GetUsageAllocation: getUsageAllocation,
  Hash: hashOp,
  RNGRetrieve: rngRetrieve,
};

const byValue = new Map<number, { name: string; handler: Handler }>();
for (const [name, handler] of Object.entries(HANDLERS)) byValue.set(enumValue("Operation", name), { name, handler });
setQueryOperations([...byValue.keys()]);

/**
 * Result reasons differ between protocol versions: a 1.x client cannot decode a 2.x-only reason (and the
 * reverse). Each handler names the most precise reason; this picks the one the client's version defines.
 */
const FOR_1X: Record<string, string> = {
  WrongKeyLifecycleState: "PermissionDenied",
  IncompatibleCryptographicUsageMask: "PermissionDenied",
  AttributeReadOnly: "PermissionDenied",
  ReadOnlyAttribute: "PermissionDenied",
  AttributeNotFound: "ItemNotFound",
  AttributeInstanceNotFound: "IndexOutOfBounds",
  AttributeSingleValued: "InvalidField",
  ObjectDestroyed: "ItemNotFound",
  ObjectNotFound: "ItemNotFound",
  IllegalObjectType: "InvalidField",
  InvalidObjectType: "InvalidField",
  UnsupportedCryptographicParameters: "CryptographicFailure",
  BadCryptographicParameters: "CryptographicFailure",
  UnsupportedProtocolVersion: "InvalidMessage",
  NonUniqueNameAttribute: "InvalidField",
  InvalidCorrelationValue: "InvalidField",
};
const FOR_2X: Record<string, string> = { IllegalOperation: "PermissionDenied", IndexOutOfBounds: "AttributeInstanceNotFound" };

function reasonValue(name: string, version: KmipVersion): number {
  const since = (n: string) => {
    try {
      return enumMemberSince("ResultReason", n);
    } catch {
      return "1.0";
    }
  };
  let n = name;
  if (version.major < 2 && since(n) >= "2.0") n = FOR_1X[n] ?? "GeneralFailure";
  if (version.major >= 2 && FOR_2X[n]) n = FOR_2X[n];
  try {
    return enumValue("ResultReason", n, version);
  } catch {
    return enumValue("ResultReason", "GeneralFailure", version);
  }
}

/** What the dispatcher needs. */
export interface DispatchDeps {
  store: Store;
  keyring: Keyring;
  now?: () => Date;
  /** Called with each audit record (also stored). */
  onAudit?: (e: AuditEntry) => void;
  /** Called when audit records could not be stored (they are still handed to onAudit, e.g. the log). */
  onAuditFailure?: (error: unknown, entries: AuditEntry[]) => void;
}

/** Handles one request message for the client `identity`. Never throws: any failure becomes a response. */
export async function handleMessage(deps: DispatchDeps, identity: string, bytes: Uint8Array): Promise<Uint8Array> {
  try {
    return await handle(deps, identity, bytes);
  } catch (e) {
    const now = deps.now ?? (() => new Date());
    return encodeTtlv(
      encodeResponse({
        header: { protocolVersion: { major: 1, minor: 4 }, timeStamp: BigInt(Math.floor(now().getTime() / 1000)), batchCount: 1 },
        items: [
          {
            resultStatus: RESULT_STATUS.OperationFailed,
            resultReason: enumValue("ResultReason", "GeneralFailure"),
            resultMessage: `internal error: ${(e as Error).message}`,
          },
        ],
      }),
    );
  }
}

async function handle(deps: DispatchDeps, identity: string, bytes: Uint8Array): Promise<Uint8Array> {
  const now = deps.now ?? (() => new Date());
  let version: KmipVersion = { ...SUPPORTED_VERSIONS[2] };
  const fail = (reason: string, message: string, operation?: number): Uint8Array =>
    encodeTtlv(
      encodeResponse({
        header: { protocolVersion: version, timeStamp: BigInt(Math.floor(now().getTime() / 1000)), batchCount: 1 },
        items: [{ operation, resultStatus: RESULT_STATUS.OperationFailed, resultReason: reasonValue(reason, version), resultMessage: message }],
      }),
    );
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
    return fail(e instanceof KmipFieldError && e.reason !== "MissingData" ? e.reason : "InvalidMessage", (e as Error).message);
  }
  if (!isSupported(version)) {
    const asked = `${version.major}.${version.minor}`;
    version = { ...SUPPORTED_VERSIONS[2] };
    if (request.items[0] && enumName("Operation", request.items[0].operation) !== "DiscoverVersions") {
      return fail("UnsupportedProtocolVersion", `protocol version ${asked} is not supported`, request.items[0].operation);
    }
  }
  const continuation =
    request.header.batchErrorContinuationOption === undefined ? "Stop" : enumName("BatchErrorContinuationOption", request.header.batchErrorContinuationOption);
  const stopOnError = continuation !== "Continue";
  const undo: (() => Promise<void>)[] = [];
  // Objects this message holds (ctx.lock), released once its writes are durable and any Undo is done.
  const held = new Map<string, () => void>();
  const lock = async (id: string): Promise<void> => {
    if (held.has(id)) return;
    try {
      held.set(id, await deps.store.lock(id, LOCK_WAIT_MS));
    } catch (e) {
      if (e instanceof ObjectBusyError) throw new OperationError("GeneralFailure", e.message);
      throw e;
    }
  };
  const items: ResponseBatchItem[] = [];
  const audit: AuditEntry[] = [];
  let idPlaceholder: string | undefined;
  let failed = false;
  try {
    for (const b of request.items) {
      const op = byValue.get(b.operation);
      const opName = op?.name ?? enumName("Operation", b.operation, version);
      if (failed && stopOnError) {
        items.push({
          operation: b.operation,
          uniqueBatchItemId: b.uniqueBatchItemId,
          resultStatus: RESULT_STATUS.OperationFailed,
          resultReason: reasonValue("OperationCanceledByRequester", version),
          resultMessage: "not run: an earlier batch item failed",
        });
        audit.push({ at: now().getTime(), identity, operation: opName, objectId: null, result: "OperationFailed OperationCanceledByRequester (not run)" });
        continue;
      }
      const ctx: OpContext = { identity, version, store: deps.store, keyring: deps.keyring, now, idPlaceholder, objectIds: [], undo, lock };
      try {
        if (!op) throw new OperationError("OperationNotSupported", `${opName} is not supported by this server`);
        const out = await op.handler(ctx, b.payload);
        const payload: Ttlv = { tag: 0x42007c, type: TTLV_TYPE.Structure, value: out };
        const uid = out.find((x) => x.tag === 0x420094 && x.type === TTLV_TYPE.TextString) ?? out.find((x) => x.tag === 0x420066);
        idPlaceholder = uid && uid.type === TTLV_TYPE.TextString ? uid.value : (ctx.objectIds[0] ?? idPlaceholder);
        items.push({ operation: b.operation, uniqueBatchItemId: b.uniqueBatchItemId, resultStatus: RESULT_STATUS.Success, payload });
        audit.push({ at: now().getTime(), identity, operation: opName, objectId: idPlaceholder ?? null, result: "Success" });
      } catch (e) {
        failed = true;
        const reason =
          e instanceof OperationError ? e.reason : e instanceof KmipFieldError ? (e.reason === "MissingData" ? "InvalidField" : e.reason) : "GeneralFailure";
        const message = e instanceof OperationError || e instanceof KmipFieldError ? e.message : `internal error: ${(e as Error).message}`;
        items.push({
          operation: b.operation,
          uniqueBatchItemId: b.uniqueBatchItemId,
          resultStatus: RESULT_STATUS.OperationFailed,
          resultReason: reasonValue(reason, version),
          resultMessage: message,
        });
        const u = child(b.payload, "UniqueIdentifier");
        audit.push({
          at: now().getTime(),
          identity,
          operation: opName,
          objectId: u?.type === TTLV_TYPE.TextString ? u.value : (idPlaceholder ?? null),
          result: `OperationFailed ${reason}`,
        });
      }
    }
    // Undo: a failure rolls back what the earlier items of the batch wrote, newest first, and reports them undone.
    if (failed && continuation === "Undo") {
      for (const step of undo.reverse()) await step();
      for (const it of items) {
        if (it.resultStatus === RESULT_STATUS.Success) it.resultStatus = RESULT_STATUS.OperationUndone;
      }
      audit.push({ at: now().getTime(), identity, operation: "(batch)", objectId: null, result: `OperationUndone ${undo.length} write(s)` });
    }
  } finally {
    for (const release of held.values()) release();
  }
  // The audit log must not turn a completed operation into a failure the client would retry; a failed audit
  // write is reported (and the records still reach the process log) instead.
  try {
    await deps.store.audit(audit);
  } catch (e) {
    deps.onAuditFailure?.(e, audit);
  }
  for (const a of audit) deps.onAudit?.(a);
  return encodeTtlv(
    encodeResponse({
      header: {
        protocolVersion: version,
        timeStamp: BigInt(Math.floor(now().getTime() / 1000)),
        batchCount: items.length,
      },
      items,
    }),
  );
}
