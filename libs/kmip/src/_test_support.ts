/**
 * Test support shared by the codec tests (not a test file itself).
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { KmipDecodeError } from "./errors.ts";
import { TAGS, type TtlvTypeName } from "./registry_table.ts";

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

/** fast-check record options: deepStrictEqual compares prototypes, so records must be plain objects. */
export const REC = { noNullPrototype: true } as const;
/** Any signed 64-bit value. */
export const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
/** The registry's tags whose type is known. */
export const REGISTERED = TAGS.filter(([, , type]) => type !== "*");

/** Registered tags of `type`, any registered tag, unknown 0x42 tags and extension tags. */
export function tagFor(type: TtlvTypeName): fc.Arbitrary<number> {
  const own = REGISTERED.filter(([, , ty]) => ty === type).map(([, tag]) => tag);
  return fc.oneof(
    { weight: 6, arbitrary: own.length ? fc.constantFrom(...own) : fc.constant(0x540000) },
    { weight: 1, arbitrary: fc.constantFrom(...REGISTERED.map(([, tag]) => tag)) },
    { weight: 1, arbitrary: fc.integer({ min: 0x420000, max: 0x42ffff }) },
    { weight: 1, arbitrary: fc.integer({ min: 0x540000, max: 0x54ffff }) },
  );
}

/** Item trees of `leaf` and `attribute` items in structures nested at most `depth` deep. */
export function itemTree<T>(leaf: fc.Arbitrary<T>, attribute: fc.Arbitrary<T>, depth: number): fc.Arbitrary<T> {
  if (depth === 0) return fc.oneof(leaf, attribute);
  return fc.oneof(
    { weight: 3, arbitrary: leaf },
    { weight: 1, arbitrary: attribute },
    {
      weight: 2,
      arbitrary: fc.record(
        { tag: tagFor("Structure"), type: fc.constant(0x01 as const), value: fc.array(itemTree(leaf, attribute, depth - 1), { maxLength: 4 }) },
        REC,
      ) as fc.Arbitrary<T>,
    },
  );
}
