/**
 * Wrapping against a real key server it did not come with: the PyKMIP server (Debian's 0.10), over our KMIP
 * client. Both modes, round trips checked against Node's own AES/HMAC with the key material (so the wrapped form
 * and the AAD are exactly as specified), tampering refused, failover, every server down, a lost answer, probing,
 * and the trust set-up (our CSR signed by the server's CA, then used to talk to it).
 */
import test from "ava";
import { createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer as createTlsServer } from "node:tls";
// @tessera/pki first: it sets @peculiar/x509 up before that loads.
import { issueCertificate } from "@tessera/pki";
import * as x509 from "@peculiar/x509";
import { type KmipClient, KmipOutcomeUnknownError } from "@tessera/kmip-client";
import { type PykmipServer, startPykmipServer } from "@tessera/pykmip-testing";
import {
  checkClientCertificate,
  createProviderClient,
  decodeWrapped,
  encodeWrapped,
  KeyServersUnreachableError,
  makeClientCsr,
  probeProvider,
  type ProviderKey,
  ProviderKeyError,
  rewrap,
  unwrap,
  wrap,
  wrapAad,
  type WrapMode,
  WrappedKeyError,
} from "./mod.ts";
import { gcmRefusingServer } from "./_test_servers.ts";
import { freePort } from "@tessera/process-testing";

let py: PykmipServer;
let tls: { cert: string; key: string; ca: string };
let client: KmipClient;

test.before(async () => {
  py = await startPykmipServer({ loggingLevel: "ERROR" });
  tls = { cert: py.pki.clients.alice.certPem, key: py.pki.clients.alice.keyPem, ca: py.pki.ca.certPem };
  client = createProviderClient({ servers: [{ host: "127.0.0.1", port: py.port }], tls });
});

test.after.always(async () => {
  client?.close();
  await py?.stop();
});

/** An Active AES-256 key on the PyKMIP server, with `usage` (default: what both modes need). */
async function newKey(usage = "Encrypt Decrypt MACGenerate", activate = true): Promise<string> {
  const id = await client.create({ algorithm: "AES", length: 256, usage, name: `kp-test-${randomBytes(4).toString("hex")}` });
  if (activate) await client.activate(id);
  return id;
}


function versionsOf(...keys: ProviderKey[]): (kv: number) => ProviderKey | undefined {
  return (kv) => keys.find((k) => k.version === kv);
}

/** The wrapped form with one field's bytes changed (one bit flipped), or re-encoded with other fields. */
function flip(wrapped: string, field: "iv" | "ct" | "tag"): string {
  const w = decodeWrapped(wrapped);
  const b = Uint8Array.from(w[field]);
  b[b.length - 1] ^= 0x01;
  return encodeWrapped({ ...w, [field]: b });
}

async function refusedWith(t: { is: (a: unknown, b: unknown, m?: string) => void }, p: Promise<unknown>, code: string, what: string): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x as Error,
  );
  t.is((e as { code?: string } | undefined)?.code, code, `${what}: ${e?.message ?? "was accepted"}`);
  return e ?? new Error("accepted");
}

test.serial("probe: auto chooses A256GCM on PyKMIP; CBC-HMAC-SHA256 when asked; both report the key Active", async (t) => {
  const id = await newKey();
  t.deepEqual(await probeProvider(client, id, "auto"), { mode: "A256GCM", keyState: "Active" });
  t.deepEqual(await probeProvider(client, id, "A256GCM"), { mode: "A256GCM", keyState: "Active" });
  t.deepEqual(await probeProvider(client, id, "CBC-HMAC-SHA256"), { mode: "CBC-HMAC-SHA256", keyState: "Active" });
});

test.serial("probe: an unknown key is KEY_NOT_FOUND, a Pre-Active one KEY_NOT_ACTIVE, another client's KEY_NOT_FOUND", async (t) => {
  const e1 = await refusedWith(t, probeProvider(client, "999999"), "KEY_NOT_FOUND", "unknown key");
  t.true(e1 instanceof ProviderKeyError);
  t.regex(e1.message, /999999/);
  const pre = await newKey(undefined, false);
  const e2 = await refusedWith(t, probeProvider(client, pre), "KEY_NOT_ACTIVE", "pre-active key");
  t.regex(e2.message, /PreActive, not Active/);
  const bob = createProviderClient({
    servers: [{ host: "127.0.0.1", port: py.port }],
    tls: { cert: py.pki.clients.bob.certPem, key: py.pki.clients.bob.keyPem, ca: py.pki.ca.certPem },
  });
  try {
    await refusedWith(t, probeProvider(bob, await newKey()), "KEY_NOT_FOUND", "alice's key seen by bob");
  } finally {
    bob.close();
  }
});

test.serial("probe: CBC-HMAC-SHA256 on a key without MAC Generate is MODE_UNSUPPORTED saying so; auto still finds GCM", async (t) => {
  const id = await newKey("Encrypt Decrypt");
  const e = await refusedWith(t, probeProvider(client, id, "CBC-HMAC-SHA256"), "MODE_UNSUPPORTED", "no MAC Generate");
  t.regex(e.message, /lacks MAC Generate/);
  t.is((await probeProvider(client, id, "auto")).mode, "A256GCM");
  // Without Encrypt no mode works: the answer names each mode tried.
  const decryptOnly = await newKey("Decrypt");
  const e2 = await refusedWith(t, probeProvider(client, decryptOnly, "auto"), "MODE_UNSUPPORTED", "decrypt-only key");
  t.regex(e2.message, /A256GCM: .*lacks Encrypt.*CBC-HMAC-SHA256: .*lacks Encrypt/);
});

const roundTrip = test.macro(async (t, mode: WrapMode) => {
  const keyId = await newKey();
  const v1: ProviderKey = { provider: "kms-1", version: 1, keyId, mode };
  const plaintext = new Uint8Array(randomBytes(32));
  const wrapped = await wrap(client, v1, plaintext);
  t.regex(wrapped, /^[A-Za-z0-9+/]+={0,2}$/);
  const json = JSON.parse(Buffer.from(wrapped, "base64").toString("utf8")) as Record<string, unknown>;
  t.deepEqual(Object.keys(json), ["v", "provider", "kv", "mode", "iv", "ct", "tag"]);
  t.like(json, { v: 1, provider: "kms-1", kv: 1, mode });
  t.deepEqual(await unwrap(client, versionsOf(v1), wrapped), plaintext);
  t.not(await wrap(client, v1, plaintext), wrapped, "a fresh IV each time");

  // The same result with Node's AES and HMAC and the key's bytes: the form and AAD are as specified.
  const material = (await client.get(keyId)).material!;
  const w = decodeWrapped(wrapped);
  const aad = wrapAad("kms-1", 1);
  t.is(Buffer.from(aad).toString("latin1"), "tessera-kmx/v1\u0000kms-1\u00001");
  if (mode === "A256GCM") {
    const d = createDecipheriv("aes-256-gcm", material, w.iv).setAAD(aad).setAuthTag(w.tag);
    t.deepEqual(new Uint8Array(Buffer.concat([d.update(w.ct), d.final()])), plaintext);
  } else {
    const mac = createHmac("sha256", material).update(aad).update(w.iv).update(w.ct).digest();
    t.deepEqual(new Uint8Array(mac), w.tag);
    const d = createDecipheriv("aes-256-cbc", material, w.iv);
    t.deepEqual(new Uint8Array(Buffer.concat([d.update(w.ct), d.final()])), plaintext);
  }

  // Rotation: rewrap moves it to version 2 (another key); version 1 still unwraps.
  const v2: ProviderKey = { provider: "kms-1", version: 2, keyId: await newKey(), mode };
  const moved = await rewrap(client, versionsOf(v1, v2), v2, wrapped);
  t.like(decodeWrapped(moved), { provider: "kms-1", kv: 2, mode });
  t.deepEqual(await unwrap(client, versionsOf(v1, v2), moved), plaintext);
  t.deepEqual(await unwrap(client, versionsOf(v1, v2), wrapped), plaintext);
  await refusedWith(t, unwrap(client, versionsOf(v1), moved), "KEY_VERSION_UNKNOWN", "version 2 unknown");
});
test.serial("A256GCM: wrap/unwrap/rewrap on PyKMIP, matching Node's AES-GCM with the AAD", roundTrip, "A256GCM");
test.serial("CBC-HMAC-SHA256: wrap/unwrap/rewrap on PyKMIP, matching Node's AES-CBC + HMAC over AAD‖iv‖ct", roundTrip, "CBC-HMAC-SHA256");

const tampering = test.macro(async (t, mode: WrapMode) => {
  const keyId = await newKey();
  const v1: ProviderKey = { provider: "kms-1", version: 1, keyId, mode };
  const wrapped = await wrap(client, v1, new Uint8Array(randomBytes(32)));
  for (const field of ["ct", "tag", "iv"] as const) {
    await refusedWith(t, unwrap(client, versionsOf(v1), flip(wrapped, field)), "UNWRAP_FAILED", `${field} flipped`);
  }
  const w = decodeWrapped(wrapped);
  // Wrong AAD: the form names version 2 or another provider that are the same key on the server.
  const sameKeyV2: ProviderKey = { ...v1, version: 2 };
  await refusedWith(t, unwrap(client, versionsOf(v1, sameKeyV2), encodeWrapped({ ...w, kv: 2 })), "UNWRAP_FAILED", "kv changed");
  const other: ProviderKey = { ...v1, provider: "kms-2" };
  await refusedWith(t, unwrap(client, versionsOf(other), encodeWrapped({ ...w, provider: "kms-2" })), "UNWRAP_FAILED", "provider changed");
  // Another provider's wrapped key given to this one (same version number): refused before any KMIP call.
  const e = await refusedWith(t, unwrap(client, versionsOf(other), wrapped), "UNWRAP_FAILED", "another provider's key");
  t.regex(e.message, /belongs to provider "kms-1", not "kms-2"/);
  await refusedWith(t, unwrap(client, versionsOf(v1), encodeWrapped({ ...w, kv: 3 })), "KEY_VERSION_UNKNOWN", "unknown version");
  // The mode switched in the form: the other construction fails to authenticate.
  const otherMode =
    mode === "A256GCM"
      ? { mode: "CBC-HMAC-SHA256" as const, iv: new Uint8Array(16), tag: new Uint8Array(32), ct: new Uint8Array(48) }
      : { mode: "A256GCM" as const, iv: w.iv.slice(0, 12), tag: w.tag.slice(0, 16) };
  await refusedWith(t, unwrap(client, versionsOf(v1), encodeWrapped({ ...w, ...otherMode })), "UNWRAP_FAILED", "mode switched");
  const bad = await unwrap(client, versionsOf(v1), `${wrapped.slice(0, -4)}!!!!`).catch((x: unknown) => x);
  t.true(bad instanceof WrappedKeyError);
});
test.serial("A256GCM: tampered ct/tag/iv, wrong AAD, wrong provider, unknown version and mode are refused", tampering, "A256GCM");
test.serial("CBC-HMAC-SHA256: tampered ct/tag/iv, wrong AAD, wrong provider, unknown version and mode are refused", tampering, "CBC-HMAC-SHA256");

test.serial("failover: the first key server a closed port, the second PyKMIP — wrap, unwrap and probe work", async (t) => {
  const keyId = await newKey();
  const failover = createProviderClient({
    servers: [
      { host: "127.0.0.1", port: await freePort() },
      { host: "127.0.0.1", port: py.port },
    ],
    tls,
  });
  try {
    const key: ProviderKey = { provider: "kms-1", version: 1, keyId, mode: (await probeProvider(failover, keyId)).mode };
    const plaintext = new Uint8Array(randomBytes(16));
    t.deepEqual(await unwrap(failover, versionsOf(key), await wrap(failover, key, plaintext)), plaintext);
  } finally {
    failover.close();
  }
});

test.serial("every key server down: KeyServersUnreachableError naming each server tried, from wrap, unwrap and probe", async (t) => {
  const ports = [await freePort(), await freePort()];
  const down = createProviderClient({ servers: ports.map((port) => ({ host: "127.0.0.1", port })), tls });
  try {
    const key: ProviderKey = { provider: "kms-1", version: 1, keyId: "1", mode: "A256GCM" };
    const wrapped = encodeWrapped({ v: 1, provider: "kms-1", kv: 1, mode: "A256GCM", iv: new Uint8Array(12), ct: new Uint8Array(32), tag: new Uint8Array(16) });
    for (const [what, p] of [
      ["wrap", wrap(down, key, new Uint8Array(32))],
      ["unwrap", unwrap(down, versionsOf(key), wrapped)],
      ["probe", probeProvider(down, "1")],
    ] as const) {
      const e = await refusedWith(t, p, "KEY_SERVERS_UNREACHABLE", what);
      t.true(e instanceof KeyServersUnreachableError);
      const servers = (e as KeyServersUnreachableError).servers;
      t.is(servers.length, 2, what);
      ports.forEach((port, i) => t.regex(servers[i], new RegExp(`^127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`), what));
      for (const port of ports) t.regex(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    }
  } finally {
    down.close();
  }
});

test.serial("an Encrypt whose answer is lost is KmipOutcomeUnknownError, not retried on the next server", async (t) => {
  // A TLS server with PyKMIP's certificate that reads the request and hangs up.
  let requests = 0;
  const dropper = createTlsServer({ cert: py.pki.server.certPem, key: py.pki.server.keyPem, ca: py.pki.ca.certPem, requestCert: true }, (s) => {
    s.on("error", () => {});
    s.on("data", () => {
      requests++;
      s.destroy();
    });
  });
  dropper.listen(0, "127.0.0.1");
  await once(dropper, "listening");
  const c = createProviderClient({
    servers: [
      { host: "127.0.0.1", port: (dropper.address() as { port: number }).port },
      { host: "127.0.0.1", port: py.port },
    ],
    tls,
  });
  try {
    const e = await wrap(c, { provider: "kms-1", version: 1, keyId: await newKey(), mode: "A256GCM" }, new Uint8Array(32)).catch((x: unknown) => x);
    t.true(e instanceof KmipOutcomeUnknownError, String(e));
    t.is(requests, 1);
  } finally {
    c.close();
    await new Promise<void>((r) => dropper.close(() => r()));
  }
});

test.serial("wrap refuses a provider name the form cannot carry before any KMIP request", async (t) => {
  const down = createProviderClient({ servers: [{ host: "127.0.0.1", port: await freePort() }], tls });
  try {
    const e = await wrap(down, { provider: "bad\u0000name", version: 1, keyId: "1", mode: "A256GCM" }, new Uint8Array(8)).catch((x: unknown) => x);
    t.true(e instanceof WrappedKeyError);
    t.is((e as WrappedKeyError).field, "provider");
  } finally {
    down.close();
  }
});

test.serial("trust set-up: our CSR, signed by PyKMIP's CA, passes the check and authenticates to PyKMIP", async (t) => {
  const { csrPem, privateKeyPem } = await makeClientCsr("kp-test");
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  t.is(csr.subject, "CN=tessera-kmxd-kp-test");
  t.true(await csr.verify());
  const issued = await issueCertificate(
    { certificatePem: py.pki.ca.certPem, privateKeyPem: py.pki.ca.keyPem },
    { commonName: "tessera-kmxd-kp-test", profile: "client", publicKeyPem: csr.publicKey.toString("pem") },
  );
  t.like(checkClientCertificate(issued.certificatePem, privateKeyPem), { subject: "CN=tessera-kmxd-kp-test" });
  const own = createProviderClient({
    servers: [{ host: "127.0.0.1", port: py.port }],
    tls: { cert: issued.certificatePem, key: privateKeyPem, ca: py.pki.ca.certPem },
  });
  try {
    const keyId = await own.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt MACGenerate" });
    await own.activate(keyId);
    const key: ProviderKey = { provider: "kp-test", version: 1, keyId, mode: (await probeProvider(own, keyId)).mode };
    const plaintext = new Uint8Array(randomBytes(32));
    t.deepEqual(await unwrap(own, versionsOf(key), await wrap(own, key, plaintext)), plaintext);
  } finally {
    own.close();
  }
});

test.serial("a key server without GCM: auto falls back to CBC-HMAC-SHA256, A256GCM is MODE_UNSUPPORTED with its answer", async (t) => {
  const front = await gcmRefusingServer(
    { cert: py.pki.server.certPem, key: py.pki.server.keyPem, ca: py.pki.ca.certPem },
    { host: "127.0.0.1", port: py.port },
    tls,
  );
  const noGcm = createProviderClient({ servers: [{ host: "127.0.0.1", port: front.port }], tls });
  try {
    const keyId = await newKey();
    t.deepEqual(await probeProvider(noGcm, keyId, "auto"), { mode: "CBC-HMAC-SHA256", keyState: "Active" });
    t.is(front.refused, 1);
    const e = await refusedWith(t, probeProvider(noGcm, keyId, "A256GCM"), "MODE_UNSUPPORTED", "GCM asked of a server without it");
    t.regex(e.message, /A256GCM: .*InvalidField: this server has no AES-GCM/);
    const key: ProviderKey = { provider: "kms-1", version: 1, keyId, mode: "CBC-HMAC-SHA256" };
    const plaintext = new Uint8Array(randomBytes(32));
    const wrapped = await wrap(noGcm, key, plaintext);
    t.deepEqual(await unwrap(noGcm, versionsOf(key), wrapped), plaintext);
    // What the full server wrapped with GCM cannot be opened here; the CBC form opens on the full server.
    t.deepEqual(await unwrap(client, versionsOf(key), wrapped), plaintext);
    const gcmWrapped = await wrap(client, { ...key, mode: "A256GCM" }, plaintext);
    await refusedWith(t, unwrap(noGcm, versionsOf(key), gcmWrapped), "UNWRAP_FAILED", "GCM form on a server without GCM");
  } finally {
    noGcm.close();
    await front.stop();
  }
});
