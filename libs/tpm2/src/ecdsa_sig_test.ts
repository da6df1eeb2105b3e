import test from "ava";
import fc from "fast-check";
import { createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { ecdsaDer, ecdsaRsFromDer } from "./ecdsa_sig.ts";
import { TpmDecodeError } from "./errors.ts";

test("ecdsaDer / ecdsaRsFromDer against node:crypto: OpenSSL's DER decodes to the r ‖ s it writes itself, and r, s encode to DER it verifies", (t) => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const publicKey = createPublicKey(privateKey);
  let shortR = 0;
  for (let i = 0; i < 1500; i++) {
    const msg = Buffer.from(`message ${i}`);
    const der = sign("sha256", msg, privateKey);
    const rs = ecdsaRsFromDer(der, 32);
    if (rs[0] === 0) shortR++;
    t.true(verify("sha256", msg, { key: publicKey, dsaEncoding: "ieee-p1363" }, rs), `signature ${i}: r ‖ s does not verify`);
    t.deepEqual(Buffer.from(ecdsaDer(rs.subarray(0, 32), rs.subarray(32))), der, `signature ${i}: DER again is not OpenSSL's`);
  }
  t.true(shortR > 0, "some r had a leading zero byte (1,500 signatures)");
});

test("ecdsaRsFromDer(ecdsaDer(r, s)) is r ‖ s for any r and s of up to 32 bytes (property)", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 32 }), fc.uint8Array({ minLength: 0, maxLength: 32 }), (r, s) => {
      const rs = ecdsaRsFromDer(ecdsaDer(r, s), 32);
      const pad = (v: Uint8Array) => Buffer.concat([Buffer.alloc(32 - v.length), v]);
      return Buffer.from(rs).equals(Buffer.concat([pad(r), pad(s)]));
    }),
  );
  t.pass("fc.assert throws with the counterexample if the property fails");
});

test("ecdsaRsFromDer: anything else is a TpmDecodeError naming the field and offset, never a wrong value (property)", (t) => {
  const good = ecdsaDer(new Uint8Array(32).fill(0x81), new Uint8Array(32).fill(0x42));
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(0), /is not a SEQUENCE/],
    [Uint8Array.of(0x31, ...good.subarray(1)), /is not a SEQUENCE/],
    [good.subarray(0, good.length - 1), /length does not match/],
    [Uint8Array.of(...good, 0), /length does not match/],
    [ecdsaDer(new Uint8Array(33).fill(0x11), new Uint8Array(1)), /ECDSA-Sig-Value\.r at byte 4: is longer than 32 bytes/],
  ];
  for (const [der, message] of cases) t.throws(() => ecdsaRsFromDer(der, 32), { instanceOf: TpmDecodeError, message });
  // Any bytes: either a TpmDecodeError or a 64-byte value that encodes back to an equivalent DER.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      try {
        const rs = ecdsaRsFromDer(bytes, 32);
        return rs.length === 64 && Buffer.from(ecdsaRsFromDer(ecdsaDer(rs.subarray(0, 32), rs.subarray(32)), 32)).equals(Buffer.from(rs));
      } catch (e) {
        return e instanceof TpmDecodeError;
      }
    }),
    { numRuns: 20_000 },
  );
});
