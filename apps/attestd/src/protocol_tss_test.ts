/**
 * The host protocol over real HTTPS against hosts driven by libs/tss: swtpm TPMs with EK certificates from
 * their own swtpm_localca CA, booted by libs/boot's simulator. Green (RSA and ECC EKs, tokens verified with
 * jose against the JWKS) and every red case with its precise code. One node and two TPMs for the file; the
 * tests are serial because they share them (swtpm serves one connection at a time) and the settings.
 */
import test from "ava";
import { randomBytes } from "node:crypto";
import { decodeProtectedHeader, type JWTPayload } from "jose";
import { defaultHostImage, makeTestSecureBootPki, tamperLog, withKernel, type HostImage } from "@tessera/boot";
import { ekFingerprint } from "@tessera/ek-trust";
import { imageFromManifest } from "@tessera/host-image";
import { Tpm, withEk, createAk, activateAkCredential, withAk } from "@tessera/tss";
import { decodeCredentialFile, toHex } from "@tessera/tpm2";
import {
  acceptImage,
  b64,
  BOOT_SELECTION,
  bootedHost,
  challenge,
  checks,
  otherAk,
  startTestNode,
  testClock,
  trustSwtpmCa,
  tssEnroll,
  tssEvidence,
  verifyWithJwks,
  type BootedHost,
  type TestNode,
  type TssHost,
} from "./_test_support.ts";

let manifest: HostImage;
let node: TestNode;
let a: BootedHost; // trusted CA, Secure Boot on
let b: BootedHost; // its CA untrusted, Secure Boot off
let tpmA: Tpm;
let tpmB: Tpm;
let rsa: TssHost;

test.before(async () => {
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  [a, b] = await Promise.all([bootedHost(manifest), bootedHost(manifest, "secure-boot-off")]);
  node = await startTestNode({ clock: testClock });
  await trustSwtpmCa(node.store, a.sw);
  await acceptImage(node.store, manifest);
  // No settings: the default selection must cover the image's kernel, initrd, command line and version.
  tpmA = Tpm.open(a.sw.tcti);
  tpmB = Tpm.open(b.sw.tcti);
  rsa = await tssEnroll(node, "rsa.example.test", a, tpmA, "rsa2048");
});

test.after.always(async () => {
  await tpmA?.close();
  await tpmB?.close();
  await node?.remove();
  await a?.sw.stop();
  await b?.sw.stop();
});

/** Verifies a token with jose against the node's JWKS, fetched over HTTPS with the node's CA. */
function verifyToken(token: string): Promise<JWTPayload> {
  return verifyWithJwks(token, node.url, node.node.caCert);
}

async function attest(host: string, body: unknown) {
  return node.call("POST", `/api/v1/hosts/${host}/attestations`, body);
}

test.serial("green (RSA EK): enrolled by libs/tss, affirming with a token that verifies against the JWKS, cnf.jwk the binding key", async (t) => {
  const asked = testClock.now();
  const ch = await challenge(node, "rsa.example.test");
  t.is(ch.pcrSelection, BOOT_SELECTION);
  t.regex(ch.nonce, /^[0-9a-f]{64}$/);
  // Time-ordered: the challenge's time in ms in the first 6 bytes, 26 random bytes after it.
  const nonceMs = Number.parseInt(ch.nonce.slice(0, 12), 16);
  t.true(nonceMs >= asked && nonceMs <= testClock.now(), `nonce time ${nonceMs} is not the challenge's`);
  const r = await attest("rsa.example.test", await tssEvidence(rsa, ch));
  t.is(r.status, 200, JSON.stringify(r.json));
  t.is(r.json.status, "affirming");
  t.true(Date.parse(r.json.expiresAt) > Date.now());
  const claims = await verifyToken(r.json.token as string);
  t.is(claims.sub, "rsa.example.test");
  t.is(claims["eat_nonce"], ch.nonce);
  t.is(decodeProtectedHeader(r.json.token as string).alg, "ES256");
  const cnf = claims["cnf"] as { jwk: { kty: string; n: string } };
  t.is(cnf.jwk.kty, "RSA");
  const tpmClaims = (claims["submods"] as Record<string, Record<string, unknown>>)["tpm"];
  t.is(tpmClaims?.["ear.status"], "affirming");
  // tessera.ekCa names the trusted TPM CA the EK chained to: the SHA-256 of its DER, which is its id in the store.
  const ekCa = (claims["tessera"] as { ekCa?: string }).ekCa;
  t.regex(ekCa ?? "", /^[0-9a-f]{64}$/);
  t.true((await node.store.listTpmCas()).some((c) => c.id === ekCa), `ekCa ${ekCa} is not a trusted TPM CA`);
  const status = await node.store.getHostStatus("rsa.example.test", Date.now());
  t.is(status?.status, "green");
  // The attempt's id is a UUIDv7 of the attempt's time (ids sort like the rows they key).
  const [attempt] = await node.store.listAttestations("rsa.example.test", 1);
  t.regex(attempt.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.is(Number.parseInt(attempt.id.replaceAll("-", "").slice(0, 12), 16), attempt.at);
});

test.serial("green (ECC P-256 EK): enrolled with the ECC EK certificate and an ECC AK, affirming", async (t) => {
  const ecc = await tssEnroll(node, "ecc.example.test", a, tpmA, "ecc-p256");
  const ch = await challenge(node, "ecc.example.test");
  const r = await attest("ecc.example.test", await tssEvidence(ecc, ch));
  t.is(r.status, 200, JSON.stringify(r.json));
  const claims = await verifyToken(r.json.token as string);
  t.is(claims.sub, "ecc.example.test");
});

test.serial("key rotation: a token signed before verifies after; new tokens carry the new kid; both keys are published", async (t) => {
  const before = await attest("rsa.example.test", await tssEvidence(rsa, await challenge(node, "rsa.example.test"), { bindingKey: false }));
  t.is(before.status, 200);
  const oldKid = decodeProtectedHeader(before.json.token as string).kid;
  const { kid, retired } = await node.node.deps.signing.rotate();
  t.is(retired, oldKid);
  const after = await attest("rsa.example.test", await tssEvidence(rsa, await challenge(node, "rsa.example.test"), { bindingKey: false }));
  t.is(after.status, 200);
  t.is(decodeProtectedHeader(after.json.token as string).kid, kid);
  t.is((await verifyToken(before.json.token as string)).sub, "rsa.example.test");
  t.is((await verifyToken(after.json.token as string)).sub, "rsa.example.test");
  const jwks = (await node.call("GET", "/.well-known/jwks.json")).json as { keys: { kid: string; d?: string }[] };
  t.deepEqual(jwks.keys.map((k) => k.kid), [kid, oldKid]);
  t.true(jwks.keys.every((k) => k.d === undefined));
});

test.serial("red: an EK certificate from an untrusted CA is ek-untrusted (403)", async (t) => {
  await withEk(tpmB, "rsa2048", async (ek) => {
    const ak = await createAk(tpmB, ek, "rsa");
    const r = await node.call("POST", "/api/v1/hosts/untrusted.example.test/enrollments", { ekCertificate: b64(ek.certificate ?? new Uint8Array()), akPublic: b64(ak.publicBytes) });
    t.is(r.status, 403);
    t.is(r.json.type, "urn:tessera:problem:ek-untrusted");
    t.is(r.json.reason, "unknown-issuer");
  });
});

test.serial("red: an EK certificate and an EK public area of two different keys are ek-mismatch (400)", async (t) => {
  const certA = await withEk(tpmA, "rsa2048", async (ek) => ek.certificate ?? new Uint8Array());
  const pubB = await withEk(tpmB, "rsa2048", async (ek) => ek.publicBytes);
  const r = await node.call("POST", "/api/v1/hosts/mismatch.example.test/enrollments", { ekCertificate: b64(certA), ekPublic: b64(pubB), akPublic: b64(rsa.ak.publicBytes) });
  t.is(r.status, 400);
  t.is(r.json.type, "urn:tessera:problem:ek-mismatch");
});

test.serial("red: in pin mode an unpinned EK is ek-not-pinned; pinned, the same EK enrolls", async (t) => {
  await node.store.putSettings({ pcrSelection: BOOT_SELECTION, ekTrustMode: "pin" });
  try {
    const e = await withEk(tpmA, "rsa2048", async (ek) => {
      const ak = await createAk(tpmA, ek, "rsa");
      return { cert: ek.certificate ?? new Uint8Array(), ekPublic: ek.publicBytes, body: { ekCertificate: b64(ek.certificate ?? new Uint8Array()), akPublic: b64(ak.publicBytes) } };
    });
    const r = await node.call("POST", "/api/v1/hosts/pinned.example.test/enrollments", e.body);
    t.is(r.status, 403);
    t.is(r.json.type, "urn:tessera:problem:ek-not-pinned");
    await node.store.putEkPin({ host: "pinned.example.test", certificate: e.cert, ekFingerprint: ekFingerprint(e.ekPublic), addedAt: Date.now() });
    const ok = await node.call("POST", "/api/v1/hosts/pinned.example.test/enrollments", e.body);
    t.is(ok.status, 201, JSON.stringify(ok.json));
  } finally {
    await node.store.putSettings({ pcrSelection: BOOT_SELECTION });
  }
});

test.serial("red: an AK the EK's TPM cannot activate (another TPM's AK) is credential-mismatch, and the enrollment is spent", async (t) => {
  // TPM A's trusted EK certificate with TPM B's AK: only a TPM holding both could recover the secret.
  const ekCert = await withEk(tpmA, "rsa2048", async (ek) => ek.certificate ?? new Uint8Array());
  const { akB, secretTry } = await withEk(tpmB, "rsa2048", async (ek) => {
    const ak = await createAk(tpmB, ek, "rsa");
    return { akB: ak, secretTry: async (credential: string) => {
      const cred = decodeCredentialFile(new Uint8Array(Buffer.from(credential, "base64")));
      // TPM B's EK cannot open a credential made to TPM A's EK.
      return withEk(tpmB, "rsa2048", (ekB) => withAk(tpmB, ekB, ak, (l) => activateAkCredential(tpmB, ekB, l, cred.credentialBlob, cred.secret)));
    } };
  });
  const e = await node.call("POST", "/api/v1/hosts/mixed.example.test/enrollments", { ekCertificate: b64(ekCert), akPublic: b64(akB.publicBytes) });
  t.is(e.status, 201, JSON.stringify(e.json));
  await t.throwsAsync(secretTry(e.json.credential as string));
  const path = `/api/v1/hosts/mixed.example.test/enrollments/${e.json.enrollment as string}/activation`;
  const r = await node.call("POST", path, { secret: b64(crypto.getRandomValues(new Uint8Array(32))) });
  t.is(r.status, 403);
  t.is(r.json.type, "urn:tessera:problem:credential-mismatch");
  const again = await node.call("POST", path, { secret: b64(new Uint8Array(32)) });
  t.is(again.status, 409);
  t.is(again.json.type, "urn:tessera:problem:enrollment-used");
  t.is(await node.store.getHost("mixed.example.test"), undefined);
});

test.serial("an enrollment is answered once: a second activation with the right secret is refused; an expired one is 410", async (t) => {
  const r = await withEk(tpmA, "rsa2048", async (ek) => {
    const ak = await createAk(tpmA, ek, "rsa");
    const e = await node.call("POST", "/api/v1/hosts/once.example.test/enrollments", { ekCertificate: b64(ek.certificate ?? new Uint8Array()), akPublic: b64(ak.publicBytes) });
    const cred = decodeCredentialFile(new Uint8Array(Buffer.from(e.json.credential as string, "base64")));
    const secret = await withAk(tpmA, ek, ak, (l) => activateAkCredential(tpmA, ek, l, cred.credentialBlob, cred.secret));
    const path = `/api/v1/hosts/once.example.test/enrollments/${e.json.enrollment as string}/activation`;
    const first = await node.call("POST", path, { secret: b64(secret) });
    const second = await node.call("POST", path, { secret: b64(secret) });
    const e2 = await node.call("POST", "/api/v1/hosts/once.example.test/enrollments", { ekCertificate: b64(ek.certificate ?? new Uint8Array()), akPublic: b64(ak.publicBytes) });
    testClock.skewMs = 3600_000;
    try {
      const late = await node.call("POST", `/api/v1/hosts/once.example.test/enrollments/${e2.json.enrollment as string}/activation`, { secret: b64(secret) });
      return { first, second, late, akName: toHex(ak.name) };
    } finally {
      testClock.skewMs = 0;
    }
  });
  t.is(r.first.status, 200);
  t.is(r.first.json.akName, r.akName);
  t.is(r.second.status, 409);
  t.is(r.late.status, 410);
  t.is(r.late.json.type, "urn:tessera:problem:enrollment-expired");
});

test.serial("red: a replayed nonce is nonce-reused, an expired one nonce-expired, another host's nonce-unknown", async (t) => {
  const ch = await challenge(node, "rsa.example.test");
  const body = await tssEvidence(rsa, ch, { bindingKey: false });
  t.is((await attest("rsa.example.test", body)).status, 200);
  t.deepEqual(checks(await attest("rsa.example.test", body)), ["nonce-reused"]);

  const late = await challenge(node, "rsa.example.test");
  const lateBody = await tssEvidence(rsa, late, { bindingKey: false });
  testClock.skewMs = 61_000;
  try {
    t.deepEqual(checks(await attest("rsa.example.test", lateBody)), ["nonce-expired"]);
  } finally {
    testClock.skewMs = 0;
  }

  const others = await challenge(node, "ecc.example.test");
  t.deepEqual(checks(await attest("rsa.example.test", await tssEvidence(rsa, others, { bindingKey: false }))), ["nonce-unknown"]);
  // The other host's nonce was not spent by the attempt.
  t.deepEqual(checks(await attest("rsa.example.test", { ...body, nonce: "ab".repeat(32) })), ["nonce-unknown"]);
});

test.serial("red: a host that never enrolled is ak-not-enrolled", async (t) => {
  const ch = await challenge(node, "stranger.example.test");
  t.deepEqual(checks(await attest("stranger.example.test", await tssEvidence(rsa, ch, { bindingKey: false }))), ["ak-not-enrolled"]);
});

test.serial("red: a quote by another AK is quote-signature", async (t) => {
  const ch = await challenge(node, "rsa.example.test");
  const body = await tssEvidence(rsa, ch, { ak: await otherAk(rsa), bindingKey: false });
  t.deepEqual(checks(await attest("rsa.example.test", body)), ["quote-signature"]);
});

test.serial("red: a tampered quote is quote-signature", async (t) => {
  const ch = await challenge(node, "rsa.example.test");
  const body = await tssEvidence(rsa, ch, { bindingKey: false });
  const quote = Buffer.from(body.quote, "base64");
  quote[quote.length - 1] ^= 1; // the last byte of the PCR digest
  t.true(checks(await attest("rsa.example.test", { ...body, quote: quote.toString("base64") })).includes("quote-signature"));
});

test.serial("red: a corrupted signature is quote-signature under every policy the service allows, also on a quote of no PCR", async (t) => {
  const policies = [
    { pcrSelection: BOOT_SELECTION },
    { pcrSelection: "sha256:0" },
    { pcrSelection: BOOT_SELECTION, secureBootRequired: false },
    { pcrSelection: BOOT_SELECTION, hashAlgorithms: ["sha256"] },
  ];
  try {
    for (const settings of policies) {
      await node.store.putSettings(settings);
      for (const selection of [undefined, ""]) {
        const ch = await challenge(node, "rsa.example.test");
        const body = await tssEvidence(rsa, ch, { bindingKey: false, ...(selection !== undefined ? { selection } : {}) });
        const sig = Buffer.from(body.signature, "base64");
        sig[sig.length - 1] ^= 1;
        const got = checks(await attest("rsa.example.test", { ...body, signature: sig.toString("base64"), }));
        t.true(got.includes("quote-signature"), `${JSON.stringify(settings)} ${selection === undefined ? "challenged PCRs" : "no PCR"}: ${got.join(", ")}`);
      }
    }
  } finally {
    await node.store.putSettings({ pcrSelection: BOOT_SELECTION });
  }
});

test.serial("red: PCR values that do not match the quote are quote-pcr-digest", async (t) => {
  const ch = await challenge(node, "rsa.example.test");
  const body = await tssEvidence(rsa, ch, { bindingKey: false });
  const pcrs = { sha256: { ...body.pcrs["sha256"], "9": "09".repeat(32) } };
  t.true(checks(await attest("rsa.example.test", { ...body, pcrs })).includes("quote-pcr-digest"));
});

test.serial("red: a log that does not replay is log-replay naming the PCR and the event", async (t) => {
  const ch = await challenge(node, "rsa.example.test");
  const body = await tssEvidence(rsa, ch, { bindingKey: false });
  const r = await attest("rsa.example.test", { ...body, eventLog: b64(tamperLog(rsa.log, 5, { rehash: true })) });
  t.true(checks(r).includes("log-replay"));
  const f = (r.json.failures as { check: string; pcr?: number; event?: number }[]).find((x) => x.check === "log-replay");
  t.is(typeof f?.pcr, "number");
  t.is(typeof f?.event, "number");
});

test.serial("red: a kernel in no accepted image is image-unknown naming the closest image; the host turns red and back green", async (t) => {
  const first = await challenge(node, "rsa.example.test");
  t.is((await attest("rsa.example.test", await tssEvidence(rsa, first, { bindingKey: false }))).status, 200);
  const events: string[] = [];
  const off = node.node.deps.events.subscribe((e) => events.push(`${e.host} ${e.previous}->${e.status}`));
  await node.store.removeImage("tessera-host");
  const next = imageFromManifest(withKernel(manifest, "5eed".repeat(16)), { name: "next", version: "2" });
  await node.store.addImage({ name: "next", version: "2", image: next, addedAt: Date.now() });
  try {
    const ch = await challenge(node, "rsa.example.test");
    const r = await attest("rsa.example.test", await tssEvidence(rsa, ch, { bindingKey: false }));
    t.deepEqual(checks(r), ["image-unknown"]);
    t.true((r.json.failures as { image?: string }[]).every((f) => f.image === "next 2"));
    t.is((await node.store.getHostStatus("rsa.example.test", Date.now()))?.status, "red");
  } finally {
    await node.store.removeImage("next");
    await acceptImage(node.store, manifest);
  }
  const ch = await challenge(node, "rsa.example.test");
  t.is((await attest("rsa.example.test", await tssEvidence(rsa, ch, { bindingKey: false }))).status, 200);
  off();
  t.deepEqual(events, ["rsa.example.test green->red", "rsa.example.test red->green"]);
});

test.serial("a forged attempt (another AK, a corrupted signature, garbage, an old quote) is refused and kept, but a green host stays green; its own red quote turns it red", async (t) => {
  const host = "rsa.example.test";
  const first = await attest(host, await tssEvidence(rsa, await challenge(node, host), { bindingKey: false }));
  t.is(first.status, 200);
  const old = await tssEvidence(rsa, await challenge(node, host), { bindingKey: false });
  t.is((await attest(host, old)).status, 200);
  const events: string[] = [];
  const off = node.node.deps.events.subscribe((e) => events.push(`${e.host} ${e.previous}->${e.status}`));
  try {
    const other = await otherAk(rsa);
    const forgeries: [string, (ch: { nonce: string; pcrSelection: string }) => Promise<unknown>, string][] = [
      ["another AK's quote", (ch) => tssEvidence(rsa, ch, { ak: other, bindingKey: false }), "quote-signature"],
      [
        "a corrupted signature",
        async (ch) => {
          const body = await tssEvidence(rsa, ch, { bindingKey: false });
          const sig = Buffer.from(body.signature, "base64");
          sig[sig.length - 1] ^= 1;
          return { ...body, signature: sig.toString("base64") };
        },
        "quote-signature",
      ],
      ["garbage", async (ch) => ({ nonce: ch.nonce, quote: b64(new Uint8Array(64).fill(7)), signature: b64(new Uint8Array(8)), pcrs: {}, eventLog: "" }), "quote-signature"],
      ["an earlier quote of the host's TPM on a new nonce", async (ch) => ({ ...old, nonce: ch.nonce }), "quote-nonce"],
    ];
    for (const [what, forge, code] of forgeries) {
      const r = await attest(host, await forge(await challenge(node, host)));
      t.is(r.status, 403, what);
      t.true(checks(r).includes(code), `${what}: ${checks(r).join(", ")}`);
      t.is((await node.store.getHostStatus(host, Date.now()))?.status, "green", what);
    }
    const history = await node.store.listAttestations(host, forgeries.length);
    t.deepEqual(
      history.map((a) => [a.status, a.foreign]),
      forgeries.map(() => ["contraindicated", true]),
      "every forged attempt is in the history, marked as not the host's",
    );
    t.deepEqual(events, [], "no status change was published");

    // The host's own quote, signed by its AK, of a kernel in no accepted image: that one counts.
    await node.store.removeImage("tessera-host");
    await node.store.addImage({ name: "next", version: "2", image: imageFromManifest(withKernel(manifest, "5eed".repeat(16)), { name: "next", version: "2" }), addedAt: Date.now() });
    const red = await attest(host, await tssEvidence(rsa, await challenge(node, host), { bindingKey: false }));
    t.deepEqual(checks(red), ["image-unknown"]);
    t.is((await node.store.getHostStatus(host, Date.now()))?.status, "red");
    t.is((await node.store.listAttestations(host, 1))[0]?.foreign, undefined);
    t.deepEqual(events, [`${host} green->red`]);
  } finally {
    off();
    await node.store.removeImage("next");
    await acceptImage(node.store, manifest);
  }
  t.is((await attest(host, await tssEvidence(rsa, await challenge(node, host), { bindingKey: false }))).status, 200);
});

test.serial("red: Secure Boot off is secure-boot-off (host enrolled by its pinned bare EK public key)", async (t) => {
  const sboff = await withEk(tpmB, "rsa2048", async (ek) => {
    await node.store.putEkPin({ host: "sboff.example.test", ekPublic: ek.publicBytes, ekFingerprint: ekFingerprint(ek.publicBytes), addedAt: Date.now() });
    const ak = await createAk(tpmB, ek, "rsa");
    const e = await node.call("POST", "/api/v1/hosts/sboff.example.test/enrollments", { ekPublic: b64(ek.publicBytes), akPublic: b64(ak.publicBytes) });
    if (e.status !== 201) throw new Error(JSON.stringify(e.json));
    const cred = decodeCredentialFile(new Uint8Array(Buffer.from(e.json.credential as string, "base64")));
    const secret = await withAk(tpmB, ek, ak, (l) => activateAkCredential(tpmB, ek, l, cred.credentialBlob, cred.secret));
    const act = await node.call("POST", `/api/v1/hosts/sboff.example.test/enrollments/${e.json.enrollment as string}/activation`, { secret: b64(secret) });
    if (act.status !== 200) throw new Error(JSON.stringify(act.json));
    return { sw: b.sw, tpm: tpmB, ekKind: "rsa2048" as const, ak, log: b.log };
  });
  const ch = await challenge(node, "sboff.example.test");
  const got = checks(await attest("sboff.example.test", await tssEvidence(sboff, ch, { bindingKey: false })));
  t.is(got[0], "secure-boot-off", got.join(", "));
});

test.serial("red: a binding key certified by another AK is binding-key", async (t) => {
  const ch = await challenge(node, "rsa.example.test");
  const body = await tssEvidence(rsa, ch, { certifyWith: await otherAk(rsa) });
  t.deepEqual(checks(await attest("rsa.example.test", body)), ["binding-key"]);
});

test.serial("red: a binding key certified with qualifyingData neither empty, the nonce, nor tpm2_certify's 00ff55aa is binding-key", async (t) => {
  const ch = await challenge(node, "rsa.example.test");
  const body = await tssEvidence(rsa, ch, { qualifyingData: new Uint8Array(randomBytes(8)) });
  t.deepEqual(checks(await attest("rsa.example.test", body)), ["binding-key"]);
});

test.serial("red: a bad AK is ak-attributes (400) and bad host names and bodies are bad-request", async (t) => {
  const ekCert = await withEk(tpmA, "rsa2048", async (ek) => ek.certificate ?? new Uint8Array());
  const r = await node.call("POST", "/api/v1/hosts/x.example.test/enrollments", { ekCertificate: b64(ekCert), akPublic: b64(rsa.ak.publicBytes.slice(0, 20)) });
  t.is(r.status, 400);
  t.is(r.json.type, "urn:tessera:problem:ak-attributes");
  const bad = await node.call("POST", "/api/v1/hosts/UPPER_case/challenges");
  t.is(bad.status, 400);
  const noEk = await node.call("POST", "/api/v1/hosts/x.example.test/enrollments", { akPublic: b64(rsa.ak.publicBytes) });
  t.is(noEk.status, 400);
  const notB64 = await node.call("POST", "/api/v1/hosts/x.example.test/enrollments", { ekCertificate: "***", akPublic: b64(rsa.ak.publicBytes) });
  t.is(notB64.status, 400);
  t.regex(notB64.json.detail as string, /ekCertificate/);
});
