/**
 * Test support shared by the codec tests (not a test file itself).
 * @module
 */
import assert from "node:assert/strict";
import { KmipDecodeError } from "./errors.ts";

/** Asserts `fn` throws a KmipDecodeError and returns it. */
export function decodeError(fn: () => unknown): KmipDecodeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KmipDecodeError) return e;
    throw new assert.AssertionError({ message: `expected a KmipDecodeError, got ${String(e)}` });
  }
  throw new assert.AssertionError({ message: "expected a KmipDecodeError, nothing was thrown" });
}
