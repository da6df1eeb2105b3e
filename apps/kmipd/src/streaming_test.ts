import test from "ava";
import { createCipheriv, randomBytes } from "node:crypto";
import { bytes, child, enumName, item, type KmipVersion, RESULT_STATUS, struct, type Ttlv } from "@tessera/kmip";
import type { KmipConnection } from "@tessera/kmip-client";
import { exchange, rawRequest, startTestKmipd, V1_4, V2_1, kmipdForTests } from "./_test_support.ts";

const k = kmipdForTests();
const cat = (...parts: (Uint8Array | undefined)[]) => new Uint8Array(Buffer.concat(parts.filter((p): p is Uint8Array => p !== undefined)));

async function call(conn: KmipConnection, version: KmipVersion, operation: string, payload: Ttlv[]) {
  const { res } = await exchange(conn, rawRequest(version, [{ operation, payload }]));
  return res.items[0]!;
}

async function newKey(algorithm: string, length: number, material?: Uint8Array): Promise<string> {
  const c = k.client(V2_1);
  const id = material
    ? await c.register({ objectType: "SymmetricKey", material, algorithm, usage: "Encrypt Decrypt" })
    : await c.create({ algorithm, length, usage: "Encrypt Decrypt" });
  await c.activate(id);
  return id;
}

const gcm = (tag = 16) => struct("CryptographicParameters", [item("BlockCipherMode", "GCM"), item("TagLength", tag)]);

test("a GCM encryption streamed in three requests gives the one-shot ciphertext and tag, and streams back to the plaintext", async (t) => {
  const key = new Uint8Array(randomBytes(32));
  const id = await newKey("AES", 256, key);
  const conn = await k.connect();
  const iv = new Uint8Array(randomBytes(12));
  const aad = new Uint8Array(randomBytes(20));
  const parts = [randomBytes(40), randomBytes(33), randomBytes(7)].map((b) => new Uint8Array(b));
  const first = await call(conn, V2_1, "Encrypt", [
    item("UniqueIdentifier", id),
    gcm(),
    item("Data", parts[0]),
    item("IVCounterNonce", iv),
    item("InitIndicator", true),
    item("AuthenticatedEncryptionAdditionalData", aad),
  ]);
  t.is(first.resultStatus, RESULT_STATUS.Success, first.resultMessage);
  const corr = bytes(first.payload, "CorrelationValue");
  t.truthy(corr);
  t.is(child(first.payload, "AuthenticatedEncryptionTag"), undefined, "the tag comes with the last part");
  const middle = await call(conn, V2_1, "Encrypt", [item("UniqueIdentifier", id), item("Data", parts[1]), item("CorrelationValue", corr!)]);
  t.deepEqual(bytes(middle.payload, "CorrelationValue"), corr, "the same Correlation Value for the whole stream");
  const last = await call(conn, V2_1, "Encrypt", [
    item("UniqueIdentifier", id),
    item("Data", parts[2]),
    item("CorrelationValue", corr!),
    item("FinalIndicator", true),
  ]);
  t.is(child(last.payload, "CorrelationValue"), undefined);
  const ciphertext = cat(bytes(first.payload, "Data"), bytes(middle.payload, "Data"), bytes(last.payload, "Data"));
  const tag = bytes(last.payload, "AuthenticatedEncryptionTag")!;
  const ref = createCipheriv("aes-256-gcm", key, iv);
  ref.setAAD(aad);
  t.deepEqual(ciphertext, cat(ref.update(cat(...parts)), ref.final()));
  t.deepEqual(tag, new Uint8Array(ref.getAuthTag()));

  // Decrypt streamed too; the tag is checked by the last request.
  const d1 = await call(conn, V2_1, "Decrypt", [
    item("UniqueIdentifier", id),
    gcm(),
    item("Data", ciphertext.subarray(0, 50)),
    item("IVCounterNonce", iv),
    item("InitIndicator", true),
    item("AuthenticatedEncryptionAdditionalData", aad),
  ]);
  const dc = bytes(d1.payload, "CorrelationValue")!;
  const d2 = await call(conn, V2_1, "Decrypt", [
    item("UniqueIdentifier", id),
    item("Data", ciphertext.subarray(50)),
    item("CorrelationValue", dc),
    item("FinalIndicator", true),
    item("AuthenticatedEncryptionTag", tag),
  ]);
  t.is(d2.resultStatus, RESULT_STATUS.Success, d2.resultMessage);
  t.deepEqual(cat(bytes(d1.payload, "Data"), bytes(d2.payload, "Data")), cat(...parts));

  // A wrong tag fails at the end of the stream.
  const e1 = await call(conn, V2_1, "Decrypt", [
    item("UniqueIdentifier", id),
    gcm(),
    item("Data", ciphertext),
    item("IVCounterNonce", iv),
    item("InitIndicator", true),
  ]);
  const bad = new Uint8Array(tag);
  bad[0] ^= 1;
  const e2 = await call(conn, V2_1, "Decrypt", [
    item("UniqueIdentifier", id),
    item("CorrelationValue", bytes(e1.payload, "CorrelationValue")!),
    item("FinalIndicator", true),
    item("AuthenticatedEncryptionTag", bad),
  ]);
  t.is(e2.resultStatus, RESULT_STATUS.OperationFailed);
  t.is(enumName("ResultReason", e2.resultReason!, V2_1), "CryptographicFailure");
});

test("a CBC stream holds back partial blocks, and an ended stream cannot be continued", async (t) => {
  const key = new Uint8Array(randomBytes(16));
  const id = await newKey("AES", 128, key);
  const conn = await k.connect();
  const iv = new Uint8Array(randomBytes(16));
  const cbc = struct("CryptographicParameters", [item("BlockCipherMode", "CBC"), item("PaddingMethod", "PKCS5")]);
  const a = await call(conn, V1_4, "Encrypt", [
    item("UniqueIdentifier", id),
    cbc,
    item("Data", new Uint8Array(10)),
    item("IVCounterNonce", iv),
    item("InitIndicator", true),
  ]);
  t.is(child(a.payload, "Data"), undefined, "10 bytes are not a block yet: no Data");
  const corr = bytes(a.payload, "CorrelationValue")!;
  const b = await call(conn, V1_4, "Encrypt", [
    item("UniqueIdentifier", id),
    item("Data", new Uint8Array(30)),
    item("CorrelationValue", corr),
    item("FinalIndicator", true),
  ]);
  const ref = createCipheriv("aes-128-cbc", key, iv);
  t.deepEqual(bytes(b.payload, "Data"), cat(ref.update(new Uint8Array(40)), ref.final()));
  const again = await call(conn, V1_4, "Encrypt", [item("UniqueIdentifier", id), item("Data", new Uint8Array(1)), item("CorrelationValue", corr)]);
  t.is(again.resultStatus, RESULT_STATUS.OperationFailed);
  t.regex(again.resultMessage ?? "", /no Encrypt stream/);
  t.is(enumName("ResultReason", again.resultReason!, V1_4), "InvalidField", "KMIP 1.x has no Invalid Correlation Value");
  const again2 = await call(conn, V2_1, "Encrypt", [item("UniqueIdentifier", id), item("Data", new Uint8Array(1)), item("CorrelationValue", corr)]);
  t.is(enumName("ResultReason", again2.resultReason!, V2_1), "InvalidCorrelationValue");
});

test("another client cannot continue a stream, even with its Correlation Value and access to the key", async (t) => {
  const id = await newKey("AES", 256);
  const conn = await k.connect();
  const start = await call(conn, V2_1, "Encrypt", [
    item("UniqueIdentifier", id),
    gcm(),
    item("Data", new Uint8Array(16)),
    item("IVCounterNonce", new Uint8Array(12)),
    item("InitIndicator", true),
  ]);
  const corr = bytes(start.payload, "CorrelationValue")!;
  const bob = await k.issueClient("bob-streams");
  // The key is shared with bob: he may use it, but the stream is alice's.
  await k.client(V2_1).addCustomAttribute(id, "tessera-grant", "CN=bob-streams");
  const other = await k.connect(bob);
  const r = await call(other, V2_1, "Encrypt", [
    item("UniqueIdentifier", id),
    item("Data", new Uint8Array(16)),
    item("CorrelationValue", corr),
    item("FinalIndicator", true),
  ]);
  t.is(r.resultStatus, RESULT_STATUS.OperationFailed);
  t.is(enumName("ResultReason", r.resultReason!, V2_1), "InvalidCorrelationValue", r.resultMessage);
  const own = await call(other, V2_1, "Encrypt", [
    item("UniqueIdentifier", id),
    gcm(),
    item("Data", new Uint8Array(16)),
    item("IVCounterNonce", new Uint8Array(12)),
  ]);
  t.is(own.resultStatus, RESULT_STATUS.Success, "bob may use the key itself");
  // Alice's stream is untouched.
  const end = await call(conn, V2_1, "Encrypt", [item("UniqueIdentifier", id), item("CorrelationValue", corr), item("FinalIndicator", true)]);
  t.is(end.resultStatus, RESULT_STATUS.Success, end.resultMessage);
  t.is(bytes(end.payload, "AuthenticatedEncryptionTag")?.length, 16);
});

test("ChaCha20 (RFC 8439 §2.4.2) and ChaCha20-Poly1305 (§2.8.2) with the RFC's vectors; a tampered ciphertext fails", async (t) => {
  const conn = await k.connect();
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  const plaintext = new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const chacha = await newKey("ChaCha20", 256, key);
  // §2.4.2: nonce 000000000000004a00000000, initial counter 1 (given here as the 16-byte counter || nonce).
  const iv = Buffer.from("01000000000000000000004a00000000", "hex");
  const enc = await call(conn, V2_1, "Encrypt", [
    item("UniqueIdentifier", chacha),
    struct("CryptographicParameters", []),
    item("Data", plaintext),
    item("IVCounterNonce", new Uint8Array(iv)),
  ]);
  t.is(Buffer.from(bytes(enc.payload, "Data")!).toString("hex").slice(0, 32), "6e2e359a2568f98041ba0728dd0d6981");

  const aeadKey = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
  const poly = await newKey("ChaCha20Poly1305", 256, aeadKey);
  const nonce = new Uint8Array(Buffer.from("070000004041424344454647", "hex"));
  const aad = new Uint8Array(Buffer.from("50515253c0c1c2c3c4c5c6c7", "hex"));
  const params = struct("CryptographicParameters", [item("BlockCipherMode", "AEAD"), item("TagLength", 16)]);
  const sealed = await call(conn, V2_1, "Encrypt", [
    item("UniqueIdentifier", poly),
    params,
    item("Data", plaintext),
    item("IVCounterNonce", nonce),
    item("AuthenticatedEncryptionAdditionalData", aad),
  ]);
  t.is(Buffer.from(bytes(sealed.payload, "AuthenticatedEncryptionTag")!).toString("hex"), "1ae10b594f09e26a7e902ecbd0600691");
  const ct = bytes(sealed.payload, "Data")!;
  const tampered = new Uint8Array(ct);
  tampered[3] ^= 0x40;
  const opened = await call(conn, V2_1, "Decrypt", [
    item("UniqueIdentifier", poly),
    params,
    item("Data", tampered),
    item("IVCounterNonce", nonce),
    item("AuthenticatedEncryptionAdditionalData", aad),
    item("AuthenticatedEncryptionTag", bytes(sealed.payload, "AuthenticatedEncryptionTag")!),
  ]);
  t.is(opened.resultStatus, RESULT_STATUS.OperationFailed);
  t.is(enumName("ResultReason", opened.resultReason!, V2_1), "CryptographicFailure");
});

test("a GCM tag length the mode does not allow is refused (General Failure, as the OASIS GCM case expects)", async (t) => {
  const id = await newKey("AES", 128);
  const conn = await k.connect();
  for (const len of [1, 3, 9, 17]) {
    const r = await call(conn, V2_1, "Encrypt", [
      item("UniqueIdentifier", id),
      gcm(len),
      item("Data", new Uint8Array(16)),
      item("IVCounterNonce", new Uint8Array(12)),
    ]);
    t.is(r.resultStatus, RESULT_STATUS.OperationFailed, `tag of ${len}`);
    t.is(enumName("ResultReason", r.resultReason!, V2_1), "GeneralFailure");
  }
  for (const len of [4, 8, 12, 16]) {
    const r = await call(conn, V2_1, "Encrypt", [
      item("UniqueIdentifier", id),
      gcm(len),
      item("Data", new Uint8Array(16)),
      item("IVCounterNonce", new Uint8Array(12)),
    ]);
    t.is(bytes(r.payload, "AuthenticatedEncryptionTag")?.length, len);
  }
});

test("with two serving threads, a stream continued on a connection the other thread serves is told where the stream lives", async (t) => {
  const k2 = await startTestKmipd({ threads: 2 });
  try {
    const c = k2.client(V2_1);
    const id = await c.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt" });
    await c.activate(id);
    const began = await k2.connect();
    const first = await call(began, V2_1, "Encrypt", [item("UniqueIdentifier", id), gcm(), item("Data", new Uint8Array(16)), item("InitIndicator", true)]);
    const corr = bytes(first.payload, "CorrelationValue")!;
    // 16 more connections: the kernel spreads them over both threads. Those of the other thread refuse the stream
    // and say why; none of them ends it.
    const others = await Promise.all(Array.from({ length: 16 }, () => k2.connect()));
    const answers = await Promise.all(
      others.map((o) => call(o, V2_1, "Encrypt", [item("UniqueIdentifier", id), item("Data", new Uint8Array(16)), item("CorrelationValue", corr)])),
    );
    const elsewhere = answers.filter((a) => a.resultStatus === RESULT_STATUS.OperationFailed && /begun on another connection/.test(a.resultMessage ?? ""));
    t.true(elsewhere.length > 0, "some connections are served by the other thread");
    t.is(enumName("ResultReason", elsewhere[0].resultReason!, V2_1), "InvalidCorrelationValue");
    // On its own connection the stream goes on (unless a connection of its own thread continued it above).
    const sameThread = answers.filter((a) => a.resultStatus === RESULT_STATUS.Success).length;
    const last = await call(began, V2_1, "Encrypt", [item("UniqueIdentifier", id), item("CorrelationValue", corr), item("FinalIndicator", true)]);
    t.is(last.resultStatus, RESULT_STATUS.Success, `the stream still ends on its own connection (${sameThread} continued it on the same thread)`);
  } finally {
    await k2.close();
  }
});
