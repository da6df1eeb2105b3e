import test from "ava";
import { generateKeyPairSync } from "node:crypto";
import path from "node:path";
import { rm } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { encodeTtlv, item, struct, text } from "@tessera/kmip";
import { attributesFor, kmipdForTests, rawRequest, rejectsWith, storedObject, tempDir, V1_4, waitFor } from "./_test_support.ts";
import { openSqliteStore } from "./store/sqlite_store.ts";

const k = kmipdForTests();

test("Signature Verify with a key that cannot verify is a Cryptographic Failure naming why, not Invalid", async (t) => {
  const c = k.client(V1_4);
  const spki = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" });
  const id = text(
    await c.request("Register", [
      item("ObjectType", "PublicKey"),
      attributesFor(V1_4, "TemplateAttribute", "Attributes", [{ name: "CryptographicUsageMask", value: "Verify" }]),
      struct("PublicKey", [
        struct("KeyBlock", [
          item("KeyFormatType", "X_509"),
          struct("KeyValue", [item("KeyMaterial", new Uint8Array(spki))]),
          item("CryptographicAlgorithm", "ECDSA"),
        ]),
      ]),
    ]),
    "UniqueIdentifier",
  )!;
  await c.activate(id);
  const e = await rejectsWith(
    t,
    c.request("SignatureVerify", [
      item("UniqueIdentifier", id),
      struct("CryptographicParameters", [item("HashingAlgorithm", "SHA_256")]),
      item("Data", new Uint8Array(8)),
      item("SignatureData", new Uint8Array(64)),
    ]),
    "CryptographicFailure",
  );
  t.regex(e?.message ?? "", /ed25519 key, sha256\) cannot run/);
});

test("a connection that fails is logged with its identity, address and error", async (t) => {
  const tcp = tcpConnect(k.port, k.host);
  tcp.on("error", () => undefined);
  const s = tlsConnect({ socket: tcp, cert: k.alice.cert, key: k.alice.key, ca: k.caPem, servername: "localhost" });
  s.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    s.once("secureConnect", resolve);
    s.once("error", reject);
  });
  // Half a request, then a TCP reset.
  s.write(encodeTtlv(rawRequest(V1_4, [{ operation: "Query" }])).subarray(0, 20));
  await new Promise((r) => setTimeout(r, 200));
  tcp.resetAndDestroy();
  await waitFor(() => k.logs.some((l) => l.msg === "connection error"), 30_000, "the connection error to be logged");
  const line = k.logs.find((l) => l.msg === "connection error")!;
  t.is(line.fields.identity, "CN=kmipd-admin");
  t.is(line.fields.remote, "127.0.0.1");
  t.is(line.fields.code, "ECONNRESET");
});

test("a WAL checkpointer thread that dies is logged and restarted; writes go on", async (t) => {
  const dir = await tempDir();
  const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
  const store = openSqliteStore(path.join(dir, "s.sqlite"), { log: (msg, fields) => logs.push({ msg, fields }) });
  try {
    await store.insert(storedObject());
    await store.crashCheckpointer();
    t.true(
      logs.some((l) => l.msg === "WAL checkpointer thread died; restarting it" && l.fields?.file !== undefined),
      JSON.stringify(logs),
    );
    const o = storedObject();
    await store.insert(o);
    t.is((await store.get(o.id))?.id, o.id);
    // It keeps dying: after a few restarts in a minute it is left down, and that is said too.
    for (let i = 0; i < 4; i++) await store.crashCheckpointer();
    const last = store.crashCheckpointer().catch(() => undefined);
    await waitFor(() => logs.some((l) => l.msg.startsWith("WAL checkpointer thread keeps dying")), 30_000, "giving up to be logged");
    void last;
    await store.insert(storedObject());
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
