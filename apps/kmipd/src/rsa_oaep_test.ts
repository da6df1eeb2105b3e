import test from "ava";
import { readFileSync } from "node:fs";
import { constants, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt, publicEncrypt } from "node:crypto";
import { oaepDecrypt, oaepEncrypt } from "./rsa_oaep.ts";

const vector = JSON.parse(readFileSync(new URL("./testdata/oaep_mgf1_vector.json", import.meta.url), "utf8")) as {
  pkcs1PrivateKey: string;
  hash: string;
  mgfHash: string;
  label: string;
  ciphertext: string;
  plaintext: string;
};
const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });

test("OAEP with MGF1-SHA-256 under SHA-384 and a label decrypts the OASIS CS-AC-M-OAEP-10 ciphertext", (t) => {
  const key = createPrivateKey({ key: Buffer.from(vector.pkcs1PrivateKey, "hex"), format: "der", type: "pkcs1" });
  const out = oaepDecrypt(key, { hash: vector.hash, mgfHash: vector.mgfHash, label: hex(vector.label) }, hex(vector.ciphertext));
  t.is(Buffer.from(out).toString("hex"), vector.plaintext);
});

test("OAEP with distinct hashes: encrypt then decrypt round-trips; a wrong label, hash or ciphertext fails alike", (t) => {
  const p = { hash: "sha384", mgfHash: "sha256", label: new TextEncoder().encode("ctx") };
  const msg = new TextEncoder().encode("attack at dawn");
  const c = oaepEncrypt(publicKey, p, msg);
  t.is(c.length, 256);
  t.deepEqual(oaepDecrypt(privateKey, p, c), msg);
  t.throws(() => oaepDecrypt(privateKey, { ...p, label: undefined }, c), { message: "decryption error" });
  t.throws(() => oaepDecrypt(privateKey, { ...p, mgfHash: "sha1" }, c), { message: "decryption error" });
  const tampered = Uint8Array.from(c);
  tampered[10] ^= 1;
  t.throws(() => oaepDecrypt(privateKey, p, tampered), { message: "decryption error" });
  t.throws(() => oaepEncrypt(publicKey, p, new Uint8Array(256 - 2 * 48 - 1)), { message: /too long/ });
});

test("OAEP with one hash is OpenSSL's own: interoperates with node:crypto both ways, with a label", (t) => {
  const label = new TextEncoder().encode("L");
  const p = { hash: "sha256", mgfHash: "sha256", label };
  const msg = new TextEncoder().encode("hello");
  const ours = oaepEncrypt(createPublicKey(publicKey.export({ type: "spki", format: "pem" })), p, msg);
  t.deepEqual(new Uint8Array(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256", oaepLabel: label }, ours)), msg);
  const theirs = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256", oaepLabel: label }, msg);
  t.deepEqual(oaepDecrypt(privateKey, p, theirs), msg);
});
