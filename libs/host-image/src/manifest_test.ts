/** The manifest validation (libs/boot's format) reports a HostImageError naming the field; boot's own tests cover the schema. */
import test from "ava";
import { HostImageError } from "./errors.ts";
import { parseManifest, validateManifest } from "./manifest.ts";

test("a bad manifest is HOST_IMAGE_MANIFEST naming the field", (t) => {
  const e = t.throws(() => validateManifest({ version: "1" }), { instanceOf: HostImageError });
  t.is(e?.code, "HOST_IMAGE_MANIFEST");
  t.is(e?.field, "manifest.firmware");
  t.is(t.throws(() => parseManifest("["), { instanceOf: HostImageError })?.field, "manifest");
});
