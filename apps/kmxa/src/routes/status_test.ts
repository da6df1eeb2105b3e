/**
 * The status and identity views without a TPM: times as RFC 3339, optional members left out, an identity without
 * an EK certificate (nothing invented: empty chain, the TPM's own words), an absent or unparsable event log
 * (no image, the reason given instead).
 */
import test from "ava";
import type { HostIdentity } from "../agent_types.ts";
import { identityView, statusView } from "./status.ts";

const base: HostIdentity = {
  host: "h.example.test",
  ekPublic: new Uint8Array([1, 2, 3]),
  ekSpki: new Uint8Array([4, 5, 6]),
  ekFingerprint: "ab".repeat(32),
  akName: "000b" + "cd".repeat(32),
  akPublic: new Uint8Array([7, 8]),
  eventLog: new Uint8Array(),
  eventLogPath: "/nowhere/binary_bios_measurements",
};

test("status: times in RFC 3339, absent members left out", (t) => {
  const v = statusView({
    host: "h",
    state: "refused",
    since: 0,
    lastAttempt: 1000,
    lastFailure: { code: "attestation-failed", detail: "x", failures: [{ check: "image-unknown", detail: "y" }] },
  });
  t.deepEqual(v, {
    host: "h",
    state: "refused",
    since: "1970-01-01T00:00:00.000Z",
    lastAttempt: "1970-01-01T00:00:01.000Z",
    lastFailure: { code: "attestation-failed", detail: "x", failures: [{ check: "image-unknown", detail: "y" }] },
  });
});

test("identity without an EK certificate or event log: no chain, the TPM's own words, the reason there is no image", (t) => {
  const v = identityView({ ...base, tpm: { manufacturer: "IFX", vendorString: "SLB9670", firmwareVersion: "7.85.0.0" } }, { name: "n", version: "v" });
  t.is(v.ekCertificate, undefined);
  t.deepEqual(v.caChain, []);
  t.deepEqual(v.tpm, { manufacturer: "IFX", model: "SLB9670", firmware: "7.85.0.0" });
  t.is(v.ekPublic, "AQID");
  t.is(v.ekPublicKey, "-----BEGIN PUBLIC KEY-----\nBAUG\n-----END PUBLIC KEY-----\n");
  t.is(v.eventLog, "");
  t.is(v.image, undefined);
  t.regex(v.imageError ?? "", /no event log at \/nowhere/);
});

test("identity with an event log that does not parse: the parser's reason, no image", (t) => {
  const v = identityView({ ...base, eventLog: new Uint8Array([0xff, 0, 0]) }, { name: "n", version: "v" });
  t.is(v.image, undefined);
  t.true((v.imageError ?? "").length > 0);
  t.is(v.eventLog, "/wAA");
  t.deepEqual(v.tpm, {});
});

test("identity with an EK certificate that does not parse: exported as it is, no chain", (t) => {
  const v = identityView({ ...base, ekCertificate: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]) }, { name: "n", version: "v" });
  t.is(v.ekCertificate, "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n");
  t.deepEqual(v.caChain, []);
});
