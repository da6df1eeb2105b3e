import test from "ava";
import { base64url, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK } from "jose";
import { TokenError } from "./errors.ts";
import { decryptJwe, encryptToJwk } from "./jwe.ts";

let pub: JWK;
let priv: CryptoKey;
let privJwk: JWK;

test.before(async () => {
  const kp = await generateKeyPair("RSA-OAEP-256", { modulusLength: 2048, extractable: true });
  pub = { ...(await exportJWK(kp.publicKey)), alg: "RSA-OAEP-256", use: "enc", kid: "k1" };
  priv = kp.privateKey;
  privJwk = await exportJWK(kp.privateKey);
});

async function code(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (e === undefined) return "accepted";
  if (e instanceof TokenError) return e.code;
  throw e;
}

test("encryptToJwk → decryptJwe: RSA-OAEP-256 + A256GCM compact JWE with the recipient's kid", async (t) => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const jwe = await encryptToJwk(secret, pub);
  t.is(jwe.split(".").length, 5);
  t.deepEqual(decodeProtectedHeader(jwe), { alg: "RSA-OAEP-256", enc: "A256GCM", kid: "k1" });
  t.is(base64url.decode(jwe.split(".")[1]!).length, 256, "the encrypted key is one RSA-2048 block");
  t.is(base64url.decode(jwe.split(".")[2]!).length, 12, "96-bit IV");
  t.deepEqual(await decryptJwe(jwe, priv), secret);
  t.deepEqual(await decryptJwe(jwe, privJwk), secret);
  t.not(await encryptToJwk(secret, pub), jwe, "fresh content key and IV each time");
  t.deepEqual(await decryptJwe(await encryptToJwk(new Uint8Array(), pub), priv), new Uint8Array());
});

test("decryptJwe: a changed byte anywhere, another key, or another algorithm is JWE_INVALID", async (t) => {
  const jwe = await encryptToJwk(new TextEncoder().encode("data key"), pub);
  const parts = jwe.split(".");
  for (let i = 1; i < 5; i++) {
    const b = base64url.decode(parts[i]!);
    if (b.length === 0) continue;
    b[0]! ^= 0x80;
    const changed = parts.map((p, j) => (j === i ? base64url.encode(b) : p)).join(".");
    t.is(await code(decryptJwe(changed, priv)), "JWE_INVALID", `part ${i}`);
  }
  const other = await generateKeyPair("RSA-OAEP-256", { modulusLength: 2048 });
  t.is(await code(decryptJwe(jwe, other.privateKey)), "JWE_INVALID");
  const header = base64url.encode(JSON.stringify({ alg: "RSA-OAEP", enc: "A256GCM" }));
  t.is(await code(decryptJwe([header, ...parts.slice(1)].join("."), priv)), "JWE_INVALID");
  t.is(await code(decryptJwe("a.b.c", priv)), "JWE_INVALID");
});

test("encryptToJwk: refuses recipients that are not RSA ≥ 2048 public keys for RSA-OAEP-256", async (t) => {
  const small = await crypto.subtle.generateKey(
    { name: "RSA-OAEP", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["encrypt", "decrypt"],
  );
  t.is(await code(encryptToJwk(new Uint8Array(1), await exportJWK(small.publicKey))), "JWE_INVALID");
  t.is(await code(encryptToJwk(new Uint8Array(1), privJwk)), "JWE_INVALID");
  t.is(await code(encryptToJwk(new Uint8Array(1), { ...pub, alg: "RSA1_5" })), "JWE_INVALID");
  t.is(await code(encryptToJwk(new Uint8Array(1), { ...pub, use: "sig" })), "JWE_INVALID");
  t.is(await code(encryptToJwk(new Uint8Array(1), { kty: "EC", crv: "P-256", x: "a", y: "b" })), "JWE_INVALID");
});

test("encryptToJwk: kept recipient keys are per key, never across keys: A, B, A again each open only with their own", async (t) => {
  const other = await generateKeyPair("RSA-OAEP-256", { modulusLength: 2048, extractable: true });
  const otherPub: JWK = { ...(await exportJWK(other.publicKey)), kid: "k1" };
  for (const [to, own, wrong] of [
    [pub, priv, other.privateKey],
    [otherPub, other.privateKey, priv],
    [pub, priv, other.privateKey],
  ] as const) {
    const jwe = await encryptToJwk(new Uint8Array([9, 8, 7]), to);
    t.deepEqual(await decryptJwe(jwe, own), new Uint8Array([9, 8, 7]));
    t.is(await code(decryptJwe(jwe, wrong)), "JWE_INVALID");
  }
  // The kid is the JWK's of each call, not the kept key's.
  t.deepEqual(decodeProtectedHeader(await encryptToJwk(new Uint8Array(1), { ...pub, kid: "k2" })), { alg: "RSA-OAEP-256", enc: "A256GCM", kid: "k2" });
  t.deepEqual(decodeProtectedHeader(await encryptToJwk(new Uint8Array(1), { kty: "RSA", n: pub.n!, e: pub.e! })), { alg: "RSA-OAEP-256", enc: "A256GCM" });
});
