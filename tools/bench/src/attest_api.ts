/**
 * Part 1 of the attestation suite: full attestations through attestd's HTTPS API with keep-alive, attestd in
 * its own process (SQLite in a fresh data directory, its defaults), the load client in this one.
 *
 * Set-up through the admin API as an administrator does it: sign in with the generated admin password, accept
 * the image of the suite's event log, pin each host's EK public key, then enroll each host through the host
 * protocol (enrollment, credential, activation). Each host is a software TPM model (attest_host.ts) holding an
 * ECC P-256 AK and a binding key certified by it. Then, per cell, `connections` loops each drive one host for
 * the cell's duration: POST …/challenges, a quote over the nonce, POST …/attestations with the real-size log;
 * every answer must be 200 `affirming` with a token. Server CPU is attestd's, from /proc (with `--workers N`, the
 * primary's and every worker's); client CPU is this process's (quote signing, JSON, TLS). Last, one cell at the most
 * connections against attest_bound_server.ts instead (the least a server can do for the same requests: a bound).
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { algName, fromHex, parsePcrSelection, selectedPcrs, TPM_ALG, toHex, type PcrBanks } from "@tessera/tpm2";
import { pcrsOfLog, softActivateCredential, softAk, softBindingKey, softEk, softQuote, type LogPcrs, type SoftAk, type SoftBindingKey } from "./attest_host.ts";
import { startChildServer } from "./_child_server.ts";
import type { Setup as BoundSetup } from "./attest_bound_server.ts";
import type { AttestFixture } from "./attest_inprocess.ts";
import { type AttestRow, type LatencyMeasurement, percentile, processTreeCpuUs, ratio } from "./attest_measure.ts";

export const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");

/** The attestd entry point of this repository (run on this Node, like apps/attestd/bin/attestd does). */
const ATTESTD_MAIN = path.resolve(import.meta.dirname, "../../../apps/attestd/src/main.ts");

/** A JSON answer. */
/** An HTTP answer: status and body text. */
export interface Answer {
  status: number;
  text: string;
}

/**
 * One HTTPS request over `agent` (keep-alive), body already serialized. A request that met a reused keep-alive
 * connection the server had closed meanwhile (ECONNRESET before any answer: it was not processed) is sent once more
 * on a new connection — a suite that keeps the event loop busy for longer than attestd's 30 s idle timeout meets it.
 */
export async function call(agent: https.Agent, url: string, method: string, body: string | undefined, headers: Record<string, string> = {}): Promise<Answer> {
  try {
    return await callOnce(agent, url, method, body, headers);
  } catch (e) {
    if ((e as { code?: unknown; reusedSocket?: unknown }).code === "ECONNRESET" && (e as { reusedSocket?: unknown }).reusedSocket === true) {
      return callOnce(agent, url, method, body, headers);
    }
    throw e;
  }
}

function callOnce(agent: https.Agent, url: string, method: string, body: string | undefined, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        agent,
        headers: { ...(body === undefined ? {} : { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", (e) => reject(Object.assign(e, { reusedSocket: req.reusedSocket })));
    req.end(body);
  });
}

export async function expectJson(p: Promise<Answer>, status: number, what: string): Promise<Record<string, unknown>> {
  const a = await p;
  if (a.status !== status) throw new Error(`${what}: HTTP ${a.status}, expected ${status}: ${a.text.slice(0, 500)}`);
  return JSON.parse(a.text) as Record<string, unknown>;
}

/** A running attestd process. */
interface AttestdProcess {
  url: string;
  pid: number | undefined;
  ca: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Starts attestd (`main`) on a fresh data directory and loopback port; resolves once it says it is listening. */
async function spawnAttestd(main: string, nodeArgs: readonly string[], workers: number | undefined): Promise<AttestdProcess> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "bench-attestd-"));
  const args = [
    ...nodeArgs,
    main,
    "--listen",
    "127.0.0.1:0",
    "--data-dir",
    dataDir,
    "--log-level",
    "warn",
    ...(workers !== undefined ? ["--workers", String(workers)] : []),
  ];
  const proc: ChildProcess = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    let listening = false;
    proc.stdout!.setEncoding("utf8").on("data", (c: string) => {
      // Kept and matched only until attestd listens (the bench process's CPU is measured: no work for its output after).
      if (listening) return;
      out += c;
      const m = /listening on (https:\/\/\S+)/.exec(out);
      if (m) {
        listening = true;
        resolve(m[1]);
      }
    });
    proc.once("exit", (code) => reject(new Error(`attestd exited (${code}) before listening: ${out}`)));
  });
  proc.stdout!.resume();
  const ca = await readFile(path.join(dataDir, "tls", "ca.pem"), "utf8");
  return {
    url,
    pid: proc.pid,
    ca,
    dataDir,
    async stop() {
      proc.kill("SIGTERM");
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** One enrolled benchmark host. */
interface BenchHost {
  name: string;
  ak: SoftAk;
  binding: SoftBindingKey;
}

function pcrsJson(banks: PcrBanks): string {
  const out: Record<string, Record<string, string>> = {};
  for (const [alg, bank] of banks) out[algName(alg)] = Object.fromEntries([...bank].map(([i, v]) => [String(i), toHex(v)]));
  return JSON.stringify(out);
}

/**
 * The PCR values `log` replays to for a challenge's selection (the SHA-256 bank only), with their JSON as the
 * attestation body carries them, kept by selection. Shared by the attest and fleet-sim suites.
 */
export function quotedPcrs(log: Uint8Array): (selection: string) => { q: LogPcrs; json: string } {
  const quoted = new Map<string, { q: LogPcrs; json: string }>();
  return (selection) => {
    let e = quoted.get(selection);
    if (e === undefined) {
      const sha256 = parsePcrSelection(selection).filter((s) => s.hash === TPM_ALG.SHA256);
      if (sha256.length !== 1) throw new Error(`the benchmark quotes the SHA-256 bank only, the challenge asks for ${selection}`);
      const q = pcrsOfLog(log, selectedPcrs(sha256[0]));
      e = { q, json: pcrsJson(q.pcrs) };
      quoted.set(selection, e);
    }
    return e;
  };
}

/** Options of {@link benchApi}. */
export interface ApiOptions {
  /** Concurrent connections (each driving its own host) per cell (default 1, 8, 32). */
  readonly connections?: readonly number[];
  /** Duration of each cell, ms (default 3000), after a warm-up of a third of it. */
  readonly durationMs?: number;
  /** Node options for the attestd process (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
  /**
   * attestd's src/main.ts (default this repository's): e.g. an exported commit's (`git archive C apps/attestd`
   * beside a link to node_modules), to measure what is committed while the working tree changes.
   */
  readonly attestdMain?: string;
  /** attestd's `--workers N` (serving processes on one socket); absent: not passed (attestd's default, one). */
  readonly workers?: number;
  /**
   * Run right after each cell (attestd idle): the in-process appraisal, so that each cell's API-to-in-process ratio
   * compares two measurements of the same minute (this machine's speed moves by ±30% between minutes).
   */
  readonly afterCell?: () => Promise<LatencyMeasurement>;
  /** Skip the HTTPS floor after the cells ({@link HttpFloor}): a profiled run's last seconds must be its cell's. */
  readonly noFloor?: boolean;
  /** Skip the bound server's cell (attest_bound_server.ts; by default one cell at the most connections, last). */
  readonly noBound?: boolean;
}

/** The result of one cell. */
export interface ApiCell {
  readonly connections: number;
  readonly attestations: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly serverCpuUs?: number;
  readonly clientCpuUs: number;
  readonly failures: number;
  /** The in-process appraisal measured right after the cell (`afterCell`). */
  readonly inProcess?: LatencyMeasurement;
}

/**
 * attestd's HTTPS floor: what one request costs it when the handler does next to nothing (`GET
 * /.well-known/jwks.json`, a cached answer), on the same connections right after the cells. An attestation is two
 * requests (challenge, attestation), so twice this is what TLS, HTTP and the service's middleware cost attestd per
 * attestation before any of its own work.
 */
export interface HttpFloor {
  readonly connections: number;
  readonly requests: number;
  readonly perSec: number;
  /** attestd's CPU per request, µs (absent where /proc cannot be read). */
  readonly serverCpuUs?: number;
  readonly clientCpuUs: number;
  /** Answers other than 200. */
  readonly failures: number;
}

/** {@link HttpFloor}: `connections` callers on `agent` for `durationMs`, after a warm-up of a third of it. */
async function httpFloor(
  agent: https.Agent,
  attestd: { readonly url: string; readonly pid: number | undefined },
  connections: number,
  durationMs: number,
): Promise<HttpFloor> {
  const jwks = `${attestd.url}/.well-known/jwks.json`;
  const load = async (ms: number) => {
    let requests = 0;
    let failures = 0;
    const end = performance.now() + ms;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < end) {
          const a = await call(agent, jwks, "GET", undefined);
          requests++;
          if (a.status !== 200) failures++;
        }
      }),
    );
    return { requests, failures };
  };
  const { result, seconds, serverUs, clientUs } = await timed(attestd.pid, durationMs, load);
  const { requests, failures } = result;
  return {
    connections,
    requests,
    perSec: requests / seconds,
    ...(serverUs !== undefined ? { serverCpuUs: serverUs / requests } : {}),
    clientCpuUs: clientUs / requests,
    failures,
  };
}

/**
 * Runs `load` for a third of `ms` untimed (warm-up), then for `ms` timed: its result, the timed run's seconds, and the
 * CPU µs over it of the server process `pid` with its children (absent where /proc cannot be read) and of this process.
 */
async function timed<T>(
  pid: number | undefined,
  ms: number,
  load: (ms: number) => Promise<T>,
): Promise<{ result: T; seconds: number; serverUs?: number; clientUs: number }> {
  await load(ms / 3);
  const server0 = processTreeCpuUs(pid);
  const client0 = process.cpuUsage();
  const start = performance.now();
  const result = await load(ms);
  const seconds = (performance.now() - start) / 1000;
  const client = process.cpuUsage(client0);
  const server1 = processTreeCpuUs(pid);
  return { result, seconds, clientUs: client.user + client.system, ...(server0 !== undefined && server1 !== undefined ? { serverUs: server1 - server0 } : {}) };
}

/** Runs part 1; returns one cell per connection count (rows for the table included) and attestd's HTTPS floor. */
export async function benchApi(
  f: AttestFixture,
  options: ApiOptions = {},
): Promise<{ cells: ApiCell[]; rows: AttestRow[]; floor?: HttpFloor; bound?: ApiCell }> {
  const levels = options.connections ?? [1, 8, 32];
  const durationMs = options.durationMs ?? 3000;
  const attestd = await spawnAttestd(options.attestdMain ?? ATTESTD_MAIN, options.nodeArgs ?? [], options.workers);
  const maxHosts = Math.max(...levels);
  const agent = new https.Agent({ keepAlive: true, maxSockets: maxHosts + 1, ca: attestd.ca });
  try {
    const password = (await readFile(path.join(attestd.dataDir, "admin.password"), "utf8")).trim();
    const signIn = await expectJson(call(agent, `${attestd.url}/api/v1/auth/token`, "POST", JSON.stringify({ user: "admin", password })), 200, "sign-in");
    const admin = { authorization: `Bearer ${String(signIn["token"])}` };
    await expectJson(
      call(agent, `${attestd.url}/api/v1/images`, "POST", JSON.stringify({ name: "bench-host", version: "1", eventLog: b64(f.log) }), admin),
      201,
      "adding the image",
    );
    const hosts: BenchHost[] = [];
    for (let i = 0; i < maxHosts; i++) {
      const name = `host-${i}.bench`;
      const ek = softEk();
      const ak = softAk("ecc");
      await expectJson(
        call(agent, `${attestd.url}/api/v1/ek-pins`, "POST", JSON.stringify({ host: name, ekPublic: b64(ek.publicBytes) }), admin),
        201,
        `pinning ${name}'s EK`,
      );
      const e = await expectJson(
        call(
          agent,
          `${attestd.url}/api/v1/hosts/${name}/enrollments`,
          "POST",
          JSON.stringify({ ekPublic: b64(ek.publicBytes), akPublic: b64(ak.publicBytes) }),
        ),
        201,
        `enrolling ${name}`,
      );
      const secret = softActivateCredential(ek, ak.name, new Uint8Array(Buffer.from(String(e["credential"]), "base64")));
      await expectJson(
        call(agent, `${attestd.url}/api/v1/hosts/${name}/enrollments/${String(e["enrollment"])}/activation`, "POST", JSON.stringify({ secret: b64(secret) })),
        200,
        `activating ${name}`,
      );
      hosts.push({ name, ak, binding: softBindingKey(ak) });
    }

    // What each challenge asks to be quoted (attestd's settings), with the values the log replays to, by selection.
    const quotedFor = quotedPcrs(f.log);
    const logB64 = JSON.stringify(b64(f.log));
    const attestOnce = async (h: BenchHost, base = attestd.url): Promise<boolean> => {
      const ch = await call(agent, `${base}/api/v1/hosts/${h.name}/challenges`, "POST", "");
      if (ch.status !== 201) return false;
      const { nonce, pcrSelection } = JSON.parse(ch.text) as { nonce: string; pcrSelection: string };
      const sel = quotedFor(pcrSelection);
      const q = softQuote(h.ak, fromHex(nonce), sel.q.selection, sel.q.pcrs);
      const body = `{"nonce":"${nonce}","quote":"${b64(q.quote)}","signature":"${b64(q.signature)}","pcrs":${sel.json},"eventLog":${logB64},"bindingKey":{"public":"${b64(h.binding.public)}","certifyInfo":"${b64(h.binding.certifyInfo)}","signature":"${b64(h.binding.signature)}"}}`;
      const a = await call(agent, `${base}/api/v1/hosts/${h.name}/attestations`, "POST", body);
      if (a.status !== 200) {
        if (firstFailure === undefined) firstFailure = `HTTP ${a.status}: ${a.text.slice(0, 400)}`;
        return false;
      }
      const r = JSON.parse(a.text) as { status?: string; token?: string };
      return r.status === "affirming" && typeof r.token === "string" && r.token.split(".").length === 3;
    };
    let firstFailure: string | undefined;
    // One attestation of the first host before anything is timed: a wrong set-up fails here, loudly.
    if (!(await attestOnce(hosts[0]))) throw new Error(`the first attestation was not affirming: ${firstFailure ?? "no token"}`);

    /** One cell: `n` hosts attesting against `base` in a loop, the CPU of the server process `pid`. */
    const cell = async (n: number, base: string, pid: number | undefined): Promise<ApiCell> => {
      const run = async (ms: number) => {
        const lat: number[] = [];
        let failures = 0;
        const end = performance.now() + ms;
        await Promise.all(
          hosts.slice(0, n).map(async (h) => {
            while (performance.now() < end) {
              const t0 = performance.now();
              const ok = await attestOnce(h, base);
              lat.push(performance.now() - t0);
              if (!ok) failures++;
            }
          }),
        );
        return { lat, failures };
      };
      const { result, seconds, serverUs, clientUs } = await timed(pid, durationMs, run);
      const { lat, failures } = result;
      const inProcess = await options.afterCell?.();
      lat.sort((a, b) => a - b);
      return {
        connections: n,
        attestations: lat.length,
        opsPerSec: lat.length / seconds,
        p50Ms: percentile(lat, 50),
        p99Ms: percentile(lat, 99),
        ...(serverUs !== undefined ? { serverCpuUs: serverUs / lat.length } : {}),
        clientCpuUs: clientUs / lat.length,
        failures,
        ...(inProcess ? { inProcess } : {}),
      };
    };
    const cells: ApiCell[] = [];
    for (const n of levels) cells.push(await cell(n, attestd.url, attestd.pid));
    if (firstFailure !== undefined && cells.some((c) => c.failures > 0)) process.stderr.write(`attest bench: first failure: ${firstFailure}\n`);

    const floor = options.noFloor ? undefined : await httpFloor(agent, attestd, hosts.length, durationMs);
    let bound: ApiCell | undefined;
    if (!options.noBound) {
      const server = await startChildServer(
        path.join(import.meta.dirname, "attest_bound_server.ts"),
        {
          cert: await readFile(path.join(attestd.dataDir, "tls", "server.pem"), "utf8"),
          key: await readFile(path.join(attestd.dataDir, "tls", "server-key.pem"), "utf8"),
          hosts: hosts.map((h) => [h.name, b64(h.ak.publicBytes)] as const),
        } satisfies BoundSetup,
        "the bound server",
      );
      try {
        const base = `https://127.0.0.1:${server.port}`;
        if (!(await attestOnce(hosts[0], base))) throw new Error(`the bound server's first attestation was not affirming: ${firstFailure ?? "no token"}`);
        bound = await cell(maxHosts, base, server.pid);
      } finally {
        await server.stop();
      }
    }
    const connections = (n: number): string => `${n} connection${n === 1 ? "" : "s"}`;
    /** A cell's row: its figures, and the note with its CPU against the in-process appraisal taken right after it. */
    const cellRow = (name: string, c: ApiCell): AttestRow => ({
      name,
      opsPerSec: c.opsPerSec,
      usPerOp: 1e6 / c.opsPerSec,
      p50Ms: c.p50Ms,
      p99Ms: c.p99Ms,
      ...(c.serverCpuUs !== undefined ? { serverCpuUs: c.serverCpuUs } : {}),
      clientCpuUs: c.clientCpuUs,
      note: `${c.attestations} attestations${c.failures > 0 ? `, ${c.failures} NOT affirming` : ", all affirming with a token"}${
        c.inProcess && c.serverCpuUs !== undefined
          ? `; CPU ${ratio(c.serverCpuUs, c.inProcess.cpuUsPerOp)} the in-process appraisal's measured right after (${c.inProcess.cpuUsPerOp.toFixed(0)} µs)`
          : ""
      }`,
    });
    const rows = cells.map((c) => cellRow(`API: challenge + attestation, ${connections(c.connections)} (HTTPS keep-alive)`, c));
    if (floor)
      rows.push({
        name: `attestd's HTTPS floor: GET /.well-known/jwks.json, ${connections(floor.connections)} (keep-alive)`,
        opsPerSec: floor.perSec,
        usPerOp: 1e6 / floor.perSec,
        ...(floor.serverCpuUs !== undefined ? { serverCpuUs: floor.serverCpuUs } : {}),
        clientCpuUs: floor.clientCpuUs,
        note: `${floor.requests} requests${floor.failures > 0 ? `, ${floor.failures} NOT 200` : ", all 200"}; per request (an attestation makes two)`,
      });
    if (bound)
      rows.push(
        cellRow(`bound: HTTPS server doing only a nonce in memory, the appraisal and the token, ${connections(bound.connections)} (keep-alive)`, bound),
      );
    return { cells, rows, ...(floor ? { floor } : {}), ...(bound ? { bound } : {}) };
  } finally {
    agent.destroy();
    await attestd.stop();
  }
}
