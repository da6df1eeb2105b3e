import test from "ava";
import { DEFAULT_IDENTITY, identityFromSetupLog } from "./_manufacture.ts";

test("identityFromSetupLog reads the identity swtpm_setup gave swtpm_localca", (t) => {
  const log =
    "Invoking /usr/bin/swtpm_localca --type ek --ek x=..,id=secp384r1 --dir /tmp/d --tpm-spec-family 2.0 --tpm-spec-level 0 " +
    "--tpm-spec-revision 165 --tpm-manufacturer id:00001015 --tpm-model swtpm2 --tpm-version id:20240101 --tpm2";
  t.deepEqual(identityFromSetupLog(log), {
    specFamily: "2.0",
    specLevel: "0",
    specRevision: "165",
    manufacturer: "id:00001015",
    model: "swtpm2",
    version: "id:20240101",
  });
});

test("identityFromSetupLog falls back to swtpm 0.7.1's values per missing field", (t) => {
  t.deepEqual(identityFromSetupLog(""), DEFAULT_IDENTITY);
  t.deepEqual(identityFromSetupLog("--tpm-model other"), { ...DEFAULT_IDENTITY, model: "other" });
});
