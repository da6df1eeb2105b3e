/**
 * Two attestd nodes on one PostgreSQL database (a real server from @tessera/postgres-testing), sharing the
 * master key file as a cluster's nodes must (it wraps the token signing keys they share): the first start's
 * admin account and signing key are made exactly once, a nonce is single-use across the nodes, and a status
 * recorded by one node is seen (and pushed as an event) by the other.
 */
import test from "ava";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki, withKernel, type HostImage } from "@tessera/boot";
import { imageFromManifest } from "@tessera/host-image";
import { startPostgres, type PostgresCluster } from "@tessera/postgres-testing";
import { loadOrCreateMasterKey } from "@tessera/service";
import { Tpm } from "@tessera/tss";
import type { StatusEvent } from "./deps.ts";
import {
  acceptImage,
  BOOT_SELECTION,
  bootedHost,
  challenge,
  checks,
  startTestNode,
  trustSwtpmCa,
  tssEnroll,
  tssEvidence,
  verifyWithJwks,
  type BootedHost,
  type TestNode,
} from "./_test_support.ts";

let pg: PostgresCluster;
let host: BootedHost;
let tpm: Tpm;
let shared: string;
let a: TestNode;
let b: TestNode;
let manifest: HostImage;

test.before(async () => {
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  [pg, host] = await Promise.all([startPostgres(), bootedHost(manifest)]);
  tpm = Tpm.open(host.sw.tcti);
  shared = await mkdtemp(path.join(os.tmpdir(), "attestd-cluster-"));
  const masterKeyFile = path.join(shared, "master.key");
  await loadOrCreateMasterKey(masterKeyFile);
  const database = await pg.createDatabase("attestd_cluster");
  // Both nodes start at once on the empty database.
  [a, b] = await Promise.all([startTestNode({ database, masterKeyFile }), startTestNode({ database, masterKeyFile })]);
  await trustSwtpmCa(a.store, host.sw);
  await acceptImage(a.store, manifest);
  await a.store.putSettings({ pcrSelection: BOOT_SELECTION });
});

test.after.always(async () => {
  await tpm?.close();
  await a?.remove();
  await b?.remove();
  await host?.sw.stop();
  await pg?.stop();
  if (shared) await rm(shared, { recursive: true, force: true });
});

test.serial("two nodes starting at once on one database create the admin account and the signing key exactly once", async (t) => {
  t.is([a.node.adminPasswordFile, b.node.adminPasswordFile].filter((f) => f !== undefined).length, 1);
  t.is((await a.store.listSigningKeys()).length, 1);
  t.deepEqual((await a.call("GET", "/.well-known/jwks.json")).json, (await b.call("GET", "/.well-known/jwks.json")).json);
});

test.serial("a nonce issued by node A is accepted once by node B, then refused as nonce-reused on A; B's status is seen and pushed on A", async (t) => {
  const seenOnA: StatusEvent[] = [];
  const off = a.node.deps.events.subscribe((e) => seenOnA.push(e));
  try {
    // Enrolled through A; attested through B with A's nonce.
    const h = await tssEnroll(a, "cluster.example.test", host, tpm, "rsa2048");
    await a.node.watcher.poll(); // A has seen the host enrolled, not yet attested
    const ch = await challenge(a, "cluster.example.test");
    const body = await tssEvidence(h, ch);
    const onB = await b.call("POST", "/api/v1/hosts/cluster.example.test/attestations", body);
    t.is(onB.status, 200, JSON.stringify(onB.json));
    t.deepEqual(checks(await a.call("POST", "/api/v1/hosts/cluster.example.test/attestations", body)), ["nonce-reused"]);
    t.deepEqual(checks(await b.call("POST", "/api/v1/hosts/cluster.example.test/attestations", body)), ["nonce-reused"]);
    // The token B signed verifies with A's JWKS.
    t.is((await verifyWithJwks(onB.json.token as string, a.url, a.node.caCert)).sub, "cluster.example.test");
    t.is((await a.store.getHostStatus("cluster.example.test", Date.now()))?.status, "green");
    // A's watcher carries B's change onto A's bus (polled now rather than waiting for its interval).
    await a.node.watcher.poll();
    t.true(seenOnA.some((e) => e.host === "cluster.example.test" && e.status === "green"), JSON.stringify(seenOnA));
  } finally {
    off();
  }
});

test.serial("node B keeps its parsed policy while nothing changes, and applies node A's image and settings changes at its very next attestation", async (t) => {
  const h = await tssEnroll(b, "policy.example.test", host, tpm, "rsa2048");
  const attestOnB = async () => b.call("POST", "/api/v1/hosts/policy.example.test/attestations", await tssEvidence(h, await challenge(b, "policy.example.test"), { bindingKey: false }));
  t.is((await attestOnB()).status, 200);
  const first = await b.node.deps.policyFor(BOOT_SELECTION);
  t.is((await b.node.deps.policyFor(BOOT_SELECTION)).policy, first.policy, "unchanged: the same policy object, nothing rebuilt");

  // A replaces the accepted image with one whose kernel the host did not boot.
  await a.store.removeImage("tessera-host");
  await a.store.addImage({ name: "next", version: "2", image: imageFromManifest(withKernel(manifest, "5eed".repeat(16)), { name: "next", version: "2" }), addedAt: Date.now() });
  try {
    t.deepEqual(checks(await attestOnB()), ["image-unknown"]);
  } finally {
    await a.store.removeImage("next");
    await acceptImage(a.store, manifest);
  }
  t.is((await attestOnB()).status, 200, "A's restored image is accepted on B at once");
  // A settings change on A (a PCR selection B's challenges must carry) is seen by B's next challenge.
  await a.store.putSettings({ pcrSelection: "sha256:0,1,2,3,4,5,6,7,8,9,14,15" });
  try {
    t.is((await challenge(b, "policy.example.test")).pcrSelection, "sha256:0,1,2,3,4,5,6,7,8,9,14,15");
  } finally {
    await a.store.putSettings({ pcrSelection: BOOT_SELECTION });
  }
  t.is((await challenge(b, "policy.example.test")).pcrSelection, BOOT_SELECTION);
  t.not((await b.node.deps.policyFor(BOOT_SELECTION)).policy, first.policy, "rebuilt after the changes");
});

test.serial("a node whose master key is not the cluster's refuses to start, naming the master key file", async (t) => {
  const database = pg.url("attestd_cluster");
  const dataDir = await mkdtemp(path.join(shared, "stranger-"));
  const err = await t.throwsAsync(startTestNode({ database, dataDir }));
  t.regex(err?.message ?? "", /master key .*master\.key does not unwrap token signing key .*same master key file/);
});
