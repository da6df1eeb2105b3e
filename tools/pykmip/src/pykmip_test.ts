/**
 * Tests of the PyKMIP helpers against Debian's PyKMIP 0.10 server. They do not skip: a missing
 * PyKMIP makes them fail (ensurePykmip throws).
 */
import test from "ava";
import { createCipheriv, createHmac, createPublicKey, randomBytes, verify as cryptoVerify, constants } from "node:crypto";
import { existsSync } from "node:fs";
import net from "node:net";
import { ensurePykmip, runPykmipClient, startPykmipServer, unwrapResult, type KmipVersion, type PykmipOpResult, type PykmipServer } from "./mod.ts";

let server: PykmipServer | undefined;

function srv(): PykmipServer {
  if (server === undefined) throw new Error("PyKMIP server not started (see the before hook failure)");
  return server;
}

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString("hex")}`;
}

function failure(r: PykmipOpResult<unknown>): { type: string; reason?: string; message: string } {
  if (r.ok) throw new Error(`expected a failure, got ${JSON.stringify(r.value)}`);
  return r.error;
}

test.before(async () => {
  ensurePykmip();
  server = await startPykmipServer();
});

test.after.always(async () => {
  await server?.stop();
});

test("ensurePykmip finds PyKMIP 0.10 under /usr/bin/python3", (t) => {
  const inst = ensurePykmip();
  t.regex(inst.version, /^0\.10\./);
  t.is(inst.python, "/usr/bin/python3");
});

test("server layout: config, db, log and policies live in the temp dir", (t) => {
  const s = srv();
  t.is(s.host, "127.0.0.1");
  t.true(s.port > 0);
  for (const p of [s.configPath, s.logPath, s.policyPath, s.databasePath]) t.true(p.startsWith(`${s.dir}/`), p);
  t.true(existsSync(s.databasePath));
  t.regex(s.logs(), /Server successfully bound socket handler/);
});

const lifecycle = test.macro(async (t, kmipVersion: KmipVersion) => {
  const s = srv();
  const name = unique(`life-${kmipVersion}`);
  const iv = "00112233445566778899aabbccddeeff";
  const plain = Buffer.from("interop plaintext, more than one block long").toString("hex");
  const r = await runPykmipClient(
    s,
    s.pki,
    [
      { op: "create", algorithm: "AES", length: 256, name, usageMask: ["ENCRYPT", "DECRYPT"], as: "k" },
      { op: "activate", uid: "$k" },
      { op: "get", uid: "$k" },
      { op: "get_attributes", uid: "$k" },
      { op: "locate", name },
      { op: "encrypt", uid: "$k", algorithm: "AES", mode: "CBC", padding: "PKCS5", ivHex: iv, dataHex: plain, as: "enc" },
      { op: "decrypt", uid: "$k", algorithm: "AES", mode: "CBC", padding: "PKCS5", ivHex: iv, dataHex: "$enc.dataHex" },
      { op: "revoke", uid: "$k", reason: "CESSATION_OF_OPERATION", message: "test done" },
      { op: "get_attributes", uid: "$k", names: ["State"] },
      { op: "destroy", uid: "$k" },
      { op: "get", uid: "$k" },
    ],
    { kmipVersion },
  );
  const uid = unwrapResult(r[0], "create");
  t.regex(uid, /^\d+$/);
  t.is(unwrapResult(r[1], "activate"), null);

  const key = unwrapResult(r[2], "get");
  t.is(key.objectType, "SYMMETRIC_KEY");
  t.is(key.algorithm, "AES");
  t.is(key.length, 256);
  t.is(Buffer.from(key.valueHex, "hex").length, 32);

  const attrs = unwrapResult(r[3], "get_attributes");
  t.deepEqual(attrs["Name"], { value: name, type: "UNINTERPRETED_TEXT_STRING" });
  t.is(attrs["Cryptographic Algorithm"], "AES");
  t.is(attrs["Cryptographic Length"], 256);
  t.is(attrs["State"], "ACTIVE");
  t.is(attrs["Object Type"], "SYMMETRIC_KEY");
  t.is(Number(attrs["Cryptographic Usage Mask"]) & 0x0c, 0x0c); // Encrypt | Decrypt

  t.deepEqual(unwrapResult(r[4], "locate"), [uid]);

  // The server's AES-256-CBC/PKCS5 matches Node's with the key bytes we got back.
  const enc = unwrapResult(r[5], "encrypt");
  const cipher = createCipheriv("aes-256-cbc", Buffer.from(key.valueHex, "hex"), Buffer.from(iv, "hex"));
  const expected = Buffer.concat([cipher.update(Buffer.from(plain, "hex")), cipher.final()]).toString("hex");
  t.is(enc.dataHex, expected);
  t.is(enc.ivHex, null); // we supplied the IV, so none is returned
  t.is(unwrapResult(r[6], "decrypt").dataHex, plain);

  t.is(unwrapResult(r[7], "revoke"), null);
  t.is(unwrapResult(r[8], "state after revoke")["State"], "DEACTIVATED");
  t.is(unwrapResult(r[9], "destroy"), null);
  const gone = failure(r[10]);
  t.is(gone.type, "KmipOperationFailure");
  t.is(gone.reason, "ITEM_NOT_FOUND");
});

test("lifecycle over KMIP 1.2 (PyKMIP's default)", lifecycle, "1.2");
test("lifecycle over KMIP 1.4", lifecycle, "1.4");
test("lifecycle over KMIP 2.0", lifecycle, "2.0");

test("AES-GCM with AAD round-trips over KMIP 1.4; a wrong AAD fails", async (t) => {
  const s = srv();
  const iv = "cafebabefacedbaddecaf888";
  const r = await runPykmipClient(
    s,
    s.pki,
    [
      { op: "create", algorithm: "AES", length: 128, as: "k" },
      { op: "activate", uid: "$k" },
      { op: "encrypt", uid: "$k", algorithm: "AES", mode: "GCM", tagLength: 16, ivHex: iv, aadHex: "a1a2", dataHex: "68656c6c6f", as: "e" },
      { op: "decrypt", uid: "$k", algorithm: "AES", mode: "GCM", ivHex: iv, aadHex: "a1a2", dataHex: "$e.dataHex", tagHex: "$e.tagHex" },
      { op: "decrypt", uid: "$k", algorithm: "AES", mode: "GCM", ivHex: iv, aadHex: "a1a3", dataHex: "$e.dataHex", tagHex: "$e.tagHex" },
      { op: "get", uid: "$k" },
    ],
    { kmipVersion: "1.4" },
  );
  const enc = unwrapResult(r[2], "encrypt");
  t.is(enc.tagHex?.length, 32);
  const key = Buffer.from(unwrapResult(r[5], "get").valueHex, "hex");
  const gcm = createCipheriv("aes-128-gcm", key, Buffer.from(iv, "hex"));
  gcm.setAAD(Buffer.from("a1a2", "hex"));
  const ct = Buffer.concat([gcm.update(Buffer.from("hello")), gcm.final()]);
  t.is(enc.dataHex, ct.toString("hex"));
  t.is(enc.tagHex, gcm.getAuthTag().toString("hex"));
  t.is(unwrapResult(r[3], "decrypt").dataHex, "68656c6c6f");
  // PyKMIP lets cryptography's InvalidTag escape: General Failure, not Cryptographic Failure.
  t.is(failure(r[4]).reason, "GENERAL_FAILURE");
});

test("RSA key pair: sign (PSS/SHA-256) verifies with Node and with signature_verify", async (t) => {
  const s = srv();
  const data = Buffer.from("sign me").toString("hex");
  const r = await runPykmipClient(s, s.pki, [
    { op: "create_key_pair", algorithm: "RSA", length: 2048, privateUsageMask: ["SIGN"], publicUsageMask: ["VERIFY"], as: "kp" },
    { op: "activate", uid: "$kp.privateUid" },
    { op: "activate", uid: "$kp.publicUid" },
    { op: "sign", uid: "$kp.privateUid", dataHex: data, as: "sig" },
    { op: "signature_verify", uid: "$kp.publicUid", dataHex: data, signatureHex: "$sig.signatureHex" },
    { op: "signature_verify", uid: "$kp.publicUid", dataHex: "00", signatureHex: "$sig.signatureHex" },
    { op: "get", uid: "$kp.publicUid" },
  ]);
  const pair = unwrapResult(r[0], "create_key_pair");
  t.not(pair.publicUid, pair.privateUid);
  const sig = Buffer.from(unwrapResult(r[3], "sign").signatureHex, "hex");
  t.is(sig.length, 256);
  t.deepEqual(unwrapResult(r[4], "verify"), { valid: true, indicator: "VALID" });
  t.deepEqual(unwrapResult(r[5], "verify other data"), { valid: false, indicator: "INVALID" });
  const pub = unwrapResult(r[6], "get public");
  t.is(pub.objectType, "PUBLIC_KEY");
  t.is(pub.keyFormatType, "PKCS_1");
  const key = createPublicKey({ key: Buffer.from(pub.valueHex, "hex"), format: "der", type: "pkcs1" });
  t.true(cryptoVerify("sha256", Buffer.from(data, "hex"), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig));
});

test("register HMAC key + MAC matches Node; register SecretData + get; locate paging; discovery", async (t) => {
  const s = srv();
  const macKey = randomBytes(32).toString("hex");
  const secretName = unique("secret");
  const pageName = unique("page");
  const r = await runPykmipClient(
    s,
    s.pki,
    [
      { op: "register", object: "SymmetricKey", algorithm: "HMAC_SHA256", keyHex: macKey, usageMask: ["MAC_GENERATE"], as: "h" },
      { op: "activate", uid: "$h" },
      { op: "mac", uid: "$h", algorithm: "HMAC_SHA256", dataHex: "616263" },
      { op: "register", object: "SecretData", dataHex: "7333637233742170", name: secretName, as: "sd" },
      { op: "get", uid: "$sd" },
      { op: "get_attribute_list", uid: "$sd" },
      { op: "create", length: 128, name: pageName },
      { op: "create", length: 128, name: pageName },
      { op: "create", length: 128, name: pageName },
      { op: "locate", name: pageName },
      { op: "locate", name: pageName, maximumItems: 2 },
      { op: "locate", name: pageName, offsetItems: 1 },
      { op: "discover_versions" },
      { op: "query" },
      { op: "create", algorithm: "HMAC_SHA256", length: 256 },
    ],
    { kmipVersion: "1.4" },
  );
  const mac = unwrapResult(r[2], "mac");
  t.is(mac.macHex, createHmac("sha256", Buffer.from(macKey, "hex")).update("abc").digest("hex"));
  t.deepEqual(unwrapResult(r[4], "get secret"), { objectType: "SECRET_DATA", valueHex: "7333637233742170", dataType: "PASSWORD" });
  t.true(unwrapResult(r[5], "attribute list").includes("Name"));
  const all = unwrapResult(r[9], "locate all");
  t.is(all.length, 3);
  t.is(unwrapResult(r[10], "locate max 2").length, 2);
  t.is(unwrapResult(r[11], "locate offset 1").length, 2);
  t.deepEqual(unwrapResult(r[12], "discover"), ["2.0", "1.4", "1.3", "1.2", "1.1", "1.0"]);
  const q = unwrapResult(r[13], "query");
  t.regex(q.vendorIdentification ?? "", /PyKMIP/);
  t.true(q.operations.includes("ENCRYPT"));
  // PyKMIP's server can only generate block-cipher keys; HMAC keys must be registered.
  t.is(failure(r[14]).reason, "INVALID_FIELD");
});

test("PyKMIP enforces object ownership: bob cannot use alice's key (answered as PERMISSION_DENIED)", async (t) => {
  const s = srv();
  const name = unique("owned");
  const [created] = await runPykmipClient(s, s.pki, [{ op: "create", length: 256, name }], { client: "alice" });
  const uid = unwrapResult(created, "alice create");
  const asBob = await runPykmipClient(
    s,
    s.pki,
    [
      { op: "get", uid },
      { op: "get_attributes", uid },
      { op: "locate", name },
      { op: "activate", uid },
      { op: "destroy", uid },
    ],
    { client: "bob" },
  );
  for (const i of [0, 1, 3, 4]) {
    const e = failure(asBob[i]);
    t.is(e.reason, "PERMISSION_DENIED", `op #${i}`);
    t.regex(e.message, /Could not locate object/);
  }
  t.deepEqual(unwrapResult(asBob[2], "bob locate"), []);
  const [still] = await runPykmipClient(s, s.pki, [{ op: "get", uid }], { client: "alice" });
  t.is(unwrapResult(still, "alice get").valueHex.length, 64);
});

test("policyFiles: a custom operation policy lets bob read (but not destroy) alice's key", async (t) => {
  const shared = await startPykmipServer({
    pki: srv().pki,
    policyFiles: { shared: { shared: { preset: { SYMMETRIC_KEY: { GET: "ALLOW_ALL", LOCATE: "ALLOW_ALL", DESTROY: "ALLOW_OWNER" } } } } },
  });
  try {
    const name = unique("shared");
    const [created] = await runPykmipClient(shared, shared.pki, [{ op: "create", length: 128, name, operationPolicyName: "shared" }]);
    const uid = unwrapResult(created, "alice create");
    const r = await runPykmipClient(
      shared,
      shared.pki,
      [
        { op: "get", uid },
        { op: "locate", name },
        { op: "destroy", uid },
      ],
      { client: "bob" },
    );
    t.is(unwrapResult(r[0], "bob get").length, 128);
    t.deepEqual(unwrapResult(r[1], "bob locate"), [uid]);
    t.is(failure(r[2]).reason, "PERMISSION_DENIED");
  } finally {
    await shared.stop();
  }
});

test("a failing op does not abort the rest; bad references and unknown ops are OpErrors", async (t) => {
  const s = srv();
  const r = await runPykmipClient(s, s.pki, [
    { op: "get", uid: "999999" },
    { op: "activate", uid: "$0" },
    { op: "create", algorithm: "NOT_AN_ALGORITHM", length: 128 },
    { op: "create", length: 128, as: "ok" },
    { op: "get", uid: "$ok" },
  ] as const);
  t.is(failure(r[0]).reason, "ITEM_NOT_FOUND");
  t.is(failure(r[1]).type, "OpError");
  t.regex(failure(r[2]).message, /unknown algorithm/);
  t.is(unwrapResult(r[4], "get after failures").length, 128);
});

test("client errors: nothing listening gives a transport error per op, not an exception", async (t) => {
  const s = srv();
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const addr = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (addr === null || typeof addr !== "object") throw new Error("no port");
  const r = await runPykmipClient({ host: "127.0.0.1", port: addr.port }, s.pki, [{ op: "query" }, { op: "query" }], { timeoutMs: 20_000 });
  t.is(r.length, 2);
  for (const x of r) t.is(failure(x).type, "ConnectionRefusedError");
});

test("startPykmipServer reports a bind failure with the server log", async (t) => {
  // Holds the port; drops the readiness probe's connections right away.
  const blocker = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const addr = blocker.address();
  if (addr === null || typeof addr !== "object") throw new Error("no port");
  try {
    const err = await t.throwsAsync(startPykmipServer({ port: addr.port, pki: srv().pki }));
    t.regex(err?.message ?? "", /could not bind/);
    t.regex(err?.message ?? "", /Server failed to bind socket handler/);
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }
});

test("RSA 2048 PKI works too (TLS 1.2 CBC suites)", async (t) => {
  const rsa = await startPykmipServer({ keyType: "rsa" });
  try {
    t.is(rsa.pki.keyType, "rsa");
    t.regex(rsa.pki.ca.keyPem, /BEGIN PRIVATE KEY/);
    const r = await runPykmipClient(
      rsa,
      rsa.pki,
      [
        { op: "create", length: 128, as: "k" },
        { op: "get", uid: "$k" },
      ],
      { client: "bob" },
    );
    t.is(unwrapResult(r[1], "get").length, 128);
    t.regex(rsa.logs(), /Session cipher selected: \('[A-Z0-9-]*AES(128|256)-SHA(256|384)', 'TLSv1\.2'/);
  } finally {
    await rsa.stop();
  }
  t.false(existsSync(rsa.dir));
});
