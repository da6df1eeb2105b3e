/**
 * kmxd's store on SQLite and on a real PostgreSQL (@tessera/postgres-testing): providers with their versions and
 * grants, the revision counter every change moves, trust set-ups, clusters, the audit trail and its filters, and
 * on PostgreSQL two stores (two nodes) racing: one provider created once, rotations numbered without gaps.
 */
import test from "ava";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { postgresForTests } from "@tessera/postgres-testing";
import { openDatabase } from "@tessera/sql";
import { openKmxdStore } from "./sql_store.ts";
import type { KmxdStore, ProviderRecord } from "./store.ts";

const ROOT = path.resolve(import.meta.dirname, "../../../..");
const dirs: string[] = [];
const toClose: KmxdStore[] = [];

test.after.always(async () => {
  for (const s of toClose) await s.close().catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
// After the hook above: the connections close before the server stops.
const pg = postgresForTests(test);

interface Backend {
  name: string;
  /** A fresh database; `open()` opens another store (connection) on it. */
  fresh(): Promise<() => Promise<KmxdStore>>;
}

async function track(s: Promise<KmxdStore>): Promise<KmxdStore> {
  const store = await s;
  toClose.push(store);
  return store;
}

const BACKENDS: Backend[] = [
  {
    name: "SQLite",
    async fresh() {
      const dir = await mkdtemp(path.join(tmpdir(), "kmxd-store-"));
      dirs.push(dir);
      return () => track(openDatabase({ sqlite: path.join(dir, "kmxd.db") }).then(openKmxdStore));
    },
  },
  {
    // As kmxd runs on SQLite: the audit rows committed by the writer thread on its own connection.
    name: "SQLite (audit writer thread)",
    async fresh() {
      const dir = await mkdtemp(path.join(tmpdir(), "kmxd-store-"));
      dirs.push(dir);
      const file = path.join(dir, "kmxd.db");
      return () => track(openDatabase({ sqlite: file }).then((db) => openKmxdStore(db, { sqliteFile: file })));
    },
  },
  {
    name: "PostgreSQL",
    async fresh() {
      const url = await pg.createDatabase();
      return () => track(openDatabase({ postgres: url }).then(openKmxdStore));
    },
  },
];

function provider(name: string, at = 1000): Omit<ProviderRecord, "currentVersion" | "revision" | "updatedAt"> {
  return {
    name,
    kmipServers: ["kms-1:5696", "[::1]:5697"],
    clientCertificate: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
    clientKeyWrapped: new Uint8Array([1, 2, 3, 250]),
    serverCa: "-----BEGIN CERTIFICATE-----\nBB==\n-----END CERTIFICATE-----\n",
    createdAt: at,
  };
}

for (const b of BACKENDS) {
  test(`${b.name}: a provider with its versions, grants and the revision each change moves`, async (t) => {
    const s = await (await b.fresh())();
    const r0 = await s.revision();
    t.true(await s.createProvider(provider("kms-1"), { keyId: "k1", mode: "A256GCM", createdAt: 1000 }));
    t.false(await s.createProvider(provider("kms-1"), { keyId: "other", mode: "A256GCM", createdAt: 1001 }), "a second create of the name is refused");
    const r1 = await s.revision();
    t.true(r1 > r0);
    const p = await s.getProvider("kms-1");
    t.like(p, { name: "kms-1", currentVersion: 1, createdAt: 1000, updatedAt: 1000, revision: r1 });
    t.deepEqual(p?.kmipServers, ["kms-1:5696", "[::1]:5697"]);
    t.deepEqual([...(p?.clientKeyWrapped ?? [])], [1, 2, 3, 250]);
    t.deepEqual(await s.listKeyVersions("kms-1"), [{ provider: "kms-1", version: 1, keyId: "k1", mode: "A256GCM", createdAt: 1000 }]);

    const v2 = await s.addKeyVersion("kms-1", { keyId: "k2", mode: "CBC-HMAC-SHA256", createdAt: 2000 });
    t.like(v2, { version: 2, keyId: "k2", mode: "CBC-HMAC-SHA256" });
    t.is(await s.addKeyVersion("nope", { keyId: "x", mode: "A256GCM", createdAt: 2000 }), undefined);
    const r2 = await s.revision();
    t.true(r2 > r1);
    t.like(await s.getProvider("kms-1"), { currentVersion: 2, updatedAt: 2000, revision: r2 });
    t.deepEqual(
      (await s.listKeyVersions("kms-1")).map((v) => [v.version, v.keyId]),
      [
        [1, "k1"],
        [2, "k2"],
      ],
      "rotation keeps the old version",
    );

    t.true(await s.grant("kms-1", "prod", 3000));
    t.true(await s.grant("kms-1", "default", 3000));
    t.true(await s.grant("kms-1", "prod", 3001), "granting twice is fine");
    t.false(await s.grant("nope", "prod", 3000));
    t.deepEqual(await s.listGrants("kms-1"), ["default", "prod"]);
    const r3 = await s.revision();
    t.true(r3 > r2);
    t.true(await s.revoke("kms-1", "prod", 4000));
    t.false(await s.revoke("kms-1", "prod", 4000));
    t.deepEqual(await s.listGrants("kms-1"), ["default"]);
    t.true((await s.revision()) > r3);

    t.true(await s.createProvider(provider("a-first"), { keyId: "z", mode: "A256GCM", createdAt: 1 }));
    t.deepEqual(
      (await s.listProviders()).map((x) => x.name),
      ["a-first", "kms-1"],
    );
    const r4 = await s.revision();
    t.true(await s.deleteProvider("kms-1"));
    t.false(await s.deleteProvider("kms-1"));
    t.true((await s.revision()) > r4);
    t.is(await s.getProvider("kms-1"), undefined);
    t.deepEqual(await s.listKeyVersions("kms-1"), []);
    t.deepEqual(await s.listGrants("kms-1"), []);
    t.true(await s.createProvider(provider("kms-1"), { keyId: "k9", mode: "A256GCM", createdAt: 5000 }), "the name is free again");
    t.deepEqual(await s.listGrants("kms-1"), [], "a re-created provider starts with no grants");
  });

  test(`${b.name}: trust set-ups, consumed by the provider made from them`, async (t) => {
    const s = await (await b.fresh())();
    const setup = { name: "kms-2", kmipServers: ["h:1"], serverCa: "CA", csr: "CSR1", clientKeyWrapped: new Uint8Array([9]), createdAt: 10 };
    await s.putTrustSetup(setup);
    await s.putTrustSetup({ ...setup, csr: "CSR2", clientKeyWrapped: new Uint8Array([8]) });
    const got = await s.getTrustSetup("kms-2");
    t.like(got, { name: "kms-2", csr: "CSR2", serverCa: "CA" });
    t.deepEqual([...(got?.clientKeyWrapped ?? [])], [8]);
    t.is(await s.getTrustSetup("other"), undefined);
    t.true(await s.createProvider(provider("kms-2"), { keyId: "k", mode: "A256GCM", createdAt: 11 }, { fromTrustSetup: true }));
    t.is(await s.getTrustSetup("kms-2"), undefined, "used up by the provider");
  });

  test(`${b.name}: clusters; removing one drops its grants and moves the providers' revision`, async (t) => {
    const s = await (await b.fresh())();
    t.true(await s.createProvider(provider("kms-1"), { keyId: "k", mode: "A256GCM", createdAt: 1 }));
    t.true(await s.putCluster({ name: "prod", rules: [{ host: "esx-*" }], updatedAt: 5 }));
    t.false(await s.putCluster({ name: "prod", rules: [{ ekFingerprint: "ab".repeat(32) }, { host: "x" }], updatedAt: 6 }));
    t.true(await s.putCluster({ name: "dev", rules: [], updatedAt: 7 }));
    t.deepEqual(await s.listClusters(), [
      { name: "dev", rules: [], updatedAt: 7 },
      { name: "prod", rules: [{ ekFingerprint: "ab".repeat(32) }, { host: "x" }], updatedAt: 6 },
    ]);
    await s.grant("kms-1", "prod", 8);
    const before = (await s.getProvider("kms-1"))!.revision;
    t.true(await s.deleteCluster("prod"));
    t.false(await s.deleteCluster("prod"));
    t.deepEqual(await s.listGrants("kms-1"), []);
    t.true((await s.getProvider("kms-1"))!.revision > before, "the provider's grants changed: its revision moves");
    t.deepEqual(
      (await s.listClusters()).map((c) => c.name),
      ["dev"],
    );
  });

  test(`${b.name}: the audit trail, newest first, filtered by provider and host, paged`, async (t) => {
    const s = await (await b.fresh())();
    await s.addAudit({ at: 1, actor: "admin", provider: "kms-1", operation: "provider.create", result: "ok", detail: { keyId: "k" } });
    await s.addAudit({ at: 2, host: "esx-1", provider: "kms-1", keyVersion: 1, operation: "unwrap", result: "ok" });
    await s.addAudit({ at: 3, host: "esx-2", provider: "kms-2", keyVersion: 3, operation: "data-key.generate", result: "provider-not-allowed" });
    const all = await s.listAudit({ limit: 10 });
    t.deepEqual(
      all.map((a) => a.operation),
      ["data-key.generate", "unwrap", "provider.create"],
    );
    t.like(all[2], { at: 1, actor: "admin", provider: "kms-1", operation: "provider.create", result: "ok", detail: { keyId: "k" } });
    t.false("host" in all[2]!);
    t.like(all[1], { host: "esx-1", keyVersion: 1 });
    t.deepEqual(
      (await s.listAudit({ limit: 10, provider: "kms-1" })).map((a) => a.at),
      [2, 1],
    );
    t.deepEqual(
      (await s.listAudit({ limit: 10, host: "esx-2" })).map((a) => a.result),
      ["provider-not-allowed"],
    );
    const page1 = await s.listAudit({ limit: 2 });
    t.is(page1.length, 2);
    const page2 = await s.listAudit({ limit: 2, before: page1[1]!.id });
    t.deepEqual(
      page2.map((a) => a.at),
      [1],
    );
  });

  test(`${b.name}: a second store on the same database (a second node) sees everything; a restart keeps it`, async (t) => {
    const open = await b.fresh();
    const a = await open();
    t.true(await a.createProvider(provider("kms-1"), { keyId: "k1", mode: "A256GCM", createdAt: 1 }));
    const b2 = await open();
    t.like(await b2.getProvider("kms-1"), { currentVersion: 1 });
    t.is(await b2.revision(), await a.revision());
    await b2.addKeyVersion("kms-1", { keyId: "k2", mode: "A256GCM", createdAt: 2 });
    t.like(await a.getProvider("kms-1"), { currentVersion: 2 });
    await a.close();
    toClose.splice(toClose.indexOf(a), 1);
    const c = await open();
    t.is((await c.listKeyVersions("kms-1")).length, 2);
  });
}

for (const b of BACKENDS) {
  test(`${b.name}: concurrent audit rows (one commit per group on SQLite) are each stored once, in the order written`, async (t) => {
    const s = await (await b.fresh())();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => s.addAudit({ at: i, host: `h${i}`, provider: "kms-1", keyVersion: 1, operation: "unwrap", result: "ok" })),
    );
    const rows = await s.listAudit({ limit: 100 });
    t.is(new Set(rows.map((r) => r.id)).size, 50);
    if (b.name === "SQLite")
      t.deepEqual(
        rows.map((r) => r.at),
        Array.from({ length: 50 }, (_, i) => 49 - i),
        "the group keeps the callers' order",
      );
    else
      t.deepEqual(
        rows.map((r) => r.at).sort((x, y) => x - y),
        Array.from({ length: 50 }, (_, i) => i),
      );
  });
}

for (const thread of [false, true])
  test(`SQLite${thread ? " (audit writer thread)" : ""}: an audit row whose write was answered survives kill -9 of the process (answered after COMMIT)`, async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), "kmxd-store-"));
    dirs.push(dir);
    const file = path.join(dir, "kmxd.db");
    const sql = pathToFileURL(path.join(ROOT, "libs/sql/src/mod.ts")).href;
    const store = pathToFileURL(path.join(import.meta.dirname, "sql_store.ts")).href;
    // 16 writers, each writing its next row as soon as the previous one is answered, printing each answered row.
    const script = `
    import { openDatabase } from ${JSON.stringify(sql)};
    import { openKmxdStore } from ${JSON.stringify(store)};
    const s = await openKmxdStore(await openDatabase({ sqlite: ${JSON.stringify(file)} }), ${thread ? `{ sqliteFile: ${JSON.stringify(file)} }` : "{}"});
    let at = 0;
    for (let w = 0; w < 16; w++) (async () => {
      for (;;) {
        const mine = at++;
        await s.addAudit({ at: mine, host: "h" + w, provider: "kms-1", keyVersion: 1, operation: "data-key.generate", result: "ok" });
        process.stdout.write(mine + "\\n");
      }
    })();
  `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        // Killed mid-stream, with groups still being written: what was printed was answered.
        if (out.split("\n").length > 400) resolve();
      });
      child.once("exit", (code) => reject(new Error(`the writer exited (${String(code)}) before it was killed: ${err}`)));
    });
    child.kill("SIGKILL");
    await exited;
    const answered = out.split("\n").slice(0, -1).map(Number);
    const s = await track(openDatabase({ sqlite: file }).then(openKmxdStore));
    const stored = new Set((await s.listAudit({ limit: 1_000_000 })).map((r) => r.at));
    t.true(answered.length >= 400);
    t.deepEqual(
      answered.filter((a) => !stored.has(a)),
      [],
      "every answered row is in the database",
    );
  });

test("PostgreSQL: two nodes racing — one create wins, concurrent rotations get distinct versions", async (t) => {
  const open = await BACKENDS[1]!.fresh();
  const [a, b] = [await open(), await open()];
  const created = await Promise.all([
    a.createProvider(provider("race"), { keyId: "a", mode: "A256GCM", createdAt: 1 }),
    b.createProvider(provider("race"), { keyId: "b", mode: "A256GCM", createdAt: 1 }),
  ]);
  t.deepEqual(created.filter(Boolean).length, 1, "exactly one node created it");
  const versions = await Promise.all(
    Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).addKeyVersion("race", { keyId: `k${i}`, mode: "A256GCM", createdAt: 10 + i })),
  );
  t.deepEqual(
    versions.map((v) => v!.version).sort((x, y) => x - y),
    [2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
  t.like(await a.getProvider("race"), { currentVersion: 11 });
});
