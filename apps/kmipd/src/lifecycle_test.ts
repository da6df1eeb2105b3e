import test from "ava";
import type { ExecutionContext } from "ava";
import { constants, createCipheriv, createDecipheriv, createHmac, createPublicKey, type KeyObject, randomBytes, verify } from "node:crypto";
import {
  bytes,
  child,
  decodeTtlv,
  encodeTtlv,
  enumName,
  enumText,
  enumeration,
  item,
  tagOf as tagOfName,
  type KmipVersion,
  struct,
  text,
  type Ttlv,
  TTLV_TYPE,
} from "@tessera/kmip";
import type { KmipClient } from "@tessera/kmip-client";
import { attributesFor, rejectsWith, V1_4, V2_1, kmipdForTests } from "./_test_support.ts";

const k = kmipdForTests();

const STATE = { PreActive: 1, Active: 2, Deactivated: 3, Compromised: 4, Destroyed: 5, DestroyedCompromised: 6 };
const plain = new TextEncoder().encode("attack at dawn, bring snacks");

/**
 * KMIP 1.x has no Wrong Key Lifecycle State / Incompatible Cryptographic Usage Mask result reasons (they are
 * 2.0 values): a 1.x server may answer with a 1.x reason instead. 2.x must answer the precise reason.
 */
function reason(version: KmipVersion, name: string): string | string[] {
  return version.major >= 2 ? name : [name, "PermissionDenied", "IllegalOperation"];
}

async function attrs(c: KmipClient, id: string, names: string[] = []): Promise<Map<string, Ttlv[]>> {
  return c.getAttributes(id, names);
}

async function state(c: KmipClient, id: string): Promise<number | undefined> {
  const v = (await attrs(c, id, ["State"])).get("State")?.[0];
  return v?.type === TTLV_TYPE.Enumeration ? v.value : undefined;
}

function assertRecentDate(t: ExecutionContext, m: Map<string, Ttlv[]>, name: string): void {
  const v = m.get(name)?.[0];
  t.truthy(v, `${name} missing from GetAttributes (have: ${[...m.keys()].join(", ")})`);
  if (!v) return;
  t.is(v.type, TTLV_TYPE.DateTime, `${name} is a DateTime`);
  const now = BigInt(Math.floor(Date.now() / 1000));
  if (v.type === TTLV_TYPE.DateTime) t.true(v.value <= now + 2n && v.value >= now - 120n, `${name} ${v.value} is now (${now})`);
}

function validity(p: Ttlv): string {
  const v = enumeration(p, "ValidityIndicator");
  return v === undefined ? "(none)" : enumName("ValidityIndicator", v);
}

async function activeKey(c: KmipClient, usage = "Encrypt Decrypt", algorithm = "AES", length = 256): Promise<string> {
  const id = await c.create({ algorithm, length, usage });
  await c.activate(id);
  return id;
}

for (const version of [V1_4, V2_1]) {
  const v = `KMIP ${version.major}.${version.minor}`;
  const destroyedReason = version.major >= 2 ? ["ObjectDestroyed", "ItemNotFound"] : ["ItemNotFound", "ObjectDestroyed"];

  test(`${v}: PreActive → Active → Deactivated → Destroyed, with State and dates in GetAttributes`, async (t) => {
    const c = k.client(version);
    const id = await c.create({ algorithm: "AES", length: 256 });
    t.is(await state(c, id), STATE.PreActive);
    await rejectsWith(t, c.encrypt(id, plain), reason(version, "WrongKeyLifecycleState"), "Encrypt with a PreActive key");
    t.false((await attrs(c, id)).has("Activation Date"), "no ActivationDate before Activate");

    await c.activate(id);
    t.is(await state(c, id), STATE.Active);
    assertRecentDate(t, await attrs(c, id, ["ActivationDate"]), "Activation Date");
    await rejectsWith(t, c.activate(id), reason(version, "WrongKeyLifecycleState"), "second Activate");
    await rejectsWith(t, c.destroy(id), reason(version, "WrongKeyLifecycleState"), "Destroy of an Active key");
    t.is(await state(c, id), STATE.Active, "still Active after the refused Destroy");

    const enc = await c.encrypt(id, plain);
    t.deepEqual(await c.decrypt(id, enc.data, { iv: enc.iv, tag: enc.tag }), plain);

    await c.revoke(id, "Unspecified");
    t.is(await state(c, id), STATE.Deactivated);
    assertRecentDate(t, await attrs(c, id), "Deactivation Date");
    await rejectsWith(t, c.encrypt(id, plain), reason(version, "WrongKeyLifecycleState"), "Encrypt with a Deactivated key");
    t.deepEqual(await c.decrypt(id, enc.data, { iv: enc.iv, tag: enc.tag }), plain, "a Deactivated key still decrypts");
    await rejectsWith(t, c.revoke(id, "Unspecified"), reason(version, "WrongKeyLifecycleState"), "Revoke(Unspecified) of a Deactivated key");

    await c.destroy(id);
    t.is(await state(c, id), STATE.Destroyed);
    const all = await attrs(c, id);
    assertRecentDate(t, all, "Destroy Date");
    assertRecentDate(t, all, "Activation Date");
    assertRecentDate(t, all, "Deactivation Date");
    await rejectsWith(t, c.get(id), destroyedReason, "Get after Destroy");
    await rejectsWith(t, c.decrypt(id, enc.data, { iv: enc.iv, tag: enc.tag }), reason(version, "WrongKeyLifecycleState"), "Decrypt after Destroy");
    await rejectsWith(t, c.destroy(id), reason(version, "WrongKeyLifecycleState"), "second Destroy");
  });

  test(`${v}: Revoke(KeyCompromise) → Compromised (decrypt only) → DestroyedCompromised`, async (t) => {
    const c = k.client(version);
    const id = await activeKey(c);
    const enc = await c.encrypt(id, plain);
    await c.revoke(id, "KeyCompromise", "laptop stolen");
    t.is(await state(c, id), STATE.Compromised);
    assertRecentDate(t, await attrs(c, id), "Compromise Date");
    await rejectsWith(t, c.encrypt(id, plain), reason(version, "WrongKeyLifecycleState"), "Encrypt with a Compromised key");
    t.deepEqual(await c.decrypt(id, enc.data, { iv: enc.iv, tag: enc.tag }), plain, "a Compromised key still decrypts");
    await c.destroy(id);
    t.is(await state(c, id), STATE.DestroyedCompromised);
    await rejectsWith(t, c.get(id), destroyedReason, "Get after Destroy");

    // A PreActive key may be revoked as compromised too, and then destroyed.
    const pre = await c.create({ algorithm: "AES", length: 128 });
    await c.revoke(pre, "KeyCompromise");
    t.is(await state(c, pre), STATE.Compromised);
    await rejectsWith(t, c.revoke(pre, "KeyCompromise"), reason(version, "WrongKeyLifecycleState"), "second compromise");
    await c.destroy(pre);
    t.is(await state(c, pre), STATE.DestroyedCompromised);
  });

  test(`${v}: a PreActive key may be destroyed directly`, async (t) => {
    const c = k.client(version);
    const id = await c.create({ algorithm: "AES", length: 128 });
    await c.destroy(id);
    t.is(await state(c, id), STATE.Destroyed);
    await rejectsWith(t, c.get(id), destroyedReason);
  });

  test(`${v}: the usage mask is enforced`, async (t) => {
    const c = k.client(version);
    const encOnly = await activeKey(c, "Encrypt");
    const enc = await c.encrypt(encOnly, plain);
    await rejectsWith(
      t,
      c.decrypt(encOnly, enc.data, { iv: enc.iv, tag: enc.tag }),
      reason(version, "IncompatibleCryptographicUsageMask"),
      "Decrypt with an Encrypt-only key",
    );
    await rejectsWith(
      t,
      c.request("MAC", [item("UniqueIdentifier", encOnly), item("Data", plain)]),
      reason(version, "IncompatibleCryptographicUsageMask"),
      "MAC with an Encrypt-only key",
    );
    const decOnly = await activeKey(c, "Decrypt");
    await rejectsWith(t, c.encrypt(decOnly, plain), reason(version, "IncompatibleCryptographicUsageMask"), "Encrypt with a Decrypt-only key");
  });

  test(`${v}: AES-GCM with AAD and a 12-byte tag matches node:crypto`, async (t) => {
    const c = k.client(version);
    const id = await activeKey(c);
    const key = (await c.get(id)).material!;
    const aad = new TextEncoder().encode("header v1");
    const enc = await c.encrypt(id, plain, { mode: "GCM", aad, tagLength: 12 });
    t.is(enc.iv?.length, 12, "server-chosen 96-bit IV");
    t.is(enc.tag?.length, 12, "tag of 12 bytes");
    t.is(enc.data.length, plain.length);
    const d = createDecipheriv("aes-256-gcm", key, enc.iv!, { authTagLength: 12 });
    d.setAAD(aad);
    d.setAuthTag(enc.tag!);
    t.deepEqual(new Uint8Array(Buffer.concat([d.update(enc.data), d.final()])), plain, "node decrypts the server's ciphertext");
    t.deepEqual(await c.decrypt(id, enc.data, { mode: "GCM", iv: enc.iv, tag: enc.tag, aad, tagLength: 12 }), plain);
    await rejectsWith(
      t,
      c.decrypt(id, enc.data, { mode: "GCM", iv: enc.iv, tag: enc.tag, aad: new TextEncoder().encode("header v2"), tagLength: 12 }),
      "CryptographicFailure",
      "wrong AAD",
    );
    const badTag = new Uint8Array(enc.tag!);
    badTag[0] ^= 1;
    await rejectsWith(t, c.decrypt(id, enc.data, { mode: "GCM", iv: enc.iv, tag: badTag, aad, tagLength: 12 }), "CryptographicFailure", "wrong tag");
  });

  test(`${v}: AES-CBC PKCS5 with a given IV matches node:crypto`, async (t) => {
    const c = k.client(version);
    const id = await activeKey(c);
    const key = (await c.get(id)).material!;
    const iv = new Uint8Array(randomBytes(16));
    const enc = await c.encrypt(id, plain, { mode: "CBC", padding: "PKCS5", iv });
    const e = createCipheriv("aes-256-cbc", key, iv);
    t.deepEqual(enc.data, new Uint8Array(Buffer.concat([e.update(plain), e.final()])), "same ciphertext as node");
    t.is(enc.data.length, 32, "padded to two blocks");
    t.deepEqual(await c.decrypt(id, enc.data, { mode: "CBC", padding: "PKCS5", iv }), plain);
  });

  test(`${v}: AES key wrap (NISTKeyWrap) encrypt/decrypt matches node's id-aes256-wrap`, async (t) => {
    const c = k.client(version);
    const id = await activeKey(c);
    const key = (await c.get(id)).material!;
    const secret = new Uint8Array(randomBytes(32));
    const enc = await c.encrypt(id, secret, { mode: "NISTKeyWrap" });
    t.is(enc.data.length, 40);
    const w = createCipheriv("id-aes256-wrap", key, Buffer.from("a6a6a6a6a6a6a6a6", "hex"));
    t.deepEqual(enc.data, new Uint8Array(Buffer.concat([w.update(secret), w.final()])));
    t.deepEqual(await c.decrypt(id, enc.data, { mode: "NISTKeyWrap" }), secret);
    const tampered = new Uint8Array(enc.data);
    tampered[5] ^= 0x40;
    await rejectsWith(t, c.decrypt(id, tampered, { mode: "NISTKeyWrap" }), "CryptographicFailure", "integrity check of a tampered wrap");
  });

  test(`${v}: HMAC-SHA256 MAC and MAC Verify`, async (t) => {
    const c = k.client(version);
    const id = await activeKey(c, "MACGenerate MACVerify", "HMAC_SHA256", 256);
    const key = (await c.get(id)).material!;
    const p = await c.request("MAC", [item("UniqueIdentifier", id), item("Data", plain)]);
    const macData = bytes(p, "MACData")!;
    t.deepEqual(macData, new Uint8Array(createHmac("sha256", key).update(plain).digest()));
    const ok = await c.request("MACVerify", [item("UniqueIdentifier", id), item("Data", plain), item("MACData", macData)]);
    t.is(validity(ok), "Valid");
    const bad = new Uint8Array(macData);
    bad[31] ^= 1;
    const no = await c.request("MACVerify", [item("UniqueIdentifier", id), item("Data", plain), item("MACData", bad)]);
    t.is(validity(no), "Invalid");
    await rejectsWith(t, c.encrypt(id, plain), reason(version, "IncompatibleCryptographicUsageMask"), "Encrypt with a MAC key");
  });

  // One RSA key pair per version, shared by the signature tests below.
  let pairPromise: Promise<{ priv: string; pub: string; pubKey: KeyObject }> | undefined;
  const pair = (t: ExecutionContext) =>
    (pairPromise ??= (async () => {
      const c = k.client(version);
      const p = await c.request("CreateKeyPair", [
        attributesFor(version, "CommonTemplateAttribute", "CommonAttributes", [
          { name: "CryptographicAlgorithm", value: "RSA" },
          { name: "CryptographicLength", value: 2048 },
        ]),
        attributesFor(version, "PrivateKeyTemplateAttribute", "PrivateKeyAttributes", [{ name: "CryptographicUsageMask", value: "Sign" }]),
        attributesFor(version, "PublicKeyTemplateAttribute", "PublicKeyAttributes", [{ name: "CryptographicUsageMask", value: "Verify" }]),
      ]);
      const priv = text(p, "PrivateKeyUniqueIdentifier")!;
      const pub = text(p, "PublicKeyUniqueIdentifier")!;
      const pubGet = await c.get(pub);
      // RSA public keys come back as PKCS#1 (the key block says so), the format the OASIS profiles expect.
      const format = child(child(child(pubGet.raw, "PublicKey"), "KeyBlock"), "KeyFormatType");
      t.is(format && enumText(format), "PKCS_1");
      const pubKey = createPublicKey({ key: Buffer.from(pubGet.material!), format: "der", type: "pkcs1" });
      await rejectsWith(
        t,
        c.request("Sign", [item("UniqueIdentifier", priv), item("Data", plain)]),
        reason(version, "WrongKeyLifecycleState"),
        "Sign with a PreActive private key",
      );
      await c.activate(priv);
      await c.activate(pub);
      return { priv, pub, pubKey };
    })());
  const sign = async (c: KmipClient, priv: string, params: Ttlv[]) =>
    bytes(await c.request("Sign", [item("UniqueIdentifier", priv), struct("CryptographicParameters", params), item("Data", plain)]), "SignatureData")!;
  const sigVerify = async (c: KmipClient, pub: string, params: Ttlv[], sig: Uint8Array, data = plain) =>
    validity(
      await c.request("SignatureVerify", [
        item("UniqueIdentifier", pub),
        struct("CryptographicParameters", params),
        item("Data", data),
        item("SignatureData", sig),
      ]),
    );
  const pssOpts = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO };

  test(`${v}: RSA CreateKeyPair (built with item/struct): linked PreActive private/public keys, public key as PKCS#1`, async (t) => {
    const c = k.client(version);
    const { priv, pub, pubKey } = await pair(t);
    t.is(pubKey.asymmetricKeyDetails?.modulusLength, 2048);
    t.is((await c.get(pub)).objectType, "PublicKey");
    t.is((await c.get(priv)).objectType, "PrivateKey");
    const links = (await attrs(c, priv, ["Link"])).get("Link") ?? [];
    t.true(
      links.some((l) => text(l, "LinkedObjectIdentifier") === pub),
      "private key links to its public key",
    );
  });

  test(`${v}: RSA Sign with Digital Signature Algorithm RSASSA-PSS makes a PSS signature (node verifies) and SignatureVerify agrees`, async (t) => {
    const c = k.client(version);
    const { priv, pub, pubKey } = await pair(t);
    const alg = [
      item("DigitalSignatureAlgorithm", version.major >= 2 ? "RSASSA_PSS" : "RSASSA_PSSPKCS_1V2_1", undefined, version),
      item("HashingAlgorithm", "SHA_256"),
    ];
    const sig = await sign(c, priv, alg);
    t.is(await sigVerify(c, pub, alg, sig), "Valid", "SignatureVerify: Valid");
    t.is(await sigVerify(c, pub, alg, sig, new TextEncoder().encode("attack at dusk")), "Invalid", "SignatureVerify of other data: Invalid");
    t.true(verify("sha256", plain, { key: pubKey, ...pssOpts }, sig), "node verifies the signature as RSASSA-PSS/SHA-256");
  });

  test(`${v}: RSA Sign with Padding Method PSS (node verifies)`, async (t) => {
    const c = k.client(version);
    const { priv, pub, pubKey } = await pair(t);
    const params = [item("PaddingMethod", "PSS"), item("HashingAlgorithm", "SHA_256")];
    const sig = await sign(c, priv, params);
    t.true(verify("sha256", plain, { key: pubKey, ...pssOpts }, sig));
    t.is(await sigVerify(c, pub, params, sig), "Valid");
  });

  test(`${v}: RSA Sign PKCS#1 v1.5 SHA-256 (node verifies), corrupted signature Invalid`, async (t) => {
    const c = k.client(version);
    const { priv, pub, pubKey } = await pair(t);
    const params = [item("PaddingMethod", "PKCS1V1_5"), item("HashingAlgorithm", "SHA_256")];
    const sig = await sign(c, priv, params);
    t.true(verify("sha256", plain, { key: pubKey, padding: constants.RSA_PKCS1_PADDING }, sig));
    t.is(await sigVerify(c, pub, params, sig), "Valid");
    const broken = new Uint8Array(sig);
    broken[10] ^= 0xff;
    t.is(await sigVerify(c, pub, params, broken), "Invalid");
    await rejectsWith(
      t,
      c.request("Sign", [item("UniqueIdentifier", pub), struct("CryptographicParameters", params), item("Data", plain)]),
      reason(version, "IncompatibleCryptographicUsageMask"),
      "Sign with the public key",
    );
  });

  test(`${v}: RSA Sign with Digital Signature Algorithm SHA-384 with RSA uses SHA-384 (node verifies)`, async (t) => {
    const c = k.client(version);
    const { priv, pub, pubKey } = await pair(t);
    const params = [
      item("DigitalSignatureAlgorithm", version.major >= 2 ? "SHA_384WithRSAEncryption" : "SHA_384WithRSAEncryptionPKCS_1V1_5", undefined, version),
    ];
    const sig = await sign(c, priv, params);
    t.is(await sigVerify(c, pub, params, sig), "Valid", "the server agrees with itself");
    t.true(verify("sha384", plain, { key: pubKey, padding: constants.RSA_PKCS1_PADDING }, sig), "node verifies it as PKCS#1 v1.5 with SHA-384");
  });

  test(`${v}: Get with a KeyWrappingSpecification returns the key wrapped by another AES key (RFC 3394), in either Encoding Option`, async (t) => {
    const c = k.client(version);
    const wrappingKey = await activeKey(c, "WrapKey");
    const target = await c.create({ algorithm: "AES", length: 256 });
    const material = (await c.get(target)).material!;
    const spec = (wk: string, encoding?: string) =>
      struct("KeyWrappingSpecification", [
        item("WrappingMethod", "Encrypt"),
        struct("EncryptionKeyInformation", [item("UniqueIdentifier", wk), struct("CryptographicParameters", [item("BlockCipherMode", "NISTKeyWrap")])]),
        encoding !== undefined && item("EncodingOption", encoding),
      ]);
    const wkMaterial = (await c.get(wrappingKey)).material!;
    const unwrap = (wrapped: Uint8Array) => {
      const d = createDecipheriv("id-aes256-wrap", wkMaterial, Buffer.from("a6a6a6a6a6a6a6a6", "hex"));
      return new Uint8Array(Buffer.concat([d.update(wrapped), d.final()]));
    };
    const block = async (encoding?: string) =>
      child(child(await c.request("Get", [item("UniqueIdentifier", target), spec(wrappingKey, encoding)]), "SymmetricKey"), "KeyBlock");

    // TTLV Encoding, the default: the TTLV-encoded Key Value structure is wrapped, and the Key Value is that Byte String.
    const kb = await block();
    const kv = child(kb, "KeyValue");
    t.is(kv?.type, TTLV_TYPE.ByteString, "a Key Value wrapped with TTLV Encoding is a Byte String");
    const wd = child(kb, "KeyWrappingData");
    t.is(text(child(wd, "EncryptionKeyInformation"), "UniqueIdentifier"), wrappingKey);
    t.is(child(wd, "EncodingOption"), undefined, "TTLV Encoding, the default, goes unsaid in the Key Wrapping Data");
    const inner = decodeTtlv(unwrap(kv?.type === TTLV_TYPE.ByteString ? kv.value : new Uint8Array()));
    t.is(inner.tag, tagOfName("KeyValue"), "node unwraps a TTLV Key Value structure");
    t.deepEqual(bytes(inner, "KeyMaterial"), material, "holding the key's own material");

    // No Encoding: only the Key Material is wrapped; the Key Value stays a structure.
    const kb2 = await block("NoEncoding");
    t.is(child(kb2, "KeyValue")?.type, TTLV_TYPE.Structure);
    t.deepEqual(unwrap(bytes(child(kb2, "KeyValue"), "KeyMaterial")!), material, "node unwraps the bare key material");
    t.is(enumText(child(child(kb2, "KeyWrappingData"), "EncodingOption")!, version), "NoEncoding");

    // The wrapping key must allow Wrap Key and be Active.
    const noWrap = await activeKey(c, "Encrypt Decrypt");
    await rejectsWith(
      t,
      c.request("Get", [item("UniqueIdentifier", target), spec(noWrap)]),
      reason(version, "IncompatibleCryptographicUsageMask"),
      "wrapping key without WrapKey",
    );
    const preActive = await c.create({ algorithm: "AES", length: 256, usage: "WrapKey" });
    await rejectsWith(
      t,
      c.request("Get", [item("UniqueIdentifier", target), spec(preActive)]),
      reason(version, "WrongKeyLifecycleState"),
      "PreActive wrapping key",
    );
    await rejectsWith(t, c.request("Get", [item("UniqueIdentifier", target), spec("no-such-key")]), "ItemNotFound", "unknown wrapping key");
  });
}

test("KMIP 2.1: Adjust Attribute increments and decrements a numeric attribute; read-only ones are refused", async (t) => {
  const c = k.client(V2_1);
  const id = await c.create({ algorithm: "AES", length: 128 });
  await c.request("SetAttribute", [item("UniqueIdentifier", id), struct("NewAttribute", [item("LeaseTime", 100, TTLV_TYPE.Interval)])]);
  const adjust = (how: string, by?: number) =>
    c.request("AdjustAttribute", [
      item("UniqueIdentifier", id),
      item("AttributeReference", tagOfName("LeaseTime"), TTLV_TYPE.Enumeration),
      item("AdjustmentType", how),
      ...(by !== undefined ? [item("AdjustmentValue", by, TTLV_TYPE.Interval)] : []),
    ]);
  const lease = async () => (await c.getAttributes(id, ["LeaseTime"])).get("Lease Time")?.[0]?.value;
  await adjust("Increment", 20);
  t.is(await lease(), 120);
  await adjust("Decrement", 50);
  t.is(await lease(), 70);
  await rejectsWith(
    t,
    c.request("AdjustAttribute", [
      item("UniqueIdentifier", id),
      item("AttributeReference", tagOfName("CryptographicLength"), TTLV_TYPE.Enumeration),
      item("AdjustmentType", "Increment"),
    ]),
    "AttributeReadOnly",
  );
});

test("KMIP 1.4: Re-key moves the key's names to the replacement (adding any given), links both ways, and keeps the rest", async (t) => {
  const c = k.client(V1_4);
  const name = `rekeyed-${randomBytes(4).toString("hex")}`;
  const old = await c.create({ algorithm: "AES", length: 256, name });
  await c.addCustomAttribute(old, "x-team", "payments");
  await c.activate(old);
  const names = (m: Map<string, Ttlv[]>) => (m.get("Name") ?? []).map((n) => text(n, "NameValue")).sort();
  const p = await c.request("ReKey", [
    item("UniqueIdentifier", old),
    ...c.attributes([{ name: "Name", value: [item("NameValue", `${name}-v2`), item("NameType", "UninterpretedTextString")] }]),
  ]);
  const fresh = text(p, "UniqueIdentifier")!;
  t.not(fresh, old);
  const now = await attrs(c, fresh);
  t.deepEqual(names(now), [name, `${name}-v2`].sort(), "the replacement has the old name and the given one");
  t.is(now.get("x-team")?.[0]?.value, "payments", "other attributes are carried over");
  t.is(await state(c, fresh), STATE.Active, "an Active key's replacement is Active");
  const before = await attrs(c, old);
  t.deepEqual(names(before), [], "the replaced key has no name any more");
  const linked = (m: Map<string, Ttlv[]>, type: string) =>
    (m.get("Link") ?? []).filter((l) => enumText(child(l, "LinkType")!, V1_4) === type).map((l) => text(l, "LinkedObjectIdentifier"));
  t.deepEqual(linked(before, "ReplacementObjectLink"), [fresh]);
  t.deepEqual(linked(now, "ReplacedObjectLink"), [old]);
  t.deepEqual(await c.locate({ name }), [fresh], "the name finds the replacement only");
});

test("KMIP 1.4: Add and Modify Attribute answer with the attribute's Attribute Index among the values of its name", async (t) => {
  const c = k.client(V1_4);
  const base = `indexed-${randomBytes(4).toString("hex")}`;
  const id = await c.create({ algorithm: "AES", length: 128, name: base });
  const nameValue = (v: string) => struct("AttributeValue", [item("NameValue", v), item("NameType", "UninterpretedTextString")]);
  const index = (p: Ttlv) => child(child(p, "Attribute"), "AttributeIndex")?.value;
  const added = await c.request("AddAttribute", [item("UniqueIdentifier", id), struct("Attribute", [item("AttributeName", "Name"), nameValue(`${base}-b`)])]);
  t.is(index(added), 1, "the second Name is index 1");
  t.is(text(child(child(added, "Attribute"), "AttributeValue"), "NameValue"), `${base}-b`);
  const modified = await c.request("ModifyAttribute", [
    item("UniqueIdentifier", id),
    struct("Attribute", [item("AttributeName", "Name"), item("AttributeIndex", 1), nameValue(`${base}-c`)]),
  ]);
  t.is(index(modified), 1);
  const first = await c.request("AddAttribute", [
    item("UniqueIdentifier", id),
    struct("Attribute", [item("AttributeName", "x-label"), item("AttributeValue", "first", TTLV_TYPE.TextString)]),
  ]);
  t.is(index(first), undefined, "index 0 is left out");
  const deleted = await c.request("DeleteAttribute", [item("UniqueIdentifier", id), item("AttributeName", "Name"), item("AttributeIndex", 1)]);
  t.is(index(deleted), 1, "Delete answers with the index the value had");
  t.is(text(child(child(deleted, "Attribute"), "AttributeValue"), "NameValue"), `${base}-c`);
});

for (const encoding of ["TTLVEncoding", "NoEncoding"]) {
  test(`KMIP 1.4: Register imports a key wrapped under a key-encryption key kmipd holds (${encoding}); Get As Registered gives it back wrapped`, async (t) => {
    const c = k.client(V1_4);
    const kek = await activeKey(c, "WrapKey UnwrapKey");
    const kekBytes = (await c.get(kek)).material!;
    const key = new Uint8Array(randomBytes(32));
    const wrap = (plainBytes: Uint8Array, withKey = kekBytes) => {
      const w = createCipheriv("id-aes256-wrap", withKey, Buffer.from("a6a6a6a6a6a6a6a6", "hex"));
      return new Uint8Array(Buffer.concat([w.update(plainBytes), w.final()]));
    };
    const clearValue = struct("KeyValue", [item("KeyMaterial", key)]);
    const wrappedValue = (withKey?: Uint8Array) =>
      encoding === "TTLVEncoding" ? item("KeyValue", wrap(encodeTtlv(clearValue), withKey)) : struct("KeyValue", [item("KeyMaterial", wrap(key, withKey))]);
    const wrappingData = (kekId: string) =>
      struct("KeyWrappingData", [
        item("WrappingMethod", "Encrypt"),
        struct("EncryptionKeyInformation", [item("UniqueIdentifier", kekId), struct("CryptographicParameters", [item("BlockCipherMode", "NISTKeyWrap")])]),
        item("EncodingOption", encoding),
      ]);
    const register = (value: Ttlv, kekId = kek) =>
      c.request("Register", [
        item("ObjectType", "SymmetricKey"),
        ...c.attributes([{ name: "CryptographicUsageMask", value: "Encrypt Decrypt" }]),
        struct("SymmetricKey", [
          struct("KeyBlock", [
            item("KeyFormatType", "Raw"),
            value,
            item("CryptographicAlgorithm", "AES"),
            item("CryptographicLength", 256),
            wrappingData(kekId),
          ]),
        ]),
      ]);
    const id = text(await register(wrappedValue()), "UniqueIdentifier")!;
    t.deepEqual((await c.get(id)).material, key, "the key is stored unwrapped: Get returns it in the clear");
    await c.activate(id);
    const enc = await c.encrypt(id, plain, { mode: "CBC", padding: "PKCS5", iv: new Uint8Array(16) });
    const local = createCipheriv("aes-256-cbc", key, new Uint8Array(16));
    t.deepEqual(enc.data, new Uint8Array(Buffer.concat([local.update(plain), local.final()])), "and it encrypts as the imported key");
    const asRegistered = child(child(await c.request("Get", [item("UniqueIdentifier", id), item("KeyWrapType", "AsRegistered")]), "SymmetricKey"), "KeyBlock");
    t.deepEqual(child(asRegistered, "KeyValue"), wrappedValue(), "As Registered: the very wrapped Key Value that was registered");
    t.is(text(child(child(asRegistered, "KeyWrappingData"), "EncryptionKeyInformation"), "UniqueIdentifier"), kek);
    t.false((await attrs(c, id)).has("KeyWrappingData"), "how it was wrapped is not an attribute clients see");

    // Refused: a KEK that may not unwrap, bytes wrapped under another key, altered bytes, an unknown KEK.
    const wrapOnly = await activeKey(c, "WrapKey");
    const wrapOnlyValue =
      encoding === "TTLVEncoding"
        ? item("KeyValue", wrap(encodeTtlv(clearValue), (await c.get(wrapOnly)).material!))
        : wrappedValue((await c.get(wrapOnly)).material!);
    await rejectsWith(t, register(wrapOnlyValue, wrapOnly), reason(V1_4, "IncompatibleCryptographicUsageMask"), "KEK without Unwrap Key");
    await rejectsWith(t, register(wrappedValue(new Uint8Array(randomBytes(32)))), "CryptographicFailure", "wrapped under another key");
    await rejectsWith(t, register(wrappedValue(), "no-such-key"), "ItemNotFound", "unknown KEK");
  });
}
