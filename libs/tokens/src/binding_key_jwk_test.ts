import test from "ava";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, base64url } from "jose";
import fc from "fast-check";
import { marshal, TPM2B_PUBLIC, TPMT_PUBLIC, TPM_ALG, TPM_ECC_CURVE, TPMA_OBJECT as A, type TpmtPublic } from "@tessera/tpm2";
import { bindingKeyJwk } from "./binding_key_jwk.ts";
import { TokenError, type TokenErrorCode } from "./errors.ts";

let n2048: Uint8Array;

test.before(async () => {
  const { publicKey } = await generateKeyPair("RSA-OAEP-256", { modulusLength: 2048, extractable: true });
  n2048 = base64url.decode((await exportJWK(publicKey)).n!);
});

function rsaPublic(over: { n?: Uint8Array; keyBits?: number; exponent?: number; attrs?: number; scheme?: { scheme: number; details: unknown } } = {}): TpmtPublic {
  return {
    type: TPM_ALG.RSA,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: over.attrs ?? A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.decrypt,
    authPolicy: new Uint8Array(),
    parameters: {
      symmetric: { algorithm: TPM_ALG.NULL, keyBits: null, mode: null },
      scheme: (over.scheme ?? { scheme: TPM_ALG.NULL, details: null }) as never,
      keyBits: over.keyBits ?? 2048,
      exponent: over.exponent ?? 0,
    },
    unique: over.n ?? n2048,
  } as TpmtPublic;
}

async function refused(t: import("ava").ExecutionContext, p: Promise<unknown>, code: TokenErrorCode, rule: RegExp): Promise<void> {
  const e = await t.throwsAsync(p, { instanceOf: TokenError });
  t.is((e as TokenError).code, code);
  t.regex(e!.message, rule);
}

test("bindingKeyJwk: TPM2B_PUBLIC, TPMT_PUBLIC bytes and the decoded area give the same JWK; exponent 0 is 65537", async (t) => {
  const pub = rsaPublic();
  const jwk = await bindingKeyJwk(marshal(TPM2B_PUBLIC, pub));
  t.deepEqual(Object.keys(jwk).sort(), ["alg", "e", "kid", "kty", "n", "use"]);
  t.is(jwk.kty, "RSA");
  t.is(jwk.e, "AQAB");
  t.is(jwk.alg, "RSA-OAEP-256");
  t.is(jwk.use, "enc");
  t.deepEqual(base64url.decode(jwk.n!), n2048);
  t.is(jwk.kid, await calculateJwkThumbprint({ kty: "RSA", n: jwk.n!, e: "AQAB" }, "sha256"));
  t.deepEqual(await bindingKeyJwk(marshal(TPMT_PUBLIC, pub)), jwk);
  t.deepEqual(await bindingKeyJwk(pub), jwk);
  t.is((await bindingKeyJwk(rsaPublic({ exponent: 65537 }))).kid, jwk.kid, "explicit 65537 is the same key");
  t.is((await bindingKeyJwk(rsaPublic({ exponent: 3 }))).e, "Aw");
  t.is((await bindingKeyJwk(rsaPublic({ scheme: { scheme: TPM_ALG.OAEP, details: { hashAlg: TPM_ALG.SHA256 } } }))).kid, jwk.kid);
});

test("bindingKeyJwk: refuses what cannot be an RSA-2048 OAEP-256 decryption key, saying why", async (t) => {
  const ecc = {
    type: TPM_ALG.ECC,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.decrypt,
    authPolicy: new Uint8Array(),
    parameters: { symmetric: { algorithm: TPM_ALG.NULL, keyBits: null, mode: null }, scheme: { scheme: TPM_ALG.NULL, details: null }, curveID: TPM_ECC_CURVE.NIST_P256, kdf: { scheme: TPM_ALG.NULL, details: null } },
    unique: { x: new Uint8Array(32).fill(1), y: new Uint8Array(32).fill(2) },
  } as unknown as TpmtPublic;
  await refused(t, bindingKeyJwk(marshal(TPM2B_PUBLIC, ecc)), "BINDING_KEY_UNSUPPORTED", /not RSA/);
  await refused(t, bindingKeyJwk(rsaPublic({ keyBits: 3072, n: new Uint8Array(384).fill(0xff) })), "BINDING_KEY_UNSUPPORTED", /3072 bits, not 2048/);
  await refused(t, bindingKeyJwk(rsaPublic({ keyBits: 1024, n: n2048.subarray(0, 128) })), "BINDING_KEY_UNSUPPORTED", /1024 bits/);
  await refused(t, bindingKeyJwk(rsaPublic({ n: n2048.subarray(0, 128) })), "BINDING_KEY_UNSUPPORTED", /modulus of 128 bytes/);
  await refused(t, bindingKeyJwk(rsaPublic({ attrs: A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.sign })), "BINDING_KEY_UNSUPPORTED", /decrypt attribute is clear/);
  await refused(t, bindingKeyJwk(rsaPublic({ attrs: A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.decrypt | A.restricted })), "BINDING_KEY_UNSUPPORTED", /restricted/);
  await refused(t, bindingKeyJwk(rsaPublic({ scheme: { scheme: TPM_ALG.OAEP, details: { hashAlg: TPM_ALG.SHA1 } } })), "BINDING_KEY_UNSUPPORTED", /OAEP-SHA256/);
  await refused(t, bindingKeyJwk(rsaPublic({ scheme: { scheme: TPM_ALG.RSAES, details: {} } })), "BINDING_KEY_UNSUPPORTED", /neither null nor OAEP/);
  await refused(t, bindingKeyJwk(rsaPublic({ exponent: 4 })), "BINDING_KEY_UNSUPPORTED", /exponent 4/);
  await refused(t, bindingKeyJwk(new Uint8Array([0, 4, 0, 1, 0])), "BINDING_KEY_MALFORMED", /not a TPM2B_PUBLIC/);
});

test("bindingKeyJwk: any bytes give a JWK or a TokenError, nothing else (fast-check)", async (t) => {
  const good = marshal(TPM2B_PUBLIC, rsaPublic());
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 400 }),
        fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const b = good.slice();
          b[i]! ^= x;
          return b;
        }),
        fc.nat({ max: good.length }).map((n) => good.slice(0, n)),
      ),
      async (bytes) => {
        try {
          const jwk = await bindingKeyJwk(bytes);
          return jwk.kty === "RSA" && base64url.decode(jwk.n!).length === 256;
        } catch (e) {
          return e instanceof TokenError;
        }
      },
    ),
    { numRuns: 400 },
  );
  t.pass();
});
