import test from "ava";
import { createHash } from "node:crypto";
import { bytes, child, children, enumName, enumeration, int, item, struct, text, type Ttlv, TTLV_TYPE } from "@tessera/kmip";
import { rejectsWith, V1_4, V2_1, kmipdForTests } from "./_test_support.ts";

// Behaviour the OASIS profiles (AKLC-M, SKFF-M, CS-AC-M, QS-M) rely on, checked over the wire.

const k = kmipdForTests();

const now = () => BigInt(Math.floor(Date.now() / 1000));

function keyPairRequest(version: typeof V1_4, extra: { name: string; value: Parameters<typeof item>[1] }[] = []): Ttlv[] {
  const common = [{ name: "CryptographicAlgorithm", value: "RSA" }, { name: "CryptographicLength", value: 2048 }, ...extra];
  const c = k.client(version);
  return version.major >= 2
    ? [
        struct(
          "CommonAttributes",
          common.map((a) => item(a.name, a.value, undefined, version)),
        ),
      ]
    : [struct("CommonTemplateAttribute", c.attributes(common, "Attributes"))];
}

async function keyPair(version: typeof V1_4): Promise<{ priv: string; pub: string }> {
  const p = await k.client(version).request("CreateKeyPair", keyPairRequest(version));
  return { priv: text(p, "PrivateKeyUniqueIdentifier")!, pub: text(p, "PublicKeyUniqueIdentifier")! };
}

for (const version of [V1_4, V2_1]) {
  const v = `KMIP ${version.major}.${version.minor}`;

  test(`${v}: generated keys carry Original Creation Date and the server's Random Number Generator`, async (t) => {
    const c = k.client(version);
    const { priv, pub } = await keyPair(version);
    const aes = await c.create({ algorithm: "AES", length: 256 });
    for (const id of [priv, pub, aes]) {
      const m = await c.getAttributes(id, ["OriginalCreationDate", "RandomNumberGenerator", "InitialDate"]);
      const ocd = m.get("Original Creation Date")?.[0];
      const initial = m.get("Initial Date")?.[0];
      t.is(ocd?.type, TTLV_TYPE.DateTime);
      if (ocd?.type === TTLV_TYPE.DateTime && initial?.type === TTLV_TYPE.DateTime) {
        t.is(ocd.value, initial.value, "a server-made object was first created when the server made it");
        t.true(ocd.value <= now() + 2n && ocd.value >= now() - 120n);
      }
      const rng = m.get("Random Number Generator")?.[0];
      t.is(enumName("RNGAlgorithm", enumeration(rng, "RNGAlgorithm") ?? 0), "DRBG");
      t.is(enumName("DRBGAlgorithm", enumeration(rng, "DRBGAlgorithm") ?? 0), "CTR");
      t.is(enumName("CryptographicAlgorithm", enumeration(rng, "CryptographicAlgorithm") ?? 0), "AES");
      t.is(int(rng, "CryptographicLength"), 256);
    }
  });

  test(`${v}: a registered key keeps the client's Original Creation Date and gets no server RNG`, async (t) => {
    const c = k.client(version);
    const block = struct("KeyBlock", [
      item("KeyFormatType", "Raw"),
      struct("KeyValue", [item("KeyMaterial", new Uint8Array(16).fill(7))]),
      item("CryptographicAlgorithm", "AES"),
      item("CryptographicLength", 128),
    ]);
    const attrs = c.attributes([
      { name: "CryptographicUsageMask", value: "Encrypt Decrypt" },
      { name: "OriginalCreationDate", value: 1_600_000_000n },
    ]);
    const id = text(await c.request("Register", [item("ObjectType", "SymmetricKey"), ...attrs, struct("SymmetricKey", [block])]), "UniqueIdentifier")!;
    const m = await c.getAttributes(id, ["OriginalCreationDate", "RandomNumberGenerator"]);
    const ocd = m.get("Original Creation Date")?.[0];
    t.is(ocd?.type === TTLV_TYPE.DateTime ? ocd.value : undefined, 1_600_000_000n);
    t.false(m.has("Random Number Generator"));
  });

  test(`${v}: Locate leaves destroyed objects out unless the State is asked for`, async (t) => {
    const c = k.client(version);
    const name = `skff-destroyed-${version.major}`;
    const id = await c.create({ algorithm: "AES", length: 128, name });
    t.deepEqual(await c.locate({ name }), [id]);
    await c.destroy(id);
    t.deepEqual(await c.locate({ name }), []);
    t.deepEqual(await c.locate({ attributes: [{ name: "UniqueIdentifier", value: id }] }), []);
    t.deepEqual(await c.locate({ name, attributes: [{ name: "State", value: "Destroyed" }] }), [id]);
  });

  test(`${v}: Hash digests Data with the Hashing Algorithm; streaming and a missing algorithm are refused`, async (t) => {
    const c = k.client(version);
    const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16]);
    for (const [alg, node] of [
      ["SHA_256", "sha256"],
      ["SHA_512", "sha512"],
      ["SHA_1", "sha1"],
    ] as const) {
      const p = await c.request("Hash", [struct("CryptographicParameters", [item("HashingAlgorithm", alg)]), item("Data", data)]);
      t.is(Buffer.from(bytes(p, "Data")!).toString("hex"), createHash(node).update(data).digest("hex"), alg);
    }
    // SHA3-256 is value 0x0f in both versions (spelt SHA_3_256 in 1.4, SHA3_256 in 2.x).
    const p = await c.request("Hash", [struct("CryptographicParameters", [item("HashingAlgorithm", 0x0f)]), item("Data", data)]);
    t.is(Buffer.from(bytes(p, "Data")!).toString("hex"), createHash("sha3-256").update(data).digest("hex"));
    await rejectsWith(t, c.request("Hash", [item("Data", data)]), "InvalidField");
    await rejectsWith(
      t,
      c.request("Hash", [
        struct("CryptographicParameters", [item("HashingAlgorithm", "SHA_256")]),
        item("Data", data),
        item("InitIndicator", true),
        item("FinalIndicator", false),
      ]),
      "FeatureNotSupported",
    );
  });
}

test("KMIP 2.1: Key Format Type is an attribute of keys; 1.4 sees it only in the Key Block", async (t) => {
  const { priv } = await keyPair(V2_1);
  const m = await k.client(V2_1).getAttributes(priv, ["KeyFormatType"]);
  const f = m.get("Key Format Type")?.[0] ?? m.get("KeyFormatType")?.[0];
  t.is(f?.type === TTLV_TYPE.Enumeration ? enumName("KeyFormatType", f.value) : undefined, "PKCS_1");
  const list = await k.client(V2_1).request("GetAttributeList", [item("UniqueIdentifier", priv)]);
  const refs = children(list, "AttributeReference").map((r) => (r.type === TTLV_TYPE.Enumeration ? r.value : 0));
  t.true(refs.includes(0x420042), "KeyFormatType is listed in 2.1");
  const aes = await k.client(V1_4).create({ algorithm: "AES", length: 128 });
  const names14 = children(await k.client(V1_4).request("GetAttributeList", [item("UniqueIdentifier", aes)]), "AttributeName").map((n) =>
    n.type === TTLV_TYPE.TextString ? n.value : "",
  );
  t.false(
    names14.some((n) => /Key Format Type|KeyFormatType/.test(n)),
    "1.4 has no Key Format Type attribute",
  );
  t.true(names14.includes("Original Creation Date") && names14.includes("Random Number Generator"));
  // An unnamed 1.x Get Attributes leaves out the two server-set attributes older 1.x clients cannot decode.
  const all14 = await k.client(V1_4).getAttributes(aes);
  t.false(all14.has("Original Creation Date") || all14.has("Random Number Generator"));
  t.true(all14.has("Cryptographic Algorithm"));
});

test("KMIP 2.1: vendor attributes are found and deleted by a structured Attribute Reference", async (t) => {
  const c = k.client(V2_1);
  const id = await c.create({ algorithm: "AES", length: 128 });
  const vendor = (name: string, value?: string) =>
    struct("Attribute", [
      item("VendorIdentification", "x"),
      item("AttributeName", name),
      value !== undefined && item("AttributeValue", value, TTLV_TYPE.TextString),
    ]);
  await c.request("AddAttribute", [item("UniqueIdentifier", id), struct("NewAttribute", [vendor("attribute1", "one")])]);
  const ref = struct("AttributeReference", [item("VendorIdentification", "x"), item("AttributeName", "attribute1")]);
  const got = await c.request("GetAttributes", [item("UniqueIdentifier", id), ref]);
  const a = child(child(got, "Attributes"), "Attribute");
  t.is(text(a, "AttributeName"), "attribute1");
  t.is(text(a, "AttributeValue"), "one");
  await c.request("DeleteAttribute", [item("UniqueIdentifier", id), ref]);
  const after = await c.request("GetAttributes", [item("UniqueIdentifier", id), ref]);
  t.is(children(child(after, "Attributes"), "Attribute").length, 0);
});

test("KMIP 2.1: Quantum Safe objects are made only from quantum-safe algorithms and lengths", async (t) => {
  const c = k.client(V2_1);
  const qs = [{ name: "QuantumSafe", value: true }];
  await rejectsWith(t, c.create({ algorithm: "AES", length: 128, attributes: qs }), "GeneralFailure");
  await rejectsWith(t, c.request("CreateKeyPair", keyPairRequest(V2_1, qs)), "GeneralFailure");
  const id = await c.create({ algorithm: "AES", length: 256, attributes: qs });
  const m = await c.getAttributes(id, ["QuantumSafe"]);
  const v = m.get("Quantum Safe")?.[0] ?? m.get("QuantumSafe")?.[0];
  t.is(v?.type === TTLV_TYPE.Boolean ? v.value : undefined, true);
  t.truthy(await c.create({ algorithm: "AES", length: 128, attributes: [{ name: "QuantumSafe", value: false }] }));
});

test("KMIP 2.1: RSA-OAEP with its own MGF1 hash and a label (Cryptographic Parameters) round-trips through Encrypt and Decrypt", async (t) => {
  const c = k.client(V2_1);
  const params = [
    item("PaddingMethod", "OAEP"),
    item("HashingAlgorithm", "SHA_384"),
    item("CryptographicAlgorithm", "RSA"),
    item("MaskGenerator", "MGF1"),
    item("MaskGeneratorHashingAlgorithm", "SHA_256"),
    item("PSource", new TextEncoder().encode("Kilroy")),
  ];
  const p = await c.request("CreateKeyPair", [
    struct("CommonAttributes", [item("CryptographicAlgorithm", "RSA"), item("CryptographicLength", 2048)]),
    struct("PrivateKeyAttributes", [item("CryptographicUsageMask", "Decrypt")]),
    struct("PublicKeyAttributes", [item("CryptographicUsageMask", "Encrypt")]),
  ]);
  const priv = text(p, "PrivateKeyUniqueIdentifier")!;
  const pub = text(p, "PublicKeyUniqueIdentifier")!;
  await c.activate(priv);
  await c.activate(pub);
  const msg = new TextEncoder().encode("OAEP, two hashes");
  const enc = await c.request("Encrypt", [item("UniqueIdentifier", pub), struct("CryptographicParameters", params), item("Data", msg)]);
  const dec = await c.request("Decrypt", [item("UniqueIdentifier", priv), struct("CryptographicParameters", params), item("Data", bytes(enc, "Data")!)]);
  t.deepEqual(bytes(dec, "Data"), msg);
  // The same ciphertext under MGF1 with SHA-384 (the default: the OAEP hash) does not decrypt.
  await rejectsWith(
    t,
    c.request("Decrypt", [
      item("UniqueIdentifier", priv),
      struct(
        "CryptographicParameters",
        params.filter((x) => x.tag !== 0x420102),
      ),
      item("Data", bytes(enc, "Data")!),
    ]),
    "CryptographicFailure",
  );
});
