import test from "ava";
import { randomBytes } from "node:crypto";
import { readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { item, RESULT_STATUS, struct, text, TTLV_TYPE } from "@tessera/kmip";
import { type ClientTls, KmipClient, KmipConnection } from "@tessera/kmip-client";
import { type KmipdProcess, loadConfig, spawnKmipd as spawnKmipdProcess, startKmipd } from "./app.ts";
import { aesGcmKeyring } from "@tessera/service";
import { startServer } from "./server.ts";
import { openSqliteStore } from "./store/sqlite_store.ts";
import type { Store } from "./store/store.ts";
import { exchange, rawRequest, tempDir, V1_4, waitFor } from "./_test_support.ts";

const children: KmipdProcess[] = [];
const dirs: string[] = [];

test.after.always(async () => {
  for (const c of children) if (c.running()) c.proc.kill("SIGKILL");
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Starts `node main.ts` on `dataDir` as a child process and waits until it listens. */
async function spawnKmipd(dataDir: string): Promise<KmipdProcess> {
  // Two serving threads whatever the machine: a write answered by either must survive.
  const c = await spawnKmipdProcess(["--listen", "127.0.0.1:0", "--data-dir", dataDir, "--threads", "2"]);
  children.push(c);
  return c;
}

async function clientTls(dataDir: string): Promise<ClientTls> {
  const d = path.join(dataDir, "tls");
  return {
    cert: await readFile(path.join(d, "client.pem"), "utf8"),
    key: await readFile(path.join(d, "client-key.pem"), "utf8"),
    ca: await readFile(path.join(d, "ca.pem"), "utf8"),
  };
}

function includesBytes(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(Buffer.from(needle)) >= 0;
}

async function readIfExists(f: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(f));
  } catch {
    return new Uint8Array();
  }
}

test("answered Create and Register survive kill -9; key material is never in clear in the SQLite files; master key is 0600", async (t) => {
  const dir = await tempDir();
  dirs.push(dir);
  const first = await spawnKmipd(dir);
  const tls = await clientTls(dir);
  const c1 = new KmipClient({ servers: [{ host: "127.0.0.1", port: first.port }], tls, version: V1_4, timeoutMs: 15_000 });
  const created = await c1.create({ algorithm: "AES", length: 256, name: "durable-created" });
  const createdMaterial = (await c1.get(created)).material!;
  const registeredMaterial = new Uint8Array(randomBytes(32));
  const registered = await c1.register({ objectType: "SymmetricKey", material: registeredMaterial, name: "durable-registered" });
  await c1.activate(created);
  c1.close();

  first.proc.kill("SIGKILL");
  const ex = await first.exited;
  t.is(ex.signal, "SIGKILL");

  const mk = await stat(path.join(dir, "master.key"));
  t.is(mk.mode & 0o777, 0o600, "master.key is 0600");
  t.is(mk.size, 32);
  const masterKey = new Uint8Array(await readFile(path.join(dir, "master.key")));
  const db = await readIfExists(path.join(dir, "kmipd.sqlite"));
  const wal = await readIfExists(path.join(dir, "kmipd.sqlite-wal"));
  t.true(db.length + wal.length > 0, "the SQLite files exist");
  for (const [what, needle] of [
    ["registered key", registeredMaterial],
    ["created key", createdMaterial],
    ["master key", masterKey],
  ] as const) {
    t.false(includesBytes(db, needle), `${what} in clear in kmipd.sqlite`);
    t.false(includesBytes(wal, needle), `${what} in clear in kmipd.sqlite-wal`);
  }

  const second = await spawnKmipd(dir);
  const c2 = new KmipClient({ servers: [{ host: "127.0.0.1", port: second.port }], tls, version: V1_4, timeoutMs: 15_000 });
  try {
    t.deepEqual((await c2.get(created)).material, createdMaterial, "created key after restart");
    t.deepEqual((await c2.get(registered)).material, registeredMaterial, "registered key after restart");
    t.is((await c2.getAttributes(created, ["State"])).get("State")?.[0]?.value, 2, "the answered Activate survived too");
    t.deepEqual(await c2.locate({ name: "durable-registered" }), [registered]);
  } finally {
    c2.close();
  }
  second.proc.kill("SIGTERM");
  t.is((await second.exited).code, 0);
});

test("SIGTERM drains: a request in flight completes, then the process exits 0", async (t) => {
  const dir = await tempDir();
  dirs.push(dir);
  const child = await spawnKmipd(dir);
  const conn = await KmipConnection.open({ host: "127.0.0.1", port: child.port }, await clientTls(dir), 5_000);
  // RSA-4096 generation takes a while: the request is in flight when SIGTERM arrives.
  const pending = exchange(
    conn,
    rawRequest(V1_4, [
      {
        operation: "CreateKeyPair",
        payload: [
          struct("CommonTemplateAttribute", [
            struct("Attribute", [item("AttributeName", "Cryptographic Algorithm"), item("AttributeValue", 4, TTLV_TYPE.Enumeration)]),
            struct("Attribute", [item("AttributeName", "Cryptographic Length"), item("AttributeValue", 4096, TTLV_TYPE.Integer)]),
          ]),
        ],
      },
    ]),
  );
  await new Promise((r) => setTimeout(r, 50));
  child.proc.kill("SIGTERM");
  const { res } = await pending;
  t.is(res.items[0]?.resultStatus, RESULT_STATUS.Success, res.items[0]?.resultMessage);
  t.truthy(text(res.items[0]?.payload, "PrivateKeyUniqueIdentifier"));
  let timer: NodeJS.Timeout | undefined;
  const ex = await Promise.race([child.exited, new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), 15_000)))]);
  clearTimeout(timer);
  t.not(ex, "timeout", "kmipd did not exit within 15 s of SIGTERM");
  if (ex !== "timeout") t.is(ex.code, 0, child.stderr());
  t.regex(child.stdout(), /draining connections/);
  conn.close();
});

test("in-process close() waits for a slow request in flight, answers it, and stops accepting", async (t) => {
  const dir = await tempDir();
  dirs.push(dir);
  const k = await startKmipd(loadConfig(["--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "silent"], {}));
  const tlsFiles = k.generatedTls!;
  await k.close(); // only wanted its TLS material
  const inner = openSqliteStore(path.join(dir, "slow.sqlite"));
  let inserting = false;
  const slow: Store = {
    ...inner,
    async insert(o) {
      inserting = true;
      await new Promise((r) => setTimeout(r, 700));
      await inner.insert(o);
    },
  };
  const server = await startServer(
    { store: slow, keyring: aesGcmKeyring(new Uint8Array(32).fill(1)) },
    {
      host: "127.0.0.1",
      port: 0,
      certPem: await readFile(path.join(dir, "tls", "server.pem"), "utf8"),
      keyPem: await readFile(path.join(dir, "tls", "server-key.pem"), "utf8"),
      clientCaPem: await readFile(tlsFiles.caCertFile, "utf8"),
    },
  );
  const tls = await clientTls(dir);
  const conn = await KmipConnection.open({ host: "127.0.0.1", port: server.port }, tls, 5_000);
  const pending = exchange(
    conn,
    rawRequest(V1_4, [
      {
        operation: "Register",
        payload: [
          item("ObjectType", "SecretData"),
          struct("SecretData", [
            item("SecretDataType", "Password"),
            struct("KeyBlock", [item("KeyFormatType", "Opaque"), struct("KeyValue", [item("KeyMaterial", new Uint8Array([1, 2, 3]))])]),
          ]),
        ],
      },
    ]),
  );
  await waitFor(() => inserting, 5_000, "the request to reach the store");
  const closed = server.close();
  const { res } = await pending;
  t.is(res.items[0]?.resultStatus, RESULT_STATUS.Success, res.items[0]?.resultMessage);
  // close() ends the drained connection itself: waiting for the 5-minute idle timeout would fail the test's timeout.
  await closed;
  await t.throwsAsync(KmipConnection.open({ host: "127.0.0.1", port: server.port }, tls, 2_000), undefined, "no new connections after close()");
  const id = text(res.items[0].payload, "UniqueIdentifier")!;
  t.truthy(await inner.get(id), "the answered Register is stored");
  await inner.close();
});

test("a request with a wrongly typed UniqueIdentifier does not kill the kmipd process", async (t) => {
  const dir = await tempDir();
  dirs.push(dir);
  const child = await spawnKmipd(dir);
  const tls = await clientTls(dir);
  const conn = await KmipConnection.open({ host: "127.0.0.1", port: child.port }, tls, 5_000);
  const r = await exchange(conn, rawRequest(V1_4, [{ operation: "Get", payload: [item("UniqueIdentifier", 42, TTLV_TYPE.Integer)] }])).then(
    (x) => x.res,
    (e: Error) => e,
  );
  conn.close();
  await new Promise((res) => setTimeout(res, 300));
  t.true(child.running(), `kmipd died: ${child.stderr().split("\n").slice(0, 8).join("\n")}`);
  t.false(r instanceof Error, r instanceof Error ? r.message : "");
  if (!(r instanceof Error)) t.is(r.items[0]?.resultStatus, RESULT_STATUS.OperationFailed);
  if (child.running()) {
    const c = new KmipClient({ servers: [{ host: "127.0.0.1", port: child.port }], tls, timeoutMs: 5_000 });
    t.true((await c.discoverVersions()).length > 0);
    c.close();
    child.proc.kill("SIGTERM");
    await child.exited;
  }
});
