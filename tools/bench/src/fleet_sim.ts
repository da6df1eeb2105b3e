/**
 * The `fleet-sim` suite ("past one machine, by simulation"): N simulated hosts (default 10,000; software TPMs of
 * _fleet_sim_host.ts: ECC EKs with EK certificates from a test CA that attestd trusts (libs/pki issueEkCertificate),
 * ECC AKs, binding keys certified by the AKs, the
 * real-size event log of the attestation suite) against two attestd nodes on one PostgreSQL database
 * (@tessera/postgres-testing), hosts spread over the nodes (host i → node i mod nodes, for enrolment and every
 * attestation).
 *
 * 1. Enrolment of every host (enrolment with its EK certificate, checked against the trusted CA; activation),
 *    `enrolConcurrency` hosts at a time per node.
 * 2. Idle: attestd's CPU with the fleet enrolled and nobody attesting (the cluster watcher's status poll).
 * 3. Steady state: each host re-attests every `intervalSeconds`, its first attestation spread evenly over the
 *    interval, for `durationSeconds` (open loop: attestation k is due at k × interval / hosts; a late
 *    dispatch is counted, and latency is counted both from dispatch and from when it was due).
 * 4. Capacity search, compressed: the same schedule at higher rates (a shorter interval over the same hosts:
 *    10,000 hosts every 600 s is the rate of 1,000 hosts every 60 s), each for `stepSeconds`, doubling until
 *    a rate is not held, then halving the gap. A rate is held when every attestation affirmed, the completions
 *    kept up with the schedule (≥ 97% of it) and the p99 from due time to done stayed under 2 s: a schedule kept
 *    is one under which no host falls behind, hence none goes stale (attestd's `stale` is a token expired with
 *    no newer attestation; a host only gets there when its attestations fall behind by the token lifetime less
 *    the interval). The capacity in hosts is then the best held rate × `intervalSeconds`.
 *
 * Measured per phase: attestations/s, p50/p99 latency, attestd's CPU per attestation per node (/proc, tree),
 * PostgreSQL's CPU (the postmaster and its backends), this client's CPU, and PostgreSQL connections of the
 * database (pg_stat_activity, sampled every 2 s).
 * @module
 */
import { createPublicKey } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createCa, issueEkCertificate } from "@tessera/pki";
import { startPostgres } from "@tessera/postgres-testing";
import { fromHex } from "@tessera/tpm2";
import { b64, call, expectJson, quotedPcrs } from "./attest_api.ts";
import { softQuote } from "./attest_host.ts";
import { attestFixture, inProcessProbe } from "./attest_inprocess.ts";
import { percentile, processTreeCpuUs, ratio } from "./attest_measure.ts";
import { ATTESTD_BUCKETS, type Bucket, profileTable } from "./attest_profile.ts";
import {
  adminPassword,
  pgConnections,
  pgDatabaseStats,
  postgresCpuUs,
  postmasterPid,
  startAttestdNode,
  tableSizes,
  type AttestdNode,
} from "./_fleet_attestd.ts";
import { busyFraction, machineCpu } from "./_fleet_machine.ts";
import { bindingModuli, simHost, softActivateCredentialEcc, type SimHost } from "./_fleet_sim_host.ts";

/** Options of {@link benchFleetSim}. */
export interface FleetSimOptions {
  /** Simulated hosts (default 10,000). */
  readonly hosts?: number;
  /** Each host re-attests this often, seconds (default 600). */
  readonly intervalSeconds?: number;
  /** Steady state at the fleet's own rate, seconds (default 60). */
  readonly durationSeconds?: number;
  /** attestd nodes on the one database (default 2). */
  readonly nodes?: number;
  /** Hosts enrolled at once per node (default 16). */
  readonly enrolConcurrency?: number;
  /** Most attestations in flight (default 512): the client's bound, far above what a kept schedule needs. */
  readonly maxInFlight?: number;
  /** Capacity search: rates to try in order (attestations/s); absent: doubling from 4 × the fleet's rate; empty: no search. */
  readonly rates?: readonly number[];
  /** Seconds per search step (default 20). */
  readonly stepSeconds?: number;
  /** Search refinements (halvings of the gap between held and not held) after the doubling (default 3). */
  readonly refinements?: number;
  /**
   * Run node 0 under `--cpu-prof` into this folder and print where its time went in the last phase (the frames are
   * attest_profile.ts's buckets, with the PostgreSQL client and the cluster watcher before them).
   */
  readonly profileDir?: string;
  /** Skip the in-process peer (the test's tiny run). */
  readonly noPeer?: boolean;
  /** Progress lines (stderr by default). */
  readonly progress?: (line: string) => void;
}

/** One phase of load. */
export interface FleetSimPhase {
  readonly name: string;
  /** The rate the schedule asked for (attestations/s). */
  readonly offeredPerSec: number;
  /** Completions over the time from the first due to the last completion. */
  readonly achievedPerSec: number;
  readonly attestations: number;
  readonly failures: number;
  /** Latency from dispatch to done, ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** From due to done (includes any lag of the client behind the schedule), ms. */
  readonly p99FromDueMs: number;
  readonly maxLateMs: number;
  /** attestd's CPU µs per attestation, one per node (its share: each node's CPU over the attestations it served). */
  readonly attestdCpuUs: readonly number[];
  /** Every node's CPU together, µs per attestation. */
  readonly attestdCpuUsTotal: number;
  readonly postgresCpuUs?: number;
  readonly clientCpuUs: number;
  /** How busy the whole machine was (0–1, /proc/stat), whoever's processes: attestd, PostgreSQL, this client, and others'. */
  readonly machineBusy: number;
  /** Per attestation (challenge + attestation): attestd's committed transactions in its database (pg_stat_database; psql reads from another database) and rows written. */
  readonly dbCommits: number;
  readonly dbRowsWritten: number;
  /** Connections of the database, the most seen while sampling, and the most of them `active` at once. */
  readonly dbConnectionsMax: number;
  readonly dbActiveMax: number;
  readonly held: boolean;
  readonly firstFailure?: string;
}

/** What the suite measured. */
export interface FleetSimResult {
  readonly hosts: number;
  readonly nodes: number;
  readonly intervalSeconds: number;
  /** Making the hosts' keys in this process (not a server cost), s. */
  readonly hostKeysSeconds: number;
  readonly enrolSeconds: number;
  readonly enrolPerSec: number;
  /** attestd CPU per enrolment (all nodes), µs. */
  readonly enrolCpuUs: number;
  /** attestd's CPU while idle with the fleet enrolled, % of one CPU per node. */
  readonly idleCpuPercent: readonly number[];
  readonly steady: FleetSimPhase;
  readonly search: readonly FleetSimPhase[];
  /** The best held rate of the search (or the steady phase's when none held), attestations/s. */
  readonly capacityPerSec?: number;
  /** Statuses in attestd's host list after the steady phase. */
  readonly statuses: Readonly<Record<string, number>>;
  /** attestd's tables at the end: rows and bytes (indexes included). */
  readonly tables: readonly { table: string; rows: number; bytes: number }[];
  /** Attestations made in the whole run (enrolment not included). */
  readonly attestationsTotal: number;
  /** The peer, measured in the same run after the load: the in-process appraisal + token, CPU µs per attestation. */
  readonly inProcessCpuUs?: number;
  /** Where node 0's main thread spent the last phase (with `profileDir`), Markdown. */
  readonly profile?: string;
  readonly markdown: string;
}

/** attest_profile.ts's buckets, with the PostgreSQL client (pg, pg-protocol, libs/sql) and the cluster watcher first. */
export const FLEET_BUCKETS: readonly Bucket[] = [
  { name: "cluster watcher (events.ts: listHostStatus of every host every 2 s)", frames: /^(poll|watchClusterStatus|listHostStatus) .*(events|sql_store)\.ts/ },
  {
    name: "PostgreSQL client: pg, pg-protocol, libs/sql open_postgres.ts",
    frames:
      /(lib\/(client|query|result|connection|utils|type-overrides)\.js|dist\/(parser|serializer|buffer-reader|buffer-writer|messages)\.js|open_postgres\.ts|pg-types|postgres-array)/,
  },
  ...ATTESTD_BUCKETS,
];

/** A held rate: all affirmed, completions ≥ 97% of the schedule, p99 from due to done under this. */
export const HELD_P99_FROM_DUE_MS = 2000;

/** Runs `fn` over `items` with at most `n` at a time. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

/** Runs the suite. */
export async function benchFleetSim(options: FleetSimOptions = {}): Promise<FleetSimResult> {
  const H = options.hosts ?? 10_000;
  const interval = options.intervalSeconds ?? 600;
  const duration = options.durationSeconds ?? 60;
  const N = options.nodes ?? 2;
  const maxInFlight = options.maxInFlight ?? 512;
  const say = options.progress ?? ((l: string) => process.stderr.write(`fleet-sim: ${l}\n`));
  const f = attestFixture();
  const pg = await startPostgres();
  const shared = await mkdtemp(path.join(os.tmpdir(), "bench-fleet-sim-"));
  const nodes: AttestdNode[] = [];
  try {
    const dbName = "attestd_fleet";
    const database = await pg.createDatabase(dbName);
    const masterKeyFile = path.join(shared, "master.key");
    // The first node makes the master key, the admin account and the signing key; the others find them.
    const profileDir = options.profileDir === undefined ? undefined : path.resolve(options.profileDir);
    nodes.push(
      await startAttestdNode({ database, masterKeyFile, maxSockets: 128, ...(profileDir ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] } : {}) }),
    );
    for (let i = 1; i < N; i++) nodes.push(await startAttestdNode({ database, masterKeyFile, maxSockets: 128 }));
    const pgPid = postmasterPid(pg.dir);
    say(`PostgreSQL on port ${pg.port}; attestd nodes ${nodes.map((n) => n.url).join(", ")}`);

    const password = adminPassword(nodes);
    // Before any connection to attestd: making 10,000 certificates keeps the event loop busy for tens of seconds,
    // long enough for attestd to close idle keep-alive connections that this process would not yet have seen close.
    say(`making ${H} hosts' keys and EK certificates`);
    const k0 = performance.now();
    const moduli = bindingModuli(8);
    const hosts: SimHost[] = Array.from({ length: H }, (_, i) => simHost(`h${i}.fleet.bench`, moduli, i));
    // The hosts' TPM maker: a test CA that certifies each EK, as a real maker's CA does; attestd trusts it.
    const ekCa = await createCa({ commonName: "Tessera bench TPM maker CA", keyAlgorithm: "ecdsa-p256" });
    const ekCerts = await Promise.all(
      hosts.map(async (h) => {
        const ekPublicKeyPem = createPublicKey(h.ek.privateKey).export({ type: "spki", format: "pem" }) as string;
        return (await issueEkCertificate(ekCa, { ekPublicKeyPem, manufacturer: "id:54455354", model: "bench soft TPM", version: "id:00010000" })).der;
      }),
    );
    const hostKeysSeconds = (performance.now() - k0) / 1000;
    const admins = await Promise.all(
      nodes.map(async (n) => {
        const r = await expectJson(call(n.agent, `${n.url}/api/v1/auth/token`, "POST", JSON.stringify({ user: "admin", password })), 200, "sign-in");
        return { authorization: `Bearer ${String(r["token"])}` };
      }),
    );
    await expectJson(
      call(nodes[0].agent, `${nodes[0].url}/api/v1/images`, "POST", JSON.stringify({ name: "bench-host", version: "1", eventLog: b64(f.log) }), admins[0]),
      201,
      "adding the image",
    );

    await expectJson(
      call(nodes[0].agent, `${nodes[0].url}/api/v1/tpm-cas`, "POST", JSON.stringify({ certificates: ekCa.certificatePem }), admins[0]),
      201,
      "trusting the test EK CA",
    );

    // 1. Enrolment.
    say(`enrolling ${H} hosts over ${N} nodes`);
    const nodeOf = (i: number) => nodes[i % N];
    const enrolCpu0 = nodes.map((n) => processTreeCpuUs(n.pid) ?? 0);
    const e0 = performance.now();
    await pool(hosts, (options.enrolConcurrency ?? 16) * N, async (h, i) => {
      const n = nodeOf(i);
      const e = await expectJson(
        call(
          n.agent,
          `${n.url}/api/v1/hosts/${h.name}/enrollments`,
          "POST",
          JSON.stringify({ ekCertificate: b64(ekCerts[i]!), ekPublic: b64(h.ek.publicBytes), akPublic: b64(h.ak.publicBytes) }),
        ),
        201,
        `enrolling ${h.name}`,
      );
      const secret = softActivateCredentialEcc(h.ek, h.ak.name, new Uint8Array(Buffer.from(String(e["credential"]), "base64")));
      await expectJson(
        call(n.agent, `${n.url}/api/v1/hosts/${h.name}/enrollments/${String(e["enrollment"])}/activation`, "POST", JSON.stringify({ secret: b64(secret) })),
        200,
        `activating ${h.name}`,
      );
    });
    const enrolSeconds = (performance.now() - e0) / 1000;
    const enrolCpuUs = nodes.reduce((s, n, j) => s + ((processTreeCpuUs(n.pid) ?? 0) - enrolCpu0[j]), 0) / H;
    say(`enrolled in ${enrolSeconds.toFixed(1)} s`);

    // 2. Idle, the fleet enrolled.
    const idleSeconds = 6;
    const idle0 = nodes.map((n) => processTreeCpuUs(n.pid) ?? 0);
    await sleep(idleSeconds * 1000);
    const idleCpuPercent = nodes.map((n, j) => ((processTreeCpuUs(n.pid) ?? 0) - idle0[j]) / (idleSeconds * 1e4));

    // The attestation of one host.
    const quotedFor = quotedPcrs(f.log);
    const logB64 = JSON.stringify(b64(f.log));
    const bindingJson = hosts.map(
      (h) => `{"public":"${b64(h.binding.public)}","certifyInfo":"${b64(h.binding.certifyInfo)}","signature":"${b64(h.binding.signature)}"}`,
    );
    let firstFailure: string | undefined;
    const attestOnce = async (i: number): Promise<boolean> => {
      const h = hosts[i];
      const n = nodeOf(i);
      try {
        const ch = await call(n.agent, `${n.url}/api/v1/hosts/${h.name}/challenges`, "POST", "");
        if (ch.status !== 201) {
          firstFailure ??= `challenge of ${h.name}: HTTP ${ch.status}: ${ch.text.slice(0, 300)}`;
          return false;
        }
        const { nonce, pcrSelection } = JSON.parse(ch.text) as { nonce: string; pcrSelection: string };
        const sel = quotedFor(pcrSelection);
        const q = softQuote(h.ak, fromHex(nonce), sel.q.selection, sel.q.pcrs);
        const body = `{"nonce":"${nonce}","quote":"${b64(q.quote)}","signature":"${b64(q.signature)}","pcrs":${sel.json},"eventLog":${logB64},"bindingKey":${bindingJson[i]}}`;
        const a = await call(n.agent, `${n.url}/api/v1/hosts/${h.name}/attestations`, "POST", body);
        if (a.status !== 200) {
          firstFailure ??= `attestation of ${h.name}: HTTP ${a.status}: ${a.text.slice(0, 300)}`;
          return false;
        }
        const r = JSON.parse(a.text) as { status?: string; token?: string };
        const ok = r.status === "affirming" && typeof r.token === "string" && r.token.split(".").length === 3;
        if (!ok) firstFailure ??= `attestation of ${h.name}: ${a.text.slice(0, 300)}`;
        return ok;
      } catch (e) {
        firstFailure ??= `${h.name}: ${(e as Error).message}`;
        return false;
      }
    };

    // 3 and 4: open-loop phases.
    let cursor = 0;
    const phase = async (name: string, rate: number, seconds: number): Promise<FleetSimPhase> => {
      firstFailure = undefined;
      const count = Math.max(1, Math.floor(rate * seconds));
      const served = nodes.map(() => 0);
      const lat: number[] = [];
      const fromDue: number[] = [];
      let failures = 0;
      let maxLate = 0;
      let dbMax = 0;
      let activeMax = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          try {
            const c = await pgConnections(pg.url(), dbName);
            dbMax = Math.max(
              dbMax,
              [...c.values()].reduce((a, b) => a + b, 0),
            );
            activeMax = Math.max(activeMax, c.get("active") ?? 0);
          } catch (e) {
            firstFailure ??= `pg_stat_activity: ${(e as Error).message}`;
          }
          await sleep(2000);
        }
      })();
      const stats0 = await pgDatabaseStats(pg.url(), dbName);
      const cpu0 = nodes.map((n) => processTreeCpuUs(n.pid) ?? 0);
      const pg0 = postgresCpuUs(pgPid);
      const client0 = process.cpuUsage();
      const machine0 = machineCpu();
      const inflight = new Set<Promise<void>>();
      const t0 = performance.now() + 20;
      let lastDone = t0;
      for (let k = 0; k < count; k++) {
        const due = t0 + (k * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        while (inflight.size >= maxInFlight) await Promise.race(inflight);
        const start = performance.now();
        maxLate = Math.max(maxLate, start - due);
        const i = (cursor + k) % H;
        const p = attestOnce(i).then((ok) => {
          const done = performance.now();
          lastDone = Math.max(lastDone, done);
          lat.push(done - start);
          fromDue.push(done - due);
          served[i % N]++;
          if (!ok) failures++;
          inflight.delete(p);
        });
        inflight.add(p);
      }
      await Promise.all(inflight);
      cursor = (cursor + count) % H;
      const client = process.cpuUsage(client0);
      const machineBusy = busyFraction(machine0, machineCpu());
      const cpu = nodes.map((n, j) => (processTreeCpuUs(n.pid) ?? 0) - cpu0[j]);
      const pg1 = postgresCpuUs(pgPid);
      sampling = false;
      await sampler;
      // PostgreSQL's statistics reach pg_stat_database within a second of a transaction's end.
      await sleep(1500);
      const stats1 = await pgDatabaseStats(pg.url(), dbName);
      lat.sort((a, b) => a - b);
      fromDue.sort((a, b) => a - b);
      const achieved = (count * 1000) / (lastDone - t0);
      const p99FromDue = percentile(fromDue, 99);
      const held = failures === 0 && achieved >= 0.97 * rate && p99FromDue <= HELD_P99_FROM_DUE_MS;
      const result: FleetSimPhase = {
        name,
        offeredPerSec: rate,
        achievedPerSec: achieved,
        attestations: count,
        failures,
        p50Ms: percentile(lat, 50),
        p99Ms: percentile(lat, 99),
        p99FromDueMs: p99FromDue,
        maxLateMs: maxLate,
        attestdCpuUs: cpu.map((c, j) => c / Math.max(1, served[j])),
        attestdCpuUsTotal: cpu.reduce((a, b) => a + b, 0) / count,
        ...(pg0 !== undefined && pg1 !== undefined ? { postgresCpuUs: (pg1 - pg0) / count } : {}),
        clientCpuUs: (client.user + client.system) / count,
        machineBusy,
        dbCommits: (stats1.commits - stats0.commits) / count,
        dbRowsWritten: (stats1.rowsWritten - stats0.rowsWritten) / count,
        dbConnectionsMax: dbMax,
        dbActiveMax: activeMax,
        held,
        ...(firstFailure !== undefined ? { firstFailure } : {}),
      };
      say(
        `${name}: ${rate.toFixed(1)}/s offered, ${achieved.toFixed(1)}/s done, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, p99 from due ${p99FromDue.toFixed(0)} ms, ${failures} failed${firstFailure ? ` (${firstFailure})` : ""} → ${held ? "held" : "NOT held"}`,
      );
      return result;
    };

    const nominal = H / interval;
    say(`steady state: ${H} hosts every ${interval} s = ${nominal.toFixed(2)}/s for ${duration} s`);
    const steady = await phase(`steady: ${H} hosts / ${interval} s`, nominal, duration);

    const statusAnswer = await expectJson(call(nodes[0].agent, `${nodes[0].url}/api/v1/hosts`, "GET", undefined, admins[0]), 200, "the host list");
    const statuses: Record<string, number> = {};
    for (const h of (statusAnswer["hosts"] as { status: string }[] | undefined) ?? []) statuses[h.status] = (statuses[h.status] ?? 0) + 1;

    const search: FleetSimPhase[] = [];
    const stepSeconds = options.stepSeconds ?? 20;
    const label = (rate: number) => `search: ${rate.toFixed(0)}/s ≡ ${Math.round(rate * interval)} hosts / ${interval} s`;
    if (options.rates !== undefined) {
      for (const r of options.rates) search.push(await phase(label(r), r, stepSeconds));
    } else {
      let lo: number | undefined;
      let hi: number | undefined;
      for (let r = Math.max(1, Math.ceil(nominal * 4)); hi === undefined && r < 100_000; r *= 2) {
        const p = await phase(label(r), r, stepSeconds);
        search.push(p);
        if (p.held) lo = r;
        else hi = r;
      }
      for (let j = 0; j < (options.refinements ?? 3) && lo !== undefined && hi !== undefined; j++) {
        const r = Math.round((lo + hi) / 2);
        const p = await phase(label(r), r, stepSeconds);
        search.push(p);
        if (p.held) lo = r;
        else hi = r;
      }
    }
    // Stopped right after the last phase, so that node 0's profile ends with it.
    for (const n of nodes.splice(0).reverse()) await n.stop();
    let profile: string | undefined;
    const last = search.at(-1) ?? steady;
    if (profileDir !== undefined) {
      const newest = readdirSync(profileDir)
        .filter((x) => x.endsWith(".cpuprofile"))
        .map((x) => path.join(profileDir, x))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
      if (newest !== undefined) {
        const servedOn0 = Math.ceil(last.attestations / N);
        profile = `Node 0 under --cpu-prof (${newest}), the last phase (${last.name}, ${servedOn0} attestations on node 0, its length before the nodes stopped):\n\n${profileTable(newest, Math.round(last.attestations / last.offeredPerSec) * 1000, servedOn0, FLEET_BUCKETS)}`;
      }
    }
    const tables = await tableSizes(database, [
      "attestd_attestations",
      "attestd_last_attempts",
      "attestd_nonces",
      "attestd_hosts",
      "attestd_enrollments",
      "attestd_ek_pins",
      "attestd_audit",
    ]);
    const attestationsTotal = [steady, ...search].reduce((a, p) => a + p.attestations, 0);
    const inProcessCpuUs = options.noPeer ? undefined : (await (await inProcessProbe(f))()).cpuUsPerOp;
    const heldRates = [steady, ...search].filter((p) => p.held).map((p) => p.offeredPerSec);
    const capacityPerSec = heldRates.length > 0 ? Math.max(...heldRates) : undefined;
    const result = {
      hosts: H,
      nodes: N,
      intervalSeconds: interval,
      hostKeysSeconds,
      enrolSeconds,
      enrolPerSec: H / enrolSeconds,
      enrolCpuUs,
      idleCpuPercent,
      steady,
      search,
      ...(capacityPerSec !== undefined ? { capacityPerSec } : {}),
      statuses,
      tables,
      attestationsTotal,
      ...(inProcessCpuUs !== undefined ? { inProcessCpuUs } : {}),
      ...(profile !== undefined ? { profile } : {}),
    };
    return { ...result, markdown: fleetSimMarkdown(result) };
  } finally {
    for (const n of nodes.reverse()) await n.stop().catch(() => undefined);
    await pg.stop();
    await rm(shared, { recursive: true, force: true });
  }
}

const f0 = (v: number) => v.toFixed(0);
const f1 = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** The result as Markdown: the set-up, one row per phase, the capacity and how it was derived. */
export function fleetSimMarkdown(r: Omit<FleetSimResult, "markdown">): string {
  const lines = [
    `Run ${new Date().toISOString()} · Node ${process.version} · ${os.cpus().length} CPUs · load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
    `${r.hosts} simulated hosts (ECC EKs certified by a test CA attestd trusts, ECC AKs, the attestation suite's real-size log) on ${r.nodes} attestd nodes on one PostgreSQL; host i → node i mod ${r.nodes}.`,
    "",
    `- Enrolment (enrolment with the EK certificate, checked against the trusted CA, + activation per host): ${r.enrolSeconds.toFixed(1)} s for ${r.hosts} hosts = ${f1(r.enrolPerSec)} hosts/s, attestd ${f0(r.enrolCpuUs)} µs CPU per host (all nodes); making the hosts' keys and EK certificates in the client took ${r.hostKeysSeconds.toFixed(1)} s more.`,
    `- Idle with the fleet enrolled: attestd ${r.idleCpuPercent.map((p) => `${p.toFixed(1)}%`).join(" / ")} of a CPU per node (the cluster watcher's status poll every 2 s).`,
    `- Host list after the steady phase: ${Object.entries(r.statuses)
      .map(([s, n]) => `${n} ${s}`)
      .join(", ")} (unknown: enrolled, first attestation not yet due in the ${r.steady.attestations} attestations of the phase).`,
    "",
    "| phase | offered /s | done /s | p50 / p99 ms | p99 from due ms | attestd CPU µs/attestation per node (all) | PostgreSQL µs | client µs | DB connections (max / active max) | DB commits / rows written per attestation | machine busy | held |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const p of [r.steady, ...r.search]) {
    lines.push(
      `| ${p.name} | ${f1(p.offeredPerSec)} | ${f1(p.achievedPerSec)} | ${f1(p.p50Ms)} / ${f1(p.p99Ms)} | ${f0(p.p99FromDueMs)} | ${p.attestdCpuUs.map(f0).join(" / ")} (${f0(p.attestdCpuUsTotal)}) | ${p.postgresCpuUs === undefined ? "–" : f0(p.postgresCpuUs)} | ${f0(p.clientCpuUs)} | ${p.dbConnectionsMax} / ${p.dbActiveMax} | ${p.dbCommits.toFixed(1)} / ${p.dbRowsWritten.toFixed(1)} | ${(100 * p.machineBusy).toFixed(0)}% | ${p.held ? "yes" : `NO${p.failures > 0 ? ` (${p.failures} failed)` : ""}`} |`,
    );
  }
  lines.push("");
  if (r.inProcessCpuUs !== undefined) {
    const best = [r.steady, ...r.search]
      .filter((p) => p.held)
      .reduce<FleetSimPhase | undefined>((a, p) => (a === undefined || p.offeredPerSec > a.offeredPerSec ? p : a), undefined);
    if (best !== undefined) {
      lines.push(
        `- Peer in the same run: the in-process appraisal + token costs ${f0(r.inProcessCpuUs)} µs of CPU per attestation; attestd on PostgreSQL at the best held rate ${f0(best.attestdCpuUsTotal)} µs (${ratio(best.attestdCpuUsTotal, r.inProcessCpuUs)}), plus PostgreSQL's ${best.postgresCpuUs === undefined ? "?" : f0(best.postgresCpuUs)} µs and the client's ${f0(best.clientCpuUs)} µs on the same CPUs.`,
      );
    }
  }
  lines.push(
    `- attestd's tables after ${r.attestationsTotal} attestations of ${r.hosts} hosts: ${r.tables.map((t) => `${t.table.replace("attestd_", "")} ${t.rows} rows ${(t.bytes / 2 ** 20).toFixed(1)} MiB`).join(", ")}.`,
  );
  if (r.capacityPerSec !== undefined) {
    lines.push(
      `- Largest fleet held: ${f0(r.capacityPerSec)} attestations/s × ${r.intervalSeconds} s = ${f0(r.capacityPerSec * r.intervalSeconds)} hosts re-attesting every ${r.intervalSeconds} s (the best rate held in the compressed search: same hosts, shorter interval; held = all affirming, ≥ 97% of the schedule done, p99 from due ≤ ${HELD_P99_FROM_DUE_MS} ms — no host falls behind, so none goes stale). Client, attestd and PostgreSQL share these ${os.cpus().length} CPUs.`,
    );
  } else lines.push("- No rate was held.");
  if (r.profile !== undefined) lines.push("", r.profile);
  return lines.join("\n");
}
