/**
 * Interop: Debian's PyKMIP client (python3-pykmip, run with /usr/bin/python3) against kmipd, over mutual TLS
 * with PyKMIP's own test PKI, in KMIP 1.2 (PyKMIP's default) and 1.4.
 */
import test from "ava";
import { createCipheriv, createDecipheriv, createHmac } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { makeTestPki, runPykmipClient, type TestPki, unwrapResult } from "@tessera/pykmip-testing";
import { KmipClient } from "@tessera/kmip-client";
import { loadConfig, startKmipd, type Kmipd } from "./app.ts";

let dir: string;
let pki: TestPki;
let kmipd: Kmipd;
let target: { host: string; port: number };

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmipd-pykmip-"));
  pki = await makeTestPki(path.join(dir, "pki"));
  kmipd = await startKmipd(
    loadConfig(
      [
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        path.join(dir, "data"),
        "--tls-cert",
        pki.server.certPath,
        "--tls-key",
        pki.server.keyPath,
        "--client-ca",
        pki.ca.certPath,
      ],
      {},
    ),
  );
  target = { host: "127.0.0.1", port: kmipd.server.port };
});

test.after.always(async () => {
  await kmipd?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

for (const kmipVersion of ["1.2", "1.4"] as const) {
  test.serial(`PyKMIP client (KMIP ${kmipVersion}): create, get, get_attributes, locate, activate, encrypt/decrypt, revoke, destroy`, async (t) => {
    const name = `pykmip-${kmipVersion}`;
    const r = await runPykmipClient(
      target,
      pki,
      [
        { op: "create", algorithm: "AES", length: 256, name, usageMask: ["ENCRYPT", "DECRYPT"], as: "k" },
        { op: "get", uid: "$k" },
        { op: "get_attributes", uid: "$k" },
        { op: "get_attribute_list", uid: "$k" },
        { op: "locate", name },
        { op: "activate", uid: "$k" },
        {
          op: "encrypt",
          uid: "$k",
          algorithm: "AES",
          mode: "CBC",
          padding: "PKCS5",
          dataHex: "00112233445566778899aabbccddeeff00",
          ivHex: "000102030405060708090a0b0c0d0e0f",
        },
        { op: "revoke", uid: "$k", reason: "CESSATION_OF_OPERATION" },
        { op: "destroy", uid: "$k" },
        { op: "get", uid: "$k" },
      ],
      { kmipVersion },
    );
    const id = unwrapResult(r[0], "create");
    const got = unwrapResult(r[1], "get");
    t.is(got.objectType, "SYMMETRIC_KEY");
    t.is(got.valueHex.length, 64);
    const attrs = unwrapResult(r[2], "get_attributes");
    t.is(attrs["Cryptographic Algorithm"], "AES");
    t.is(attrs["Cryptographic Length"], 256);
    t.true(unwrapResult(r[3], "get_attribute_list").includes("State"));
    t.deepEqual(unwrapResult(r[4], "locate"), [id]);
    unwrapResult(r[5], "activate");
    // The ciphertext is what AES-256-CBC gives with the key Get returned.
    const c = createCipheriv("aes-256-cbc", Buffer.from(got.valueHex, "hex"), Buffer.from("000102030405060708090a0b0c0d0e0f", "hex"));
    const expected = Buffer.concat([c.update(Buffer.from("00112233445566778899aabbccddeeff00", "hex")), c.final()]).toString("hex");
    t.is(unwrapResult(r[6], "encrypt").dataHex, expected);
    unwrapResult(r[7], "revoke");
    unwrapResult(r[8], "destroy");
    t.false(r[9].ok, "get after destroy fails");
  });
}

const CIPHERTEXT = (() => {
  const c = createCipheriv("aes-128-cbc", Buffer.from("0123456789abcdef0123456789abcdef", "hex"), Buffer.alloc(16));
  return Buffer.concat([c.update("attested hosts only"), c.final()]).toString("hex");
})();

test.serial("PyKMIP client: register (symmetric key, secret data), decrypt, MAC, and another client cannot see alice's key", async (t) => {
  const key = "0123456789abcdef0123456789abcdef";
  const r = await runPykmipClient(
    target,
    pki,
    [
      { op: "register", object: "SymmetricKey", algorithm: "AES", length: 128, keyHex: key, usageMask: ["ENCRYPT", "DECRYPT"], as: "aes" },
      { op: "activate", uid: "$aes" },
      { op: "decrypt", uid: "$aes", algorithm: "AES", mode: "CBC", padding: "PKCS5", dataHex: CIPHERTEXT, ivHex: "00000000000000000000000000000000" },
      {
        op: "register",
        object: "SymmetricKey",
        algorithm: "HMAC_SHA256",
        length: 256,
        keyHex: key + key,
        usageMask: ["MAC_GENERATE", "MAC_VERIFY"],
        as: "hmac",
      },
      { op: "activate", uid: "$hmac" },
      { op: "mac", uid: "$hmac", algorithm: "HMAC_SHA256", dataHex: "68656c6c6f" },
      { op: "register", object: "SecretData", dataHex: "736563726574", usageMask: ["VERIFY"], as: "sd" },
      { op: "get", uid: "$sd" },
    ],
    { kmipVersion: "1.2" },
  );
  const aes = unwrapResult(r[0], "register key");
  unwrapResult(r[1], "activate");
  t.is(unwrapResult(r[2], "decrypt").dataHex, Buffer.from("attested hosts only").toString("hex"));
  unwrapResult(r[4], "activate hmac");
  t.is(
    unwrapResult(r[5], "mac").macHex,
    createHmac("sha256", Buffer.from(key + key, "hex"))
      .update("hello")
      .digest("hex"),
  );
  t.is(unwrapResult(r[7], "get secret").valueHex, "736563726574");
  const bob = await runPykmipClient(target, pki, [{ op: "get", uid: aes }, { op: "locate" }], { client: "bob", kmipVersion: "1.2" });
  t.false(bob[0].ok, "bob cannot get alice's key");
  t.false((unwrapResult(bob[1], "locate") as string[]).includes(aes));
});

for (const kmipVersion of ["1.2", "1.4"] as const) {
  test.serial(
    `PyKMIP client (KMIP ${kmipVersion}) as bob uses a key alice shared with him (x-tessera-grant), cannot destroy it, and sees no grants`,
    async (t) => {
      const version = kmipVersion === "1.2" ? { major: 1, minor: 2 } : { major: 1, minor: 4 };
      const alice = new KmipClient({
        servers: [target],
        tls: { cert: pki.clients.alice.certPem, key: pki.clients.alice.keyPem, ca: pki.ca.certPem, servername: "localhost" },
        version,
      });
      try {
        const id = await alice.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt" });
        const before = await runPykmipClient(target, pki, [{ op: "get", uid: id }], { client: "bob", kmipVersion });
        t.false(before[0].ok, "bob cannot get it before it is shared");
        await alice.addCustomAttribute(id, "tessera-grant", "CN=bob");
        const r = await runPykmipClient(
          target,
          pki,
          [
            { op: "get", uid: id },
            { op: "get_attributes", uid: id },
            { op: "destroy", uid: id },
          ],
          { client: "bob", kmipVersion },
        );
        const got = unwrapResult(r[0]);
        t.is(got.length, 256);
        t.false(
          Object.keys(unwrapResult(r[1])).some((n) => /grant/.test(n)),
          "bob does not see with whom it is shared",
        );
        t.false(r[2].ok, "bob cannot destroy alice's key");
        t.regex(JSON.stringify(r[2]), /PERMISSION_DENIED|PermissionDenied/);
        // Alice, through PyKMIP too, sees the grant as the custom attribute it is.
        const mine = await runPykmipClient(target, pki, [{ op: "get_attributes", uid: id }], { client: "alice", kmipVersion });
        t.is((unwrapResult(mine[0]) as Record<string, unknown>)["x-tessera-grant"], "CN=bob");
      } finally {
        alice.close();
      }
    },
  );
}

test.serial("PyKMIP client: Get wrapped by a key-encryption key (NISTKeyWrap, No Encoding) gives bytes node unwraps to the key", async (t) => {
  const key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  const kek = "f0e0d0c0b0a090807060504030201000f0e0d0c0b0a090807060504030201000";
  const r = await runPykmipClient(
    target,
    pki,
    [
      { op: "register", object: "SymmetricKey", algorithm: "AES", length: 256, keyHex: kek, usageMask: ["WRAP_KEY", "UNWRAP_KEY"], as: "kek" },
      { op: "activate", uid: "$kek" },
      { op: "register", object: "SymmetricKey", algorithm: "AES", length: 256, keyHex: key, usageMask: ["ENCRYPT", "DECRYPT"], as: "k" },
      { op: "get", uid: "$k", wrapping: { uid: "$kek" } },
    ],
    { kmipVersion: "1.2" },
  );
  const wrapped = Buffer.from(unwrapResult(r[3], "get wrapped").valueHex, "hex");
  t.is(wrapped.length, 40, "RFC 3394 output of a 32-byte key");
  const d = createDecipheriv("id-aes256-wrap", Buffer.from(kek, "hex"), Buffer.from("a6a6a6a6a6a6a6a6", "hex"));
  t.is(Buffer.concat([d.update(wrapped), d.final()]).toString("hex"), key);
});
