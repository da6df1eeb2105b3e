// KDFa and KDFe against independent implementations written here from the text of SP 800-108 (counter mode,
// HMAC PRF) and SP 800-56A (concatenation KDF) as TPM 2.0 Part 1 §11.4.10 profiles them, and against
// published vectors: the TCG reference implementation's KDFa self-test (libtpms KdfTestData.h) and the
// go-tpm-validated vectors of github.com/chrisfenner/tpm-test-vectors (KDFa README example, vectors/kdfe.json).
import test from "ava";
import fc from "fast-check";
import { createHash, createHmac } from "node:crypto";
import { TPM_ALG } from "./constants.ts";
import { TpmUnsupportedError } from "./errors.ts";
import { fromHex, toHex } from "./hex.ts";
import { kdfa, kdfe } from "./kdf.ts";

const HASHES: [number, string, number][] = [
  [TPM_ALG.SHA1, "sha1", 20],
  [TPM_ALG.SHA256, "sha256", 32],
  [TPM_ALG.SHA384, "sha384", 48],
  [TPM_ALG.SHA512, "sha512", 64],
];
const NAME: Record<number, string> = Object.fromEntries(HASHES.map(([alg, n]) => [alg, n]));
const SIZE: Record<number, number> = Object.fromEntries(HASHES.map(([alg, , s]) => [alg, s]));

function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

/**
 * The first `bits` bits of a key stream as the TPM returns them: ceil(bits/8) octets, and when bits is not a
 * multiple of 8 the excess high-order bits of the first octet cleared (Part 1, 11.4.10.1).
 */
function takeBits(stream: Buffer, bits: number): Uint8Array {
  const out = new Uint8Array(stream.subarray(0, Math.ceil(bits / 8)));
  const extra = (8 - (bits % 8)) % 8;
  if (extra > 0) out[0] &= 0xff >> extra;
  return out;
}

/**
 * SP 800-108 KDF in counter mode with PRF = HMAC-hash, as Part 1 profiles it:
 * K(i) = HMAC(key, [i]_32 || Label || 0x00 || Context || [L]_32) with Context = contextU || contextV.
 * `label` is the text of the label; its terminating zero octet is added here.
 */
function refKdfa(hashAlg: number, key: Uint8Array, label: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Uint8Array {
  const blocks: Buffer[] = [];
  for (let i = 1; i <= Math.ceil(bits / (8 * SIZE[hashAlg])); i++) {
    blocks.push(
      createHmac(NAME[hashAlg], key)
        .update(be32(i))
        .update(Buffer.from(label, "latin1"))
        .update(Buffer.from([0]))
        .update(contextU)
        .update(contextV)
        .update(be32(bits))
        .digest(),
    );
  }
  return takeBits(Buffer.concat(blocks), bits);
}

/**
 * SP 800-56A concatenation KDF (one-step, hash), as Part 1 profiles it for ECC:
 * K(i) = H([i]_32 || Z || OtherInfo), OtherInfo = Use || 0x00 || PartyUInfo || PartyVInfo.
 */
function refKdfe(hashAlg: number, z: Uint8Array, use: string, partyU: Uint8Array, partyV: Uint8Array, bits: number): Uint8Array {
  const blocks: Buffer[] = [];
  for (let i = 1; i <= Math.ceil(bits / (8 * SIZE[hashAlg])); i++) {
    blocks.push(
      createHash(NAME[hashAlg])
        .update(be32(i))
        .update(z)
        .update(Buffer.from(use, "latin1"))
        .update(Buffer.from([0]))
        .update(partyU)
        .update(partyV)
        .digest(),
    );
  }
  return takeBits(Buffer.concat(blocks), bits);
}

const hashAlg = fc.constantFrom(...HASHES.map(([a]) => a));
const label = fc.string({ unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZ_ 0123456789".split("")), maxLength: 24 });
const blob = fc.uint8Array({ maxLength: 80 });
const bits = fc.oneof(fc.integer({ min: 1, max: 2100 }), fc.constantFrom(128, 160, 256, 384, 512, 520, 1024, 7, 9, 13));

// ---------------------------------------------------------------------------------------------
// KDFa

test("KDFa equals SP 800-108 counter mode for random inputs (property)", (t) => {
  fc.assert(
    fc.property(hashAlg, blob, label, blob, blob, bits, (alg, key, l, u, v, n) => {
      const mine = refKdfa(alg, key, l, u, v, n);
      return toHex(kdfa(alg, key, l, u, v, n)) === toHex(mine) && toHex(kdfa(alg, key, Buffer.from(l + "\0", "latin1"), u, v, n)) === toHex(mine);
    }),
    { numRuns: 400 },
  );
  t.pass();
});

test("KDFa: the TCG reference implementation's self-test vector, for every hash", (t) => {
  // libtpms src/tpm2/KdfTestData.h: key, label "KDFSELFTESTLABEL" with its zero, two 8-byte contexts, 160 bits.
  const key = fromHex("271fa08bbdc5060ec3dfa928ff9b73123a12da0c");
  const labelZ = fromHex("4b444653454c46544553544c4142454c00");
  const u = fromHex("ce244f395dca7391");
  const v = fromHex("da504031ddf12e83");
  const expected: [number, string][] = [
    [TPM_ALG.SHA1, "55b5a7184aa07423c47dae766c26a2377d7cf851"],
    [TPM_ALG.SHA256, "bb0259e1c8ba607e6a2cd704b69a902e9ade84c4"],
    [TPM_ALG.SHA384, "1dce70c9113eb2dba47bd9cfc72bf46f45b09312"],
    [TPM_ALG.SHA512, "8be2c1b85b78569b9fa759f5857c56d684810fd3"],
  ];
  for (const [alg, out] of expected) {
    t.is(toHex(kdfa(alg, key, labelZ, u, v, 160)), out, NAME[alg]);
    // The same label given as text gets its zero octet added, once.
    t.is(toHex(kdfa(alg, key, "KDFSELFTESTLABEL", u, v, 160)), out, NAME[alg]);
    t.is(toHex(refKdfa(alg, key, "KDFSELFTESTLABEL", u, v, 160)), out, `reference ${NAME[alg]}`);
  }
});

test("KDFa: a go-tpm-validated vector with a non-multiple-of-8 size (116 bits)", (t) => {
  const args = [
    TPM_ALG.SHA256,
    fromHex("aff14e568afc0ea51eea748c8915df067c7700"),
    "IDENTITY",
    fromHex("ce4edfb881540700e300"),
    fromHex("68ddb4a0e59d74cd34dfe631d91e1ea3fbc95865440adedff7e9d011890fba"),
    116,
  ] as const;
  t.is(toHex(kdfa(...args)), "019ed5e0956338ddda4413ecee5cf2");
  t.is(toHex(refKdfa(...args)), "019ed5e0956338ddda4413ecee5cf2");
});

test("KDFa: truncation to a non-multiple of 8 bits keeps ceil(bits/8) octets and clears the excess high bits", (t) => {
  const key = fromHex("000102030405060708090a0b0c0d0e0f");
  for (let n = 1; n <= 40; n++) {
    const out = kdfa(TPM_ALG.SHA256, key, "STORAGE", new Uint8Array(), new Uint8Array(), n);
    t.is(out.length, Math.ceil(n / 8), `${n} bits`);
    if (n % 8 !== 0) t.is(out[0] >> (n % 8), 0, `${n} bits: high bits of the first octet are set: ${toHex(out)}`);
    t.is(toHex(out), toHex(refKdfa(TPM_ALG.SHA256, key, "STORAGE", new Uint8Array(), new Uint8Array(), n)), `${n} bits`);
  }
  // The size in bits is part of the PRF input: 13 bits are not a masked prefix of 16 bits.
  const k13 = kdfa(TPM_ALG.SHA256, key, "X", new Uint8Array(), new Uint8Array(), 13);
  const k16 = kdfa(TPM_ALG.SHA256, key, "X", new Uint8Array(), new Uint8Array(), 16);
  t.not(toHex(k13), toHex(new Uint8Array([k16[0] & 0x1f, k16[1]])));
});

test("KDFa: label conventions — empty label, label with and without its zero octet", (t) => {
  const key = fromHex("aa".repeat(32));
  const e = new Uint8Array();
  // An empty label is a single zero octet (the reference implementation adds one when no label is present).
  t.is(toHex(kdfa(TPM_ALG.SHA256, key, "", e, e, 256)), toHex(refKdfa(TPM_ALG.SHA256, key, "", e, e, 256)));
  t.is(toHex(kdfa(TPM_ALG.SHA256, key, new Uint8Array(), e, e, 256)), toHex(kdfa(TPM_ALG.SHA256, key, new Uint8Array([0]), e, e, 256)));
  // "INTEGRITY" and "INTEGRITY\0" are the same label; "INTEGRITY\0\0" is not.
  const a = kdfa(TPM_ALG.SHA256, key, "INTEGRITY", e, e, 256);
  t.is(toHex(kdfa(TPM_ALG.SHA256, key, "INTEGRITY\0", e, e, 256)), toHex(a));
  t.is(toHex(kdfa(TPM_ALG.SHA256, key, new TextEncoder().encode("INTEGRITY"), e, e, 256)), toHex(a));
  t.not(toHex(kdfa(TPM_ALG.SHA256, key, "INTEGRITY\0\0", e, e, 256)), toHex(a));
  // contextU and contextV are concatenated: moving a byte between them changes nothing.
  t.is(toHex(kdfa(TPM_ALG.SHA256, key, "L", fromHex("0102"), fromHex("03"), 128)), toHex(kdfa(TPM_ALG.SHA256, key, "L", fromHex("01"), fromHex("0203"), 128)));
});

test("KDFa: zero bits is empty; long outputs chain blocks", (t) => {
  const key = fromHex("01");
  t.is(kdfa(TPM_ALG.SHA256, key, "L", new Uint8Array(), new Uint8Array(), 0).length, 0);
  const long = kdfa(TPM_ALG.SHA1, key, "L", new Uint8Array(), new Uint8Array(), 8 * 1000);
  t.is(long.length, 1000);
  t.is(toHex(long), toHex(refKdfa(TPM_ALG.SHA1, key, "L", new Uint8Array(), new Uint8Array(), 8000)));
});

test("KDFa/KDFe: an unsupported hash algorithm is a TpmUnsupportedError", (t) => {
  t.throws(() => kdfa(TPM_ALG.NULL, fromHex("01"), "L", new Uint8Array(), new Uint8Array(), 128), { instanceOf: TpmUnsupportedError, message: /0x0010/ });
  t.throws(() => kdfe(0x1234, fromHex("01"), "L", new Uint8Array(), new Uint8Array(), 128), { instanceOf: TpmUnsupportedError, message: /0x1234/ });
});

// ---------------------------------------------------------------------------------------------
// KDFe

test("KDFe equals the SP 800-56A concatenation KDF for random inputs (property)", (t) => {
  fc.assert(
    fc.property(hashAlg, blob, label, blob, blob, bits, (alg, z, use, u, v, n) => {
      const mine = refKdfe(alg, z, use, u, v, n);
      return toHex(kdfe(alg, z, use, u, v, n)) === toHex(mine) && toHex(kdfe(alg, z, Buffer.from(use + "\0", "latin1"), u, v, n)) === toHex(mine);
    }),
    { numRuns: 400 },
  );
  t.pass();
});

test("KDFe: go-tpm-validated vectors (chrisfenner/tpm-test-vectors vectors/kdfe.json)", (t) => {
  const vectors: [string, number, string, string, string, string, number, string][] = [
    [
      "00_SHA1_111",
      4,
      "beefefba63c91e8eb318785c374600",
      "ATH",
      "ff8318b65e46b3",
      "32aa861b336c991a52b15c0c72889895e8cad4ff",
      111,
      "123decb8050fca8d6585f61946e2",
    ],
    ["04_SHA1_253", 4, "", "STORAGE", "", "c0227aff", 253, "0f10d821af67e1ec776b390f3b4572bb433efd2b94fa7842d879d24d825ed2f9"],
    [
      "06_SHA1_32",
      4,
      "9b050039c8e5ca60deeb978f2faf573c94af61",
      "IDENTITY",
      "ff1a1852db7b60a5c963f17eb306f3a905d100ae",
      "0047ee45771a256d58b091b6d6",
      32,
      "94c3c160",
    ],
    ["22_SHA1_7", 4, "356f9d00d61b54cf010580b1755d1975905c00", "CFB", "006c5c2bcdd650f6c836dba98c4734", "8849bd3d05d69f", 7, "58"],
    [
      "31_SHA256_13",
      11,
      "739245447ead0deea5f834f06e043159c6ff",
      "IDENTITY",
      "ad503e36c2314ec9afa2f4047bf19ce7fbc6fe2def32c58459c0fc828c00",
      "ba6dd80b788034161743c95e8ef7a9486fbd69d3ff",
      13,
      "0956",
    ],
    [
      "33_SHA256_215",
      11,
      "ffcead5817fa51",
      "OBFUSCATE",
      "3a25c7420a6ea094aff570c12fd40d2b8eff",
      "8505ad0684d7196c4153860ece58c62c20fa07f18fff",
      215,
      "7e20d953e93f3760753b0aeba83c1114c440493bd8101f12665868",
    ],
    [
      "37_SHA256_431",
      11,
      "e89fc5304cf46c1cf7d1f5de5d3d1ec7eddc80b0386700",
      "SECRET",
      "e602bc959fd97af0405649e0c80e02e9dd64e9d79e698292b043c79dfa9f9261",
      "",
      431,
      "3a8e893b8b76cdddbf87845b2567fa7152577829f6a55b73cb82d4a1f0342a051d6e50e20ec2f96bc4de38d7d0d79a9caf99e1d574b9",
    ],
    [
      "72_SHA384_79",
      12,
      "67d2210f344df271e1c960d595814c4aeb9706c24aa42d2d97914d1bd1452b54ec69a42d07",
      "STORAGE",
      "d3e7df7d31ef352ce0214cc940f4703488621339fa87eb2cb872093cbc00",
      "5ea33fdb57e2e9649e5be68cf9643c58d6da596c9f",
      79,
      "32c262b6c9fec57cf217",
    ],
    [
      "98_SHA512_9",
      13,
      "00ecf5d16ff4c47b2a43fdafa4d449646a50abe155650a5ff0ecf89ca9768d2bed7ca0f17f113065c51190cccd4203b7",
      "ATH",
      "9c7fbe7d36257e6faa9f773d00",
      "fc8ff54133fdd43b485e483ce2c75bf0728c0b75a0acc28cf1d63276d420b14262130a12f6449100",
      9,
      "00aa",
    ],
    [
      "79_SHA512_255",
      13,
      "002024653ef084",
      "ATH",
      "25e4ff",
      "ff1c8addecb73b1fce8b03e6ffb0b149455a",
      255,
      "408051eb79531af1d85d5bc85953cf05a6b5e9a695afdca513c4275fb8e4b35f",
    ],
  ];
  for (const [name, alg, z, use, u, v, n, out] of vectors) {
    t.is(toHex(kdfe(alg, fromHex(z), use, fromHex(u), fromHex(v), n)), out, name);
    t.is(toHex(refKdfe(alg, fromHex(z), use, fromHex(u), fromHex(v), n)), out, `reference ${name}`);
  }
});

test("KDFe: truncation to a non-multiple of 8 bits", (t) => {
  const z = fromHex("0102030405060708");
  for (let n = 1; n <= 24; n++) {
    const out = kdfe(TPM_ALG.SHA256, z, "IDENTITY", new Uint8Array(), new Uint8Array(), n);
    t.is(out.length, Math.ceil(n / 8));
    if (n % 8 !== 0) t.is(out[0] >> (n % 8), 0, `${n} bits: ${toHex(out)}`);
  }
});
