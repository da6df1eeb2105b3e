/**
 * KMIP request and response messages (KMIP 1.4 §7, 2.1 §8): headers, batches of operations, results.
 * `decodeRequest`/`encodeResponse` are the server's side, `encodeRequest`/`decodeResponse` the client's.
 * A response header carries only what the request's protocol version defines.
 * @module
 */
import { KmipFieldError, bool, child, children, dateTime, enumeration, enumerationRequired, int, item, struct, text, bytes } from "./node.ts";
import type { KmipVersion } from "./registry.ts";
import { tagOf } from "./registry.ts";
import { TTLV_TYPE, type Ttlv } from "./ttlv.ts";

/** A request header. */
export interface RequestHeader {
  protocolVersion: KmipVersion;
  maximumResponseSize?: number;
  clientCorrelationValue?: string;
  serverCorrelationValue?: string;
  asynchronousIndicator?: boolean;
  batchErrorContinuationOption?: number;
  batchOrderOption?: boolean;
  timeStamp?: bigint;
  /** Authentication structure, kept as is. */
  authentication?: Ttlv;
  batchCount: number;
}

/** One operation of a request. */
export interface RequestBatchItem {
  /** Operation enumeration value. */
  operation: number;
  uniqueBatchItemId?: Uint8Array;
  /** KMIP 2.x: the server must not keep the objects this item creates. */
  ephemeral?: boolean;
  payload?: Ttlv;
  messageExtension?: Ttlv;
}

/** A request message. */
export interface RequestMessage {
  header: RequestHeader;
  items: RequestBatchItem[];
}

/** One operation's result. */
export interface ResponseBatchItem {
  operation?: number;
  uniqueBatchItemId?: Uint8Array;
  /** ResultStatus: 0 Success, 1 OperationFailed, 2 OperationPending, 3 OperationUndone. */
  resultStatus: number;
  resultReason?: number;
  resultMessage?: string;
  asynchronousCorrelationValue?: Uint8Array;
  payload?: Ttlv;
  messageExtension?: Ttlv;
}

/** A response header. */
export interface ResponseHeader {
  protocolVersion: KmipVersion;
  timeStamp: bigint;
  clientCorrelationValue?: string;
  serverCorrelationValue?: string;
  batchCount: number;
}

/** A response message. */
export interface ResponseMessage {
  header: ResponseHeader;
  items: ResponseBatchItem[];
}

/** ResultStatus values. */
export const RESULT_STATUS = { Success: 0, OperationFailed: 1, OperationPending: 2, OperationUndone: 3 } as const;

function protocolVersion(node: Ttlv | undefined): KmipVersion {
  const pv = child(node, "ProtocolVersion");
  const major = int(pv, "ProtocolVersionMajor");
  const minor = int(pv, "ProtocolVersionMinor");
  if (major === undefined || minor === undefined) throw new KmipFieldError("InvalidMessage", "the header has no ProtocolVersion (Major and Minor)");
  return { major, minor };
}

function versionItem(v: KmipVersion): Ttlv {
  return struct("ProtocolVersion", [item("ProtocolVersionMajor", v.major), item("ProtocolVersionMinor", v.minor)]);
}

/** Reads a RequestMessage. Throws {@link KmipFieldError} (InvalidMessage) for a message that is not one. */
export function decodeRequest(msg: Ttlv): RequestMessage {
  if (msg.tag !== tagOf("RequestMessage") || msg.type !== TTLV_TYPE.Structure) throw new KmipFieldError("InvalidMessage", "not a RequestMessage");
  const h = child(msg, "RequestHeader");
  if (!h) throw new KmipFieldError("InvalidMessage", "RequestMessage has no RequestHeader");
  const header: RequestHeader = {
    protocolVersion: protocolVersion(h),
    maximumResponseSize: int(h, "MaximumResponseSize"),
    clientCorrelationValue: text(h, "ClientCorrelationValue"),
    serverCorrelationValue: text(h, "ServerCorrelationValue"),
    asynchronousIndicator: bool(h, "AsynchronousIndicator"),
    batchErrorContinuationOption: enumeration(h, "BatchErrorContinuationOption"),
    batchOrderOption: bool(h, "BatchOrderOption"),
    timeStamp: dateTime(h, "TimeStamp"),
    authentication: child(h, "Authentication"),
    batchCount: int(h, "BatchCount") ?? -1,
  };
  const items = children(msg, "BatchItem").map((b) => ({
    operation: enumerationRequired(b, "Operation"),
    uniqueBatchItemId: bytes(b, "UniqueBatchItemID"),
    ephemeral: bool(b, "Ephemeral"),
    payload: child(b, "RequestPayload"),
    messageExtension: child(b, "MessageExtension"),
  }));
  if (items.length === 0) throw new KmipFieldError("InvalidMessage", "RequestMessage has no BatchItem");
  if (header.batchCount !== items.length) {
    throw new KmipFieldError("InvalidMessage", `BatchCount ${header.batchCount} does not match the ${items.length} batch items`);
  }
  return { header, items };
}

/** Writes a RequestMessage. */
export function encodeRequest(m: RequestMessage): Ttlv {
  const h = m.header;
  return struct("RequestMessage", [
    struct("RequestHeader", [
      versionItem(h.protocolVersion),
      h.maximumResponseSize !== undefined && item("MaximumResponseSize", h.maximumResponseSize),
      h.clientCorrelationValue !== undefined && item("ClientCorrelationValue", h.clientCorrelationValue),
      h.asynchronousIndicator !== undefined && item("AsynchronousIndicator", h.asynchronousIndicator),
      h.authentication,
      h.batchErrorContinuationOption !== undefined && item("BatchErrorContinuationOption", h.batchErrorContinuationOption),
      h.batchOrderOption !== undefined && item("BatchOrderOption", h.batchOrderOption),
      h.timeStamp !== undefined && item("TimeStamp", h.timeStamp),
      item("BatchCount", m.items.length),
    ]),
    ...m.items.map((b) =>
      struct("BatchItem", [
        item("Operation", b.operation),
        b.ephemeral !== undefined && item("Ephemeral", b.ephemeral),
        b.uniqueBatchItemId && item("UniqueBatchItemID", b.uniqueBatchItemId),
        b.payload ?? struct("RequestPayload", []),
        b.messageExtension,
      ]),
    ),
  ]);
}

/** Writes a ResponseMessage, with only the header fields the protocol version defines. */
export function encodeResponse(m: ResponseMessage): Ttlv {
  const h = m.header;
  const v2 = h.protocolVersion.major >= 2;
  return struct("ResponseMessage", [
    struct("ResponseHeader", [
      versionItem(h.protocolVersion),
      item("TimeStamp", h.timeStamp),
      // Correlation values are KMIP 1.4+/2.x header fields; a 1.0–1.3 client would not know them.
      (v2 || h.protocolVersion.minor >= 4) && h.clientCorrelationValue !== undefined && item("ClientCorrelationValue", h.clientCorrelationValue),
      v2 && h.serverCorrelationValue !== undefined && item("ServerCorrelationValue", h.serverCorrelationValue),
      item("BatchCount", m.items.length),
    ]),
    ...m.items.map((b) =>
      struct("BatchItem", [
        b.operation !== undefined && item("Operation", b.operation),
        b.uniqueBatchItemId && item("UniqueBatchItemID", b.uniqueBatchItemId),
        item("ResultStatus", b.resultStatus),
        b.resultReason !== undefined && item("ResultReason", b.resultReason),
        b.resultMessage !== undefined && item("ResultMessage", b.resultMessage),
        b.asynchronousCorrelationValue && item("AsynchronousCorrelationValue", b.asynchronousCorrelationValue),
        b.payload,
        b.messageExtension,
      ]),
    ),
  ]);
}

/** Reads a ResponseMessage. */
export function decodeResponse(msg: Ttlv): ResponseMessage {
  if (msg.tag !== tagOf("ResponseMessage") || msg.type !== TTLV_TYPE.Structure) throw new KmipFieldError("InvalidMessage", "not a ResponseMessage");
  const h = child(msg, "ResponseHeader");
  if (!h) throw new KmipFieldError("InvalidMessage", "ResponseMessage has no ResponseHeader");
  return {
    header: {
      protocolVersion: protocolVersion(h),
      timeStamp: dateTime(h, "TimeStamp") ?? 0n,
      clientCorrelationValue: text(h, "ClientCorrelationValue"),
      serverCorrelationValue: text(h, "ServerCorrelationValue"),
      batchCount: int(h, "BatchCount") ?? 0,
    },
    items: children(msg, "BatchItem").map((b) => ({
      operation: enumeration(b, "Operation"),
      uniqueBatchItemId: bytes(b, "UniqueBatchItemID"),
      resultStatus: enumerationRequired(b, "ResultStatus"),
      resultReason: enumeration(b, "ResultReason"),
      resultMessage: text(b, "ResultMessage"),
      asynchronousCorrelationValue: bytes(b, "AsynchronousCorrelationValue"),
      payload: child(b, "ResponsePayload"),
      messageExtension: child(b, "MessageExtension"),
    })),
  };
}
