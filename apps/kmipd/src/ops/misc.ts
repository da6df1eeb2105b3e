/**
 * Interop (the KMIP 2.x test-harness operation: begin/end/reset of a test case), Log (a client's message
 * into the server's audit log), Check, and RNG Retrieve.
 * @module
 */
import { randomBytes } from "node:crypto";
import { int, item, text } from "@tessera/kmip";
import type { Handler } from "../context.ts";
import { OperationError } from "../errors.ts";
import { attrNumber, idItem, loadObject } from "../objects.ts";

/** Interop: accepted and answered with an empty payload; the server keeps no per-test state to reset. */
export const interop: Handler = async () => [];

/** Log: the client's LogMessage goes into the audit log (the dispatcher records the operation; this adds the text). */
export const log: Handler = async (ctx, payload) => {
  const message = text(payload, "LogMessage");
  if (message === undefined) throw new OperationError("InvalidField", "Log needs a LogMessage");
  await ctx.store.audit([{ at: ctx.now().getTime(), identity: ctx.identity, operation: "Log", objectId: null, result: `message: ${message.slice(0, 1024)}` }]);
  return [];
};

/** Check: whether the object could be used as described (usage mask, usage limits, length); fails when not. */
export const check: Handler = async (ctx, payload) => {
  const o = await loadObject(ctx, payload);
  const mask = int(payload, "CryptographicUsageMask");
  if (mask !== undefined && ((attrNumber(o, "CryptographicUsageMask") ?? 0) & mask) !== mask) {
    throw new OperationError("IncompatibleCryptographicUsageMask", "Check Failed: the usage mask does not allow this use");
  }
  const length = int(payload, "CryptographicLength") ?? undefined;
  if (length !== undefined && attrNumber(o, "CryptographicLength") !== length) {
    throw new OperationError("InvalidField", "Check Failed: the cryptographic length differs");
  }
  return [idItem(o)];
};

/** The most random bytes one RNG Retrieve returns. */
export const RNG_RETRIEVE_MAX = 64 * 1024;

/** RNG Retrieve (KMIP 1.3+): Data Length bytes from the server's RNG (OpenSSL's DRBG, as Query RNGs says). */
export const rngRetrieve: Handler = async (_ctx, payload) => {
  const n = int(payload, "DataLength");
  if (n === undefined) throw new OperationError("InvalidField", "RNG Retrieve needs a Data Length");
  if (n <= 0 || n > RNG_RETRIEVE_MAX) throw new OperationError("InvalidField", `RNG Retrieve returns 1 to ${RNG_RETRIEVE_MAX} bytes, not ${n}`);
  return [item("Data", new Uint8Array(randomBytes(n)))];
};
