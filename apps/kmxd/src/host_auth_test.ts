/**
 * The cluster a host's token places it in, by each kind of rule (host pattern, EK pin, TPM CA), and the grant check.
 * The claims are those of a verified token (routes/host_test.ts drives the same function through real attestd tokens).
 */
import test from "ava";
import { EAR_PROFILE, type EarClaims } from "@tessera/tokens";
import { authorizeProvider, HostRefusal } from "./host_auth.ts";

const CA = "c1".repeat(32);
const EK = "e7".repeat(32);

function caller(host: string, tessera: Partial<EarClaims["tessera"]> = {}) {
  const claims: EarClaims = {
    eat_profile: EAR_PROFILE,
    iat: 1,
    exp: 2,
    jti: "j",
    iss: "https://ta.test",
    sub: host,
    eat_nonce: "00".repeat(32),
    "ear.verifier-id": { developer: "tessera", build: "t" },
    submods: { tpm: { "ear.status": "affirming" } },
    tessera: { ekFingerprint: "ab".repeat(32), akName: "000b" + "cd".repeat(32), secureBoot: true, pcrDigest: "12".repeat(32), pcrSelection: "sha256:0", ...tessera },
  };
  return { host, claims };
}

const clusters = [
  { name: "by-ca", rules: [{ tpmCa: CA }] },
  { name: "by-ek", rules: [{ ekFingerprint: EK }] },
  { name: "web", rules: [{ host: "web-*.example.test" }] },
];

test("a host is placed by its EK's TPM CA (tessera.ekCa), its pinned EK, or its name; else in default", (t) => {
  t.is(authorizeProvider(caller("db-1.example.test", { ekCa: CA }), "p", ["by-ca"], clusters), "by-ca");
  t.is(authorizeProvider(caller("db-1.example.test", { ekFingerprint: EK }), "p", ["by-ek"], clusters), "by-ek");
  t.is(authorizeProvider(caller("web-3.example.test"), "p", ["web"], clusters), "web");
  t.is(authorizeProvider(caller("db-1.example.test", { ekCa: "0f".repeat(32) }), "p", ["default"], clusters), "default");
});

test("a cluster without the grant is refused with provider-not-allowed naming the cluster", (t) => {
  const e = t.throws(() => authorizeProvider(caller("db-1.example.test", { ekCa: CA }), "vault", ["default"], clusters), { instanceOf: HostRefusal });
  t.is(e?.code, "provider-not-allowed");
  t.is(e?.status, 403);
  t.regex(e?.message ?? "", /trusted cluster by-ca, which may not use provider vault/);
});
