/**
 * Interop (the KMIP 2.x test-harness operation: begin/end/reset of a test case) and Log (a client's message
 * into the server's audit log).
 * @module
 */
import { int, text } from "@tessera/kmip";
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
