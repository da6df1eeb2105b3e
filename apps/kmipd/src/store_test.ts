import test from "ava";
import type { ExecutionContext } from "ava";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, copyFile, cp, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { decodeTtlv, encodeTtlv, item, struct } from "@tessera/kmip";
import { isEnvelope, readEnvelopeHeader } from "@tessera/vtpm";
import { loadAttributes, storedAttributes } from "./attributes.ts";
import { migrateOwners, UNMAPPED_OWNER_PREFIX } from "./store/migrate_owners.ts";
import { startPostgres, type PostgresCluster } from "@tessera/postgres-testing";
import { openPostgresStore } from "./store/postgres_store.ts";
import { ObjectBusyError } from "./store/object_locks.ts";
import { lockSlotOf, openSqliteStore, releaseObjectLocksOf, sqliteShared } from "./store/sqlite_store.ts";
import type { AuditEntry, Store, StoredObject } from "./store/store.ts";
import { startTestKmipd, tempDir, V1_4, V2_1, waitFor, storedObject } from "./_test_support.ts";

// ---------------------------------------------------------------------------------------------------------
// A throwaway PostgreSQL cluster for this file.

let postgres: PostgresCluster | undefined;
let postgresError: string | undefined;
const sqliteDirs: string[] = [];

/** A fresh database in the test cluster; its URL. */
function createDatabase(): Promise<string> {
  if (!postgres) return Promise.reject(new Error(`PostgreSQL is not running: ${postgresError ?? "not started"}`));
  return postgres.createDatabase();
}

test.before(async () => {
  try {
    postgres = await startPostgres();
  } catch (e) {
    postgresError = (e as Error).message;
  }
});

test.after.always(async () => {
  await postgres?.stop();
  for (const d of sqliteDirs) await rm(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------
// The store contract, run against both stores.

interface Opened {
  store: Store;
  /** Opens the same database again (after `store.close()`). */
  reopen(): Promise<Store>;
  /** Opens the same database beside `store`, as another serving thread (SQLite) or process (PostgreSQL) does. */
  another(): Promise<Store>;
  /** SQLite: the memory its threads share. */
  shared?: SharedArrayBuffer;
}

const BACKENDS: { name: string; open(t: ExecutionContext): Promise<Opened> }[] = [
  {
    name: "SQLite",
    async open() {
      const dir = await tempDir();
      sqliteDirs.push(dir);
      const file = path.join(dir, "store.sqlite");
      const shared = sqliteShared();
      return {
        store: openSqliteStore(file, { shared }),
        reopen: async () => openSqliteStore(file, { shared }),
        another: async () => openSqliteStore(file, { shared, checkpointer: false }),
        shared,
      };
    },
  },
  {
    name: "PostgreSQL",
    async open(t) {
      if (!postgres) t.fail(`PostgreSQL could not be started: ${postgresError ?? "unknown reason"}`);
      const url = await createDatabase();
      return { store: await openPostgresStore(url), reopen: () => openPostgresStore(url), another: () => openPostgresStore(url) };
    },
  },
];

const obj = storedObject;

function contract(title: string, fn: (t: ExecutionContext, s: Opened) => Promise<void>): void {
  for (const b of BACKENDS) {
    test(`${b.name} store: ${title}`, async (t) => {
      const opened = await b.open(t);
      let current: Store | undefined = opened.store;
      const others: Store[] = [];
      const handle: Opened = {
        get store() {
          return current!;
        },
        async another() {
          const o = await opened.another();
          others.push(o);
          return o;
        },
        shared: opened.shared,
        async reopen() {
          await current?.close();
          current = undefined;
          current = await opened.reopen();
          return current;
        },
      };
      try {
        await fn(t, handle);
      } finally {
        for (const o of others) await o.close();
        await current?.close();
      }
    });
  }
}

contract(
  "owner names of format 1 are rewritten once as RFC 4514 subjects; ambiguous owners are unreachable, ambiguous grants dropped, each logged",
  async (t, s) => {
    const grantAttrs = (...gs: string[]) => encodeTtlv(storedAttributes(gs.map((g) => ({ name: "x-tessera-grant", value: item("AttributeValue", g, 0x07) }))));
    const bobs = obj({ owner: "O=Example,CN=bob", grants: ["CN=carol", "CN=x+y"], attributes: grantAttrs("CN=carol", "CN=x+y") });
    const plain = obj({ owner: "CN=kmipd-admin", attributes: grantAttrs() });
    const forgedLooking = obj({ owner: "CN=a+b", attributes: grantAttrs() });
    const commaInValue = obj({ owner: "CN=bob,O=Example,OU=x=y", attributes: grantAttrs("O=Example,CN=bob") });
    for (const o of [bobs, plain, forgedLooking, commaInValue]) await s.store.insert(o);
    const logs: string[] = [];
    t.is(await migrateOwners(s.store, (msg, f) => logs.push(`${msg} ${JSON.stringify(f)}`)), undefined);
    const after = async (id: string) => (await s.store.get(id))!;
    t.is((await after(bobs.id)).owner, "CN=bob,O=Example");
    t.deepEqual((await after(bobs.id)).grants, ["CN=carol"]);
    t.deepEqual(
      loadAttributes(decodeTtlv((await after(bobs.id)).attributes)).map((a) => (a.value as { value: unknown }).value),
      ["CN=carol"],
      "the grant attribute values are rewritten too",
    );
    t.is((await after(plain.id)).owner, "CN=kmipd-admin");
    t.is((await after(forgedLooking.id)).owner, `${UNMAPPED_OWNER_PREFIX}CN=a+b`);
    t.is((await after(commaInValue.id)).owner, `${UNMAPPED_OWNER_PREFIX}CN=bob,O=Example,OU=x=y`);
    t.deepEqual(
      loadAttributes(decodeTtlv((await after(commaInValue.id)).attributes)).map((a) => (a.value as { value: unknown }).value),
      ["CN=bob,O=Example"],
      "a grant attribute value is rewritten even when it is not in the grants column",
    );
    t.true(logs.some((l) => l.startsWith("owner name is ambiguous") && l.includes("CN=a+b")));
    t.true(logs.some((l) => l.startsWith("grant name is ambiguous") && l.includes("CN=x+y")));
    t.true(
      logs.some((l) => l.startsWith("stored owner and grant names rewritten") && l.includes('"objects":3')),
      logs.join("\n"),
    );
    t.deepEqual(
      (await s.store.list("CN=bob,O=Example")).map((o) => o.id),
      [bobs.id],
    );
    t.deepEqual(
      (await s.store.list("CN=carol")).map((o) => o.id),
      [bobs.id],
    );
    // Once only: a later start (or another node) finds the format recorded and changes nothing.
    const again = await s.reopen();
    logs.length = 0;
    await migrateOwners(again, (msg) => logs.push(msg));
    t.deepEqual(logs, []);
    t.is((await again.get(bobs.id))!.owner, "CN=bob,O=Example");
  },
);

contract("lock holds an object against other requests of this thread and of other threads or processes, and only that object", async (t, s) => {
  const other = await s.another();
  const id = obj().id;
  const release = await s.store.lock(id, 1_000);
  await t.throwsAsync(s.store.lock(id, 100), { instanceOf: ObjectBusyError, message: new RegExp(`object ${id} is being changed`) }, "same thread");
  await t.throwsAsync(other.lock(id, 150), { instanceOf: ObjectBusyError }, "other thread or process");
  // Another object is not held; reads are never blocked.
  (await s.store.lock(obj().id, 100))();
  (await other.lock(obj().id, 100))();
  t.is(await other.get(id), undefined);
  // Waiters get the object in turn once it is released.
  const order: string[] = [];
  const first = other.lock(id, 5_000).then((r) => (order.push("other"), r));
  const second = s.store.lock(id, 5_000).then((r) => (order.push("same"), r));
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(order, [], "nobody gets it while it is held");
  release();
  release(); // a second call does nothing
  const r1 = await Promise.race([first, second]);
  await new Promise((r) => setTimeout(r, 50));
  t.is(order.length, 1, "one waiter at a time");
  r1();
  const r2 = order[0] === "other" ? await second : await first;
  t.is(order.length, 2);
  r2();
  (await other.lock(id, 100))();
});

contract("insert then get returns the object as inserted (bytes, names, grants)", async (t, s) => {
  const o = obj({ names: ["clé ünïcode", "second"], grants: ["CN=bob"], material: new Uint8Array([0, 1, 0, 255, 0]) });
  await s.store.insert(o);
  t.deepEqual(await s.store.get(o.id), o);
  const noMaterial = obj({ material: null, objectType: 1, state: 2 });
  await s.store.insert(noMaterial);
  t.deepEqual(await s.store.get(noMaterial.id), noMaterial);
  t.is(await s.store.get("no-such-id"), undefined);
});

contract("a second insert with the same id is rejected and changes nothing", async (t, s) => {
  const o = obj({ names: ["a"] });
  await s.store.insert(o);
  await t.throwsAsync(s.store.insert({ ...o, owner: "CN=mallory", names: ["b"] }));
  t.deepEqual(await s.store.get(o.id), o);
  t.deepEqual(
    (await s.store.list("CN=mallory", { name: "b" })).map((x) => x.id),
    [],
  );
});

contract("update replaces state, attributes, material, names and grants", async (t, s) => {
  const o = obj({ names: ["old-name"] });
  await s.store.insert(o);
  const changed: StoredObject = { ...o, state: 5, attributes: new Uint8Array([9, 9, 9]), material: null, names: ["new-name"], grants: ["CN=carol"] };
  await s.store.update(changed);
  t.deepEqual(await s.store.get(o.id), changed);
  t.deepEqual(
    (await s.store.list("CN=alice", { name: "old-name" })).map((x) => x.id),
    [],
    "the old name is no longer indexed",
  );
  t.deepEqual(
    (await s.store.list("CN=alice", { name: "new-name" })).map((x) => x.id),
    [o.id],
  );
  t.deepEqual(
    (await s.store.list("CN=carol")).map((x) => x.id),
    [o.id],
    "the new grant is effective",
  );
});

contract("list: the identity's own and granted objects, in insertion order, optionally by name", async (t, s) => {
  const a1 = obj({ names: ["shared-name"] });
  const b1 = obj({ owner: "CN=bob", names: ["shared-name"] });
  const a2 = obj({ names: ["other"] });
  const b2 = obj({ owner: "CN=bob", grants: ["CN=alice"], names: ["shared-name"] });
  for (const o of [a1, b1, a2, b2]) await s.store.insert(o);
  t.deepEqual(
    (await s.store.list("CN=alice")).map((x) => x.id),
    [a1.id, a2.id, b2.id],
  );
  t.deepEqual(
    (await s.store.list("CN=bob")).map((x) => x.id),
    [b1.id, b2.id],
  );
  t.deepEqual(
    (await s.store.list("CN=alice", { name: "shared-name" })).map((x) => x.id),
    [a1.id, b2.id],
  );
  t.deepEqual(
    (await s.store.list("CN=bob", { name: "shared-name" })).map((x) => x.id),
    [b1.id, b2.id],
  );
  t.deepEqual(
    (await s.store.list("CN=bob", { name: "other" })).map((x) => x.id),
    [],
  );
  t.deepEqual(await s.store.list("CN=nobody"), []);
  const listed = (await s.store.list("CN=alice")).find((x) => x.id === b2.id);
  t.deepEqual(listed, b2, "list returns whole objects");
});

/** Runs `fn` with two SQLite stores on one file sharing their memory block, as two serving threads of kmipd are. */
async function sqliteThreads(fn: (a: Store, b: Store, shared: SharedArrayBuffer) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  sqliteDirs.push(dir);
  const file = path.join(dir, "store.sqlite");
  const shared = sqliteShared();
  const a = openSqliteStore(file, { shared });
  const b = openSqliteStore(file, { shared, checkpointer: false });
  try {
    await fn(a, b, shared);
  } finally {
    await b.close();
    await a.close();
  }
}

test("SQLite store: the objects a dead thread held are released for the threads waiting on them", (t) =>
  sqliteThreads(async (a, b, shared) => {
    const id = obj().id;
    await a.lock(id, 1_000);
    const waiting = b.lock(id, 5_000);
    // This test's stores both run on the main thread (id 0): as if thread 0 had died holding the object.
    t.is(releaseObjectLocksOf(shared, 0), 1);
    (await waiting)();
  }));

test("SQLite store: two objects sharing a lock word, both awaited by one thread while another holds it, both get it", (t) =>
  sqliteThreads(async (a, b) => {
    const id1 = obj().id;
    let id2 = obj().id;
    while (lockSlotOf(id2) !== lockSlotOf(id1)) id2 = obj().id;
    const releaseB = await b.lock(id1, 1_000);
    const first = a.lock(id1, 2_000);
    const second = a.lock(id2, 2_000);
    // Both wait for the word (not just for their turn in this thread) before it is let go.
    await new Promise((r) => setTimeout(r, 50));
    releaseB();
    // Both requests of `a` hold their objects at once: the second does not wait for the first to let go.
    const [r1, r2] = await Promise.all([first, second]);
    await t.throwsAsync(b.lock(id2, 100), { instanceOf: ObjectBusyError }, "the word stays held while either is");
    r1();
    await t.throwsAsync(b.lock(id1, 100), { instanceOf: ObjectBusyError });
    r2();
    (await b.lock(id1, 100))();
  }));

for (const [what, identities] of [
  ["case-sensitively", ["CN=ALICE", "CN=Alice", "CN=BOB"]],
  ["literally (LIKE wildcards % and _ are not wildcards)", ["CN=a_ice", "CN=_lice", "CN=%", "%", "_"]],
  ["whole (no substrings)", ["CN=alic", "alice", "CN=", "CN=alice,O=x"]],
] as const) {
  contract(`grants and owners are matched ${what}`, async (t, s) => {
    const o = obj({ owner: "CN=bob", grants: ["CN=alice"], names: ["g"] });
    await s.store.insert(o);
    for (const who of identities) {
      t.deepEqual(
        (await s.store.list(who)).map((x) => x.id),
        [],
        `list(${JSON.stringify(who)})`,
      );
      t.deepEqual(
        (await s.store.list(who, { name: "g" })).map((x) => x.id),
        [],
        `list(${JSON.stringify(who)}, by name)`,
      );
    }
    t.deepEqual(
      (await s.store.list("CN=alice")).map((x) => x.id),
      [o.id],
    );
    t.deepEqual(
      (await s.store.list("CN=bob", { name: "g" })).map((x) => x.id),
      [o.id],
    );
  });
}

contract("an object whose name is given twice is listed once by that name", async (t, s) => {
  const o = obj({ names: ["twice", "twice"] });
  await s.store.insert(o);
  t.deepEqual(
    (await s.store.list("CN=alice", { name: "twice" })).map((x) => x.id),
    [o.id],
  );
});

contract("the audit log keeps records in order, newest last, with null object ids; limit keeps the newest", async (t, s) => {
  const at = Date.now();
  const entries: AuditEntry[] = Array.from({ length: 7 }, (_, i) => ({
    at: at + i,
    identity: i % 2 ? "CN=bob" : "CN=alice",
    operation: ["Create", "Get", "Locate"][i % 3],
    objectId: i === 2 ? null : `obj-${i}`,
    result: i === 4 ? "OperationFailed ItemNotFound" : "Success",
  }));
  await s.store.audit(entries.slice(0, 3));
  await s.store.audit([]);
  await s.store.audit(entries.slice(3));
  t.deepEqual(await s.store.auditLog(), entries);
  t.deepEqual(await s.store.auditLog(3), entries.slice(4));
  t.deepEqual(await s.store.auditLog(1), entries.slice(6));
});

contract("objects and the audit log survive close and reopen", async (t, s) => {
  const o = obj({ names: ["durable"] });
  await s.store.insert(o);
  await s.store.audit([{ at: 1, identity: "CN=alice", operation: "Create", objectId: o.id, result: "Success" }]);
  const again = await s.reopen();
  t.deepEqual(await again.get(o.id), o);
  t.deepEqual(
    (await again.list("CN=alice", { name: "durable" })).map((x) => x.id),
    [o.id],
  );
  t.deepEqual(await again.auditLog(), [{ at: 1, identity: "CN=alice", operation: "Create", objectId: o.id, result: "Success" }]);
});

// ---------------------------------------------------------------------------------------------------------
// kmipd itself on PostgreSQL.

test("kmipd with --database postgres://… : Create / Register / Get / Locate round trip, objects and audit in PostgreSQL", async (t) => {
  if (!postgres) t.fail(`PostgreSQL could not be started: ${postgresError ?? "unknown reason"}`);
  const url = await createDatabase();
  const dataDir = await tempDir();
  sqliteDirs.push(dataDir);
  await mkdir(dataDir, { recursive: true });
  const k = await startTestKmipd({ database: url, dataDir });
  try {
    for (const version of [V1_4, V2_1]) {
      const c = k.client(version);
      const id = await c.create({ algorithm: "AES", length: 256, name: `pg-${version.major}` });
      const got = await c.get(id);
      t.is(got.material?.length, 32);
      const material = new Uint8Array(randomBytes(16));
      const reg = await c.register({ objectType: "SymmetricKey", material });
      t.deepEqual((await c.get(reg)).material, material);
      t.deepEqual(await c.locate({ name: `pg-${version.major}` }), [id]);
    }
    t.false(existsSync(path.join(dataDir, "kmipd.sqlite")), "no SQLite file when PostgreSQL is configured");
  } finally {
    await k.close();
  }
  // Look at the database directly: the objects are there, their material wrapped.
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const objects = await c.query<{ id: string; owner: string; material: Buffer }>("SELECT id, owner, material FROM kmip_objects");
    t.is(objects.rows.length, 4);
    t.true(objects.rows.every((r) => r.owner === "CN=kmipd-admin"));
    for (const r of objects.rows) {
      // Wrapped by the master key in the envelope, bound to the object's id.
      t.true(isEnvelope(r.material), `object ${r.id}: material is an envelope`);
      const h = readEnvelopeHeader(r.material);
      t.like(h, { context: r.id, provider: { name: "master-key", kind: "local" } });
      t.true(h.contentLength === 16 || h.contentLength === 32, `object ${r.id}: ${h.contentLength} bytes of key material`);
    }
    const audit = await c.query<{ operation: string; result: string }>("SELECT operation, result FROM kmip_audit ORDER BY seq");
    t.deepEqual(
      audit.rows.map((r) => r.operation),
      ["Create", "Get", "Register", "Get", "Locate", "Create", "Get", "Register", "Get", "Locate"],
    );
    t.true(audit.rows.every((r) => r.result === "Success"));
  } finally {
    await c.end();
  }
});

for (const backend of ["SQLite", "PostgreSQL"] as const) {
  test(`kmipd on ${backend}: Locate by a Name the object carries twice returns the object once`, async (t) => {
    let database: string | undefined;
    if (backend === "PostgreSQL") {
      if (!postgres) t.fail(`PostgreSQL could not be started: ${postgresError ?? "unknown reason"}`);
      database = await createDatabase();
    }
    const k = await startTestKmipd({ database });
    try {
      const c = k.client(V1_4);
      const name = `dup-${backend}`;
      // Add Attribute refuses a Name the object already has (NonUniqueNameAttribute); Create may still carry it twice.
      const nameValue = [item("NameValue", name), item("NameType", "UninterpretedTextString")];
      const id = await c.create({ algorithm: "AES", length: 128, name, attributes: [{ name: "Name", value: nameValue }] });
      const dup = await c.batch([
        {
          operation: "AddAttribute",
          payload: [item("UniqueIdentifier", id), struct("Attribute", [item("AttributeName", "Name"), struct("AttributeValue", nameValue)])],
        },
      ]);
      t.true(dup[0] instanceof Error, "adding the same Name again is refused");
      t.is((await c.getAttributes(id, ["Name"])).get("Name")?.length, 2, "the object has the name twice");
      t.deepEqual(await c.locate({ name }), [id]);
    } finally {
      await k.close();
    }
  });
}

test("kmipd --threads 2 on PostgreSQL: keys created through either thread are seen, changed and audited through the other", async (t) => {
  if (!postgres) t.fail(`PostgreSQL could not be started: ${postgresError ?? "unknown reason"}`);
  const database = await createDatabase();
  const k = await startTestKmipd({ database, threads: 2 });
  try {
    // 16 clients (connections) spread over both serving threads by the kernel.
    const clients = Array.from({ length: 16 }, () => k.client(V2_1));
    const ids = await Promise.all(clients.map((c) => c.create({ algorithm: "AES", length: 256 })));
    for (const [i, c] of clients.entries()) await c.activate(ids[(i + 1) % 16]);
    for (const [i, c] of clients.entries()) t.is((await c.getAttributes(ids[(i + 3) % 16], ["State"])).get("State")?.[0]?.value, 2);
    await waitFor(async () => (await k.kmipd.store.auditLog(1000)).length >= 48, 5_000, "the audit records of both threads");
    t.is((await k.kmipd.store.auditLog(1000)).length, 48);
  } finally {
    await k.close();
  }
});

test("two kmipd nodes on one PostgreSQL database (sharing the master key and CA): usage limits and attribute changes hold across nodes", async (t) => {
  if (!postgres) t.fail(`PostgreSQL could not be started: ${postgresError ?? "unknown reason"}`);
  const database = await createDatabase();
  const a = await startTestKmipd({ database });
  // The second node is given the first's master key (0600) and TLS material, as a cluster's nodes are.
  const dirB = await tempDir();
  sqliteDirs.push(dirB);
  await cp(path.join(a.dataDir, "tls"), path.join(dirB, "tls"), { recursive: true });
  await copyFile(path.join(a.dataDir, "master.key"), path.join(dirB, "master.key"));
  await chmod(path.join(dirB, "master.key"), 0o600);
  const b = await startTestKmipd({ database, dataDir: dirB });
  try {
    const owner = a.client(V1_4);
    const limits = [item("UsageLimitsTotal", 20n), item("UsageLimitsCount", 20n), item("UsageLimitsUnit", "Object")];
    const id = await owner.create({ algorithm: "AES", length: 256, attributes: [{ name: "UsageLimits", value: limits }] });
    await owner.activate(id);
    t.is((await b.client(V1_4).getAttributes(id, ["State"])).get("State")?.[0]?.value, 2, "the second node sees the first's key");
    const clients = [...Array.from({ length: 4 }, () => a.client(V1_4)), ...Array.from({ length: 4 }, () => b.client(V1_4))];
    const results = await Promise.allSettled(clients.flatMap((c) => Array.from({ length: 6 }, () => c.encrypt(id, new Uint8Array(16), { mode: "GCM" }))));
    t.is(results.filter((r) => r.status === "fulfilled").length, 20, "exactly as many Encrypts as the limit allows, over both nodes");
    await Promise.all(clients.map((c, i) => Promise.all(Array.from({ length: 3 }, (_, j) => c.addCustomAttribute(id, "x-node", `${i}-${j}`)))));
    t.is((await owner.getAttributes(id, ["x-node"])).get("x-node")?.length, 24, "every value added through either node is kept");
  } finally {
    await b.close();
    await a.close();
  }
});
