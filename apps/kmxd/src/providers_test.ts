/**
 * The provider registry over a real SQLite store: handles built from the stored records (client key unwrapped
 * with the keyring), rebuilt when another store (another node) rotates, grants or removes, clusters followed, and
 * one provider whose client key cannot be unwrapped answered as unknown without taking the others down.
 */
import test from "ava";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger } from "@tessera/http";
import { createCa } from "@tessera/pki";
import { aesGcmKeyring } from "@tessera/service";
import { openDatabase } from "@tessera/sql";
import { providerKeyId } from "./bootstrap.ts";
import { createProviderRegistry } from "./providers.ts";
import { openKmxdStore } from "./store/sql_store.ts";
import type { KmxdStore } from "./store/store.ts";

let dir: string;
const logger = createLogger({ name: "kmxd-test", level: "silent" });

test.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "kmxd-providers-"));
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function twoNodes(): Promise<[KmxdStore, KmxdStore]> {
  const file = path.join(dir, `${randomBytes(4).toString("hex")}.db`);
  return [await openKmxdStore(await openDatabase({ sqlite: file })), await openKmxdStore(await openDatabase({ sqlite: file }))];
}

test("handles follow the store: rotation, grants, clusters and removal made by another node; a bad provider stays alone", async (t) => {
  const keyring = aesGcmKeyring(randomBytes(32));
  const [mine, other] = await twoNodes();
  const ca = await createCa({ commonName: "kms test CA" });
  const record = (name: string, wrappedFor = name) => ({
    name,
    kmipServers: ["127.0.0.1:5696", "[::1]:5697"],
    clientCertificate: ca.certificatePem,
    clientKeyWrapped: keyring.wrap(providerKeyId(wrappedFor), new TextEncoder().encode(ca.privateKeyPem)),
    serverCa: ca.certificatePem,
    createdAt: 1,
  });
  await other.createProvider(record("kms-1"), { keyId: "k1", mode: "A256GCM", createdAt: 1 });
  // Wrapped for another provider's id: the keyring refuses it (as for a node with the wrong master key).
  await other.createProvider(record("broken", "someone-else"), { keyId: "kb", mode: "A256GCM", createdAt: 1 });
  const registry = createProviderRegistry({ store: mine, keyring, logger });
  try {
    const h1 = await registry.get("kms-1");
    t.truthy(h1);
    t.like(h1!.current, { provider: "kms-1", version: 1, keyId: "k1", mode: "A256GCM" });
    t.is(h1!.version(1)?.keyId, "k1");
    t.is(h1!.version(2), undefined);
    t.deepEqual(h1!.grants, []);
    t.is(await registry.get("broken"), undefined, "a provider that cannot be loaded is unknown");
    t.is(await registry.get("nope"), undefined);
    t.is(await registry.get("kms-1"), h1, "nothing changed: the same handle (and pooled client)");

    await other.addKeyVersion("kms-1", { keyId: "k2", mode: "CBC-HMAC-SHA256", createdAt: 2 });
    const h2 = await registry.get("kms-1");
    t.not(h2, h1);
    t.not(h2!.client, h1!.client, "a changed provider gets a new client");
    t.like(h2!.current, { version: 2, keyId: "k2", mode: "CBC-HMAC-SHA256" });
    t.is(h2!.mode, "CBC-HMAC-SHA256");
    t.is(h2!.version(1)?.keyId, "k1", "old versions stay");

    await other.putCluster({ name: "prod", rules: [{ host: "esx-*" }], updatedAt: 3 });
    await other.grant("kms-1", "prod", 3);
    t.deepEqual((await registry.get("kms-1"))!.grants, ["prod"]);
    t.deepEqual(await registry.clusters(), [{ name: "prod", rules: [{ host: "esx-*" }] }]);

    await other.deleteProvider("kms-1");
    t.is(await registry.get("kms-1"), undefined, "removed on the other node: gone here on the next lookup");
    const all = await Promise.all(Array.from({ length: 20 }, () => registry.get("kms-1")));
    t.true(all.every((h) => h === undefined), "concurrent lookups share one reload");
  } finally {
    registry.close();
    await mine.close();
    await other.close();
  }
  await t.throwsAsync(registry.get("kms-1"), { message: /closed/ });
});

test("concurrent lookups share revision reads, yet a lookup made after a change sees it even while an older read is running", async (t) => {
  const keyring = aesGcmKeyring(randomBytes(32));
  const [mine, other] = await twoNodes();
  const ca = await createCa({ commonName: "kms test CA" });
  await other.createProvider(
    {
      name: "kms-1",
      kmipServers: ["127.0.0.1:5696"],
      clientCertificate: ca.certificatePem,
      clientKeyWrapped: keyring.wrap(providerKeyId("kms-1"), new TextEncoder().encode(ca.privateKeyPem)),
      serverCa: ca.certificatePem,
      createdAt: 1,
    },
    { keyId: "k1", mode: "A256GCM", createdAt: 1 },
  );
  // The registry's store counts revision reads, and can hold a read's answer back after the read was made.
  let reads = 0;
  let hold: Promise<void> | undefined;
  const counted: KmxdStore = Object.assign(Object.create(mine) as KmxdStore, {
    async revision(): Promise<number> {
      reads++;
      const r = await mine.revision();
      await hold;
      return r;
    },
  });
  const registry = createProviderRegistry({ store: counted, keyring, logger });
  try {
    await registry.get("kms-1");
    reads = 0;
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? registry.get("kms-1") : registry.lookup("kms-1"))));
    t.true(all.every((h) => h !== undefined));
    t.true(reads <= 2, `20 concurrent lookups made ${reads} revision reads (at most the running one and the next)`);

    let release!: () => void;
    hold = new Promise((r) => (release = r));
    const before = registry.lookup("kms-1"); // its read is made now, before the grant, and answered late
    await new Promise((r) => setImmediate(r));
    await other.putCluster({ name: "prod", rules: [{ host: "esx-*" }], updatedAt: 2 });
    await other.grant("kms-1", "prod", 2);
    const after = registry.lookup("kms-1"); // asked after the grant committed: must see it
    release();
    hold = undefined;
    t.deepEqual((await before).handle?.grants, [], "the older read predates the grant");
    const seen = await after;
    t.deepEqual(seen.handle?.grants, ["prod"]);
    t.deepEqual(seen.clusters, [{ name: "prod", rules: [{ host: "esx-*" }] }]);
  } finally {
    registry.close();
    await mine.close();
    await other.close();
  }
});
