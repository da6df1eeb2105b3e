/**
 * The attestation suite (`npm run bench -- --suite attest`), in one run:
 *
 * 1. full attestations through attestd's HTTPS API with keep-alive (attest_api.ts), server and client CPU apart;
 * 2. the same appraisal in-process: appraise + issueEar, no HTTP (attest_inprocess.ts);
 * 3. the bare crypto floor: one quote signature verification, the log's replay hashes, one ES256 signature;
 * 4. attestd's HTTPS floor: its CPU per bare request (`GET /.well-known/jwks.json`) on the cells' connections;
 *
 * and, apart, the host's side: one swtpm quote (attest_tpm.ts). Prints the table and the ratios against the
 * goals of issue #10 and the peers' published figures.
 * @module
 */
import { readdirSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { benchApi, type ApiCell, type ApiOptions, type HttpFloor } from "./attest_api.ts";
import { ATTEST_PCRS, attestFixture, benchInProcess, inProcessProbe } from "./attest_inprocess.ts";
import { type AttestRow, attestTable, type LatencyMeasurement, ratio } from "./attest_measure.ts";
import { profileTable } from "./attest_profile.ts";
import { benchSwtpmQuote } from "./attest_tpm.ts";

/** Issue #10's throughput goal on this 2-core machine. */
export const GOAL_PER_SECOND = 3000;
/** Issue #10: the API within this factor of in-process. */
export const GOAL_API_VS_IN_PROCESS = 2;

/** The peers' published figures, as the issue states them (not measured here). */
export const PEERS = [
  { name: "Keylime (published: a verifier overloads near this rate)", perSecond: 1250, cores: undefined as number | undefined },
  { name: "a Trustee fork (published, 4 cores), low end", perSecond: 500, cores: 4 },
  { name: "a Trustee fork (published, 4 cores), high end", perSecond: 900, cores: 4 },
] as const;

/** Options of {@link benchAttest}. */
export interface AttestSuiteOptions extends ApiOptions {
  /** Skip the swtpm quote (host side). */
  readonly noTpm?: boolean;
  /** Batch length of the in-process measurements, ms (default 300). */
  readonly batchMs?: number;
  /**
   * Then profile attestd: one more API cell (the most connections) on a fresh attestd run with `--cpu-prof` into
   * this folder, and print where its main thread's time went (attest_profile.ts).
   */
  readonly profileDir?: string;
}

/**
 * The summary lines: the goals and the peers, from the best API cell and the in-process figure; with attestd's HTTPS
 * floor, how much of an attestation's CPU two bare requests already take, and the rest against in-process.
 */
export function attestSummary(cells: readonly ApiCell[], inProcess: LatencyMeasurement, cpus: number, floor?: HttpFloor, bound?: ApiCell): string[] {
  const best = cells.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
  const lines: string[] = [];
  const capacity = best.serverCpuUs === undefined ? undefined : (cpus * 1e6) / best.serverCpuUs;
  lines.push(
    `- Best API cell: ${best.opsPerSec.toFixed(0)} attestations/s at ${best.connections} connection(s), p50 ${best.p50Ms.toFixed(1)} ms, p99 ${best.p99Ms.toFixed(1)} ms; attestd used ${best.serverCpuUs?.toFixed(0) ?? "?"} µs of CPU per attestation, the client ${best.clientCpuUs.toFixed(0)} µs.`,
  );
  if (capacity !== undefined && best.serverCpuUs !== undefined) {
    const used = (best.serverCpuUs * best.opsPerSec) / 1e6;
    lines.push(
      `- attestd kept ${used.toFixed(2)} of the ${cpus} CPUs busy in that cell; at its CPU cost per attestation all ${cpus} would allow ${capacity.toFixed(0)}/s, were the client elsewhere and attestd able to use them.`,
    );
  }
  const perAttestUs = best.serverCpuUs ?? 1e6 / best.opsPerSec;
  // The in-process figure of the same minute when there is one (see ApiOptions.afterCell).
  const inp = best.inProcess ?? inProcess;
  const cpuRatio = perAttestUs / inp.cpuUsPerOp;
  lines.push(
    `- API vs in-process (goal: within ${GOAL_API_VS_IN_PROCESS}×), CPU per attestation: attestd ${perAttestUs.toFixed(0)} µs vs ${inp.cpuUsPerOp.toFixed(0)} µs in-process${best.inProcess ? " (measured right after that cell)" : ""} = ${ratio(perAttestUs, inp.cpuUsPerOp)} — ${cpuRatio <= GOAL_API_VS_IN_PROCESS ? "met" : "NOT met"} (throughput: ${best.opsPerSec.toFixed(0)}/s through the API vs ${inp.opsPerSec.toFixed(0)}/s in-process on one thread).`,
  );
  if (floor?.serverCpuUs !== undefined && best.serverCpuUs !== undefined) {
    const two = 2 * floor.serverCpuUs;
    const rest = perAttestUs - two;
    lines.push(
      `- attestd's HTTPS floor (GET /.well-known/jwks.json, ${floor.connections} connections): ${floor.serverCpuUs.toFixed(0)} µs of CPU per request; an attestation's two requests: ${two.toFixed(0)} µs of its ${perAttestUs.toFixed(0)} µs (${((two / perAttestUs) * 100).toFixed(0)}%). The rest, ${rest.toFixed(0)} µs (body, storage, the appraisal, the token), is ${ratio(rest, inp.cpuUsPerOp)} the in-process appraisal.`,
    );
  }
  if (bound?.serverCpuUs !== undefined) {
    const bInp = bound.inProcess ?? inProcess;
    lines.push(
      `- The bound (attest_bound_server.ts: the same requests answered with only a nonce in memory, the appraisal and the token; no server can do less): ${bound.opsPerSec.toFixed(0)}/s at ${bound.connections} connections, ${bound.serverCpuUs.toFixed(0)} µs of CPU per attestation = ${ratio(bound.serverCpuUs, bInp.cpuUsPerOp)} the in-process appraisal measured right after it (${bInp.cpuUsPerOp.toFixed(0)} µs), the client ${bound.clientCpuUs.toFixed(0)} µs; ${ratio(bound.opsPerSec, GOAL_PER_SECOND)} of ${GOAL_PER_SECOND}/s. attestd against the bound: CPU ${ratio(perAttestUs, bound.serverCpuUs)}, rate ${ratio(best.opsPerSec, bound.opsPerSec)}.`,
    );
  }
  lines.push(
    `- API vs the goal of ${GOAL_PER_SECOND}/s on 2 cores: ${best.opsPerSec.toFixed(0)}/s = ${ratio(best.opsPerSec, GOAL_PER_SECOND)} of it — ${best.opsPerSec >= GOAL_PER_SECOND ? "met" : `NOT met (${ratio(GOAL_PER_SECOND, best.opsPerSec)} short)`}.`,
  );
  for (const p of PEERS)
    lines.push(
      `- vs ${p.name} ${p.perSecond}/s${p.cores ? ` (${(p.perSecond / p.cores).toFixed(0)}/s per core)` : ""}: ${ratio(best.opsPerSec, p.perSecond)}.`,
    );
  return lines;
}

/** Runs the suite; returns Markdown. */
export async function benchAttest(options: AttestSuiteOptions = {}): Promise<string> {
  const f = attestFixture();
  const cpus = os.cpus().length;
  const header = [
    `Run ${new Date().toISOString()} · Node ${process.version} · ${os.cpus()[0]?.model ?? "cpu"} · ${cpus} CPUs · load average ${os.loadavg()[0].toFixed(2)}`,
    `Event log: ${f.logName} (${f.log.length} bytes, ${f.events} events), quoted PCRs: what attestd's challenges ask (in-process: sha256:0-9,14, attestd's default), Secure Boot required, one accepted image.`,
    "",
  ];
  const rows: AttestRow[] = [];
  const api = await benchApi(f, { ...options, afterCell: await inProcessProbe(f) });
  rows.push(...api.rows);
  const inp = await benchInProcess(f, { batchMs: options.batchMs ?? 300 });
  rows.push(...inp.rows);
  if (!options.noTpm) rows.push(await benchSwtpmQuote(ATTEST_PCRS));
  const ecc = inp.inProcess.get("ecc");
  const summary = ecc ? attestSummary(api.cells, ecc, cpus, api.floor, api.bound) : [];
  const out = [...header, attestTable(rows), "", ...summary];
  if (options.profileDir !== undefined) {
    const dir = path.resolve(options.profileDir);
    const levels = options.connections ?? [1, 8, 32];
    const durationMs = options.durationMs ?? 3000;
    const profiled = await benchApi(f, {
      ...options,
      connections: [Math.max(...levels)],
      noFloor: true,
      noBound: true,
      nodeArgs: [...(options.nodeArgs ?? []), "--cpu-prof", `--cpu-prof-dir=${dir}`],
    });
    const newest = readdirSync(dir)
      .filter((n) => n.endsWith(".cpuprofile"))
      .map((n) => path.join(dir, n))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    const cell = profiled.cells[0];
    if (newest !== undefined && cell !== undefined) {
      out.push(
        "",
        `Profiled cell (attestd with --cpu-prof, ${newest}):`,
        "",
        attestTable(profiled.rows),
        "",
        profileTable(newest, durationMs, cell.attestations),
      );
    }
  }
  return out.join("\n");
}
