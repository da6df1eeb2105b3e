// decryptJweWith: JWEs made by jose (encryptToJwk, CompactEncrypt) open through a callback that holds the
// private key in node:crypto (as a TPM would hold it); other algorithms are refused naming the header field;
// tampered, truncated and random inputs are TokenErrors and nothing else.
import test from "ava";
import fc from "fast-check";
import { constants, generateKeyPairSync, type KeyObject, privateDecrypt } from "node:crypto";
import { base64url, CompactEncrypt, type CompactJWEHeaderParameters, exportJWK, type JWK } from "jose";
import { decryptJweWith, type JweKeyUnwrapper } from "./decrypt_jwe_with.ts";
import { TokenError } from "./errors.ts";
import { encryptToJwk, MAX_JWE_LENGTH } from "./jwe.ts";

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
let pub: JWK;
test.before(async () => {
  pub = { ...(await exportJWK(publicKey)), kid: "binding" };
});

/** What the TPM does: RSA-OAEP with SHA-256 and an empty label. */
const unwrapWith =
  (key: KeyObject): JweKeyUnwrapper =>
  async (encryptedKey) =>
    new Uint8Array(privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, encryptedKey));
const unwrap = unwrapWith(privateKey);

/** The TokenError of a refused JWE (fails the test for anything else). */
async function refusal(p: Promise<unknown>): Promise<TokenError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!(e instanceof TokenError)) throw new Error(`expected a TokenError, got ${e === undefined ? "success" : String(e)}`, { cause: e });
  if (e.code !== "JWE_INVALID") throw new Error(`expected JWE_INVALID, got ${e.code}`);
  return e;
}

const header = (h: Record<string, unknown>): string => base64url.encode(JSON.stringify(h));

test("jose-made JWEs round-trip: plaintexts of any length, the header given to the callback", async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (plaintext) => {
      const jwe = await encryptToJwk(plaintext, pub);
      let seen: CompactJWEHeaderParameters | undefined;
      const opened = await decryptJweWith(jwe, async (k, h) => {
        seen = h;
        return unwrap(k, h);
      });
      t.deepEqual(opened, plaintext);
      t.deepEqual(seen, { alg: "RSA-OAEP-256", enc: "A256GCM", kid: "binding" });
    }),
    { numRuns: 40 },
  );
  // CompactEncrypt directly, with more header parameters: the header as sent is the additional data.
  const jwe = await new CompactEncrypt(new TextEncoder().encode("data key"))
    .setProtectedHeader({ enc: "A256GCM", alg: "RSA-OAEP-256", cty: "octet-stream", kid: "x" })
    .encrypt(publicKey);
  t.is(new TextDecoder().decode(await decryptJweWith(jwe, unwrap)), "data key");
});

test("only RSA-OAEP-256 with A256GCM, no zip or crit: the refusal names the header field, the callback is not called", async (t) => {
  const made = async (alg: string, enc: string): Promise<string> => {
    const key = alg === "dir" || alg === "A256KW" ? new Uint8Array(32) : publicKey;
    return new CompactEncrypt(new Uint8Array([1, 2, 3])).setProtectedHeader({ alg, enc }).encrypt(key);
  };
  let called = 0;
  const counting: JweKeyUnwrapper = async (k, h) => {
    called++;
    return unwrap(k, h);
  };
  for (const [alg, enc, field] of [
    ["RSA-OAEP", "A256GCM", /header alg "RSA-OAEP"/],
    ["A256KW", "A256GCM", /header alg "A256KW"/],
    ["RSA-OAEP-256", "A128GCM", /header enc "A128GCM"/],
    ["RSA-OAEP-256", "A256CBC-HS512", /header enc "A256CBC-HS512"/],
    ["dir", "A256GCM", /header alg "dir"/],
  ] as const) {
    const e = await refusal(decryptJweWith(await made(alg, enc), counting));
    t.regex(e.message, field);
  }
  const good = (await encryptToJwk(new Uint8Array([1]), pub)).split(".");
  const withHeader = (h: Record<string, unknown>): string => [header(h), ...good.slice(1)].join(".");
  t.regex((await refusal(decryptJweWith(withHeader({ alg: "RSA-OAEP-256", enc: "A256GCM", zip: "DEF" }), counting))).message, /header zip/);
  t.regex((await refusal(decryptJweWith(withHeader({ alg: "RSA-OAEP-256", enc: "A256GCM", crit: ["exp"], exp: 1 }), counting))).message, /header crit/);
  t.regex((await refusal(decryptJweWith(withHeader({ enc: "A256GCM" }), counting))).message, /header alg undefined/);
  t.regex((await refusal(decryptJweWith(withHeader({ alg: "RSA-OAEP-256" }), counting))).message, /header enc undefined/);
  t.is(called, 0);
});

test("a changed byte in any part, a wrong private key, a wrong content key size, or a failing callback is JWE_INVALID", async (t) => {
  const jwe = await encryptToJwk(new TextEncoder().encode("a secret"), pub);
  const parts = jwe.split(".");
  for (let i = 0; i < 5; i++) {
    const b = base64url.decode(parts[i]!);
    b[b.length - 1]! ^= 0x01;
    const changed = parts.map((p, j) => (j === i ? base64url.encode(b) : p)).join(".");
    await refusal(decryptJweWith(changed, unwrap));
  }
  // A header changed but still valid: AES-GCM's additional data no longer matches.
  const reordered = [header({ enc: "A256GCM", alg: "RSA-OAEP-256", kid: "binding" }), ...parts.slice(1)].join(".");
  t.regex((await refusal(decryptJweWith(reordered, unwrap))).message, /does not authenticate/);

  const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const wrongKey = await refusal(decryptJweWith(jwe, unwrapWith(other)));
  t.regex(wrongKey.message, /cannot be unwrapped/);
  t.true(wrongKey.cause instanceof Error, "the callback's error is the cause");
  const tpmError = new Error("TPM2_RSA_Decrypt: TPM_RC_VALUE");
  const fromTpm = await refusal(decryptJweWith(jwe, () => Promise.reject(tpmError)));
  t.is(fromTpm.cause, tpmError);
  t.regex((await refusal(decryptJweWith(jwe, async () => new Uint8Array(16)))).message, /content key is 16 bytes, not 32/);
  t.regex((await refusal(decryptJweWith(jwe, async () => "key" as unknown as Uint8Array))).message, /content key is not bytes/);
  t.regex((await refusal(decryptJweWith(jwe, async () => new Uint8Array(32)))).message, /does not authenticate/);
});

test("format: part count, base64url, IV and tag sizes, length limit", async (t) => {
  const parts = (await encryptToJwk(new Uint8Array([7]), pub)).split(".");
  const w = (i: number, v: string): string => parts.map((p, j) => (j === i ? v : p)).join(".");
  t.regex((await refusal(decryptJweWith(parts.slice(0, 4).join("."), unwrap))).message, /4 parts/);
  t.regex((await refusal(decryptJweWith([...parts, ""].join("."), unwrap))).message, /6 parts/);
  t.regex((await refusal(decryptJweWith(w(2, parts[2]! + "="), unwrap))).message, /initialization vector \(part 3\) is not base64url/);
  t.regex((await refusal(decryptJweWith(w(1, ""), unwrap))).message, /encrypted key is empty/);
  // The IV's 16 base64url characters carry exactly 96 bits; a tag's 22 carry 128 + 4 unused bits, which must be 0.
  const tag = parts[4]!;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const sameBytes = tag.slice(0, -1) + alphabet[alphabet.indexOf(tag.at(-1)!) ^ 1];
  t.deepEqual(base64url.decode(sameBytes), base64url.decode(tag), "a non-canonical spelling of the same tag");
  t.regex((await refusal(decryptJweWith(w(4, sameBytes), unwrap))).message, /authentication tag \(part 5\) is not canonical/);
  t.regex((await refusal(decryptJweWith(w(2, base64url.encode(new Uint8Array(16))), unwrap))).message, /initialization vector is 16 bytes/);
  t.regex((await refusal(decryptJweWith(w(4, base64url.encode(new Uint8Array(12))), unwrap))).message, /authentication tag is 12 bytes/);
  t.regex((await refusal(decryptJweWith(w(0, "e30"), unwrap))).message, /header alg undefined/);
  t.regex((await refusal(decryptJweWith(w(0, base64url.encode("[1]")), unwrap))).message, /not a JSON object/);
  t.regex((await refusal(decryptJweWith(w(0, base64url.encode(new Uint8Array([0xff, 0xfe]))), unwrap))).message, /not UTF-8 JSON/);
  t.regex((await refusal(decryptJweWith(w(3, "A".repeat(MAX_JWE_LENGTH)), unwrap))).message, /at most 1 MiB/);
  t.regex((await refusal(decryptJweWith(42 as unknown as string, unwrap))).message, /not a string/);
});

test("random and mutated inputs give TokenError JWE_INVALID, never another error", async (t) => {
  const good = await encryptToJwk(new TextEncoder().encode("secret"), pub);
  const b64 = fc.uint8Array({ maxLength: 300 }).map((b) => base64url.encode(b));
  const headerish = fc
    .record({ alg: fc.constantFrom("RSA-OAEP-256", "RSA-OAEP", 1, null), enc: fc.constantFrom("A256GCM", "A128GCM", []), kid: fc.string() }, { requiredKeys: [] })
    .map((h) => header(h));
  const parts = fc.tuple(fc.oneof(headerish, b64, fc.string()), b64, b64, b64, b64).map((p) => p.join("."));
  const mutated = fc.tuple(fc.nat({ max: good.length - 1 }), fc.constantFrom(..."AZaz09-_.=+/ é")).map(([i, c]) => good.slice(0, i) + c + good.slice(i + 1));
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: "binary" }), parts, mutated), async (input) => {
      if (input === good) return;
      await refusal(decryptJweWith(input, unwrap));
    }),
    { numRuns: 500 },
  );
  t.pass();
});
