/**
 * Whole-process start-up benchmark: how long an administrator or a script waits for `tactl` and `kmipd`, each
 * run as a process the way they are run (through their launchers under `apps/<app>/bin/`), beside tpm2-tools
 * commands doing the same job on the same input and a bare Node start.
 *
 * The cases run round-robin (case 1, 2, 3, …, then again), so that every case sees the machine's load in the
 * same minutes; each case runs once untimed first (which also fills Node's compile cache). Figures are wall
 * time from spawn to exit (for a daemon: to its "listening" line), median and 90th percentile.
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fixturePath } from "@tessera/fixtures";

const ROOT = path.resolve(import.meta.dirname, "../../..");

/** One process to time. */
export interface StartupCase {
  name: string;
  /** Program and arguments. */
  argv: string[];
  /** Extra environment. */
  env?: Record<string, string>;
  /** Wait for this text on stderr instead of the exit (a daemon), then stop it with SIGTERM. */
  readyOn?: RegExp;
  /** The name of the case it is compared with (its ratio is time ÷ that case's time). */
  peer?: string;
}

/** Timings of one case, in milliseconds. */
export interface StartupResult {
  name: string;
  peer?: string;
  runs: number;
  median: number;
  p90: number;
  min: number;
}

/** The p-quantile (0…1) of ascending `sorted` (nearest rank). */
export function quantile(sorted: number[], p: number): number {
  if (sorted.length === 0) throw new RangeError("no samples");
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function once(c: StartupCase): Promise<number> | number {
  const env = { ...process.env, ...c.env };
  const start = performance.now();
  if (!c.readyOn) {
    const r = spawnSync(c.argv[0], c.argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], env, timeout: 60_000 });
    const ms = performance.now() - start;
    if (r.error) throw new Error(`${c.name}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${c.name}: exit ${r.status}: ${r.stderr.toString().slice(0, 500)}`);
    return ms;
  }
  const ready = c.readyOn;
  return new Promise<number>((resolve, reject) => {
    const p = spawn(c.argv[0], c.argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], env });
    let err = "";
    let ms: number | undefined;
    const timer = setTimeout(() => p.kill("SIGKILL"), 60_000);
    p.stderr.on("data", (b: Buffer) => {
      err += b.toString();
      if (ms === undefined && ready.test(err)) {
        ms = performance.now() - start;
        p.kill("SIGTERM");
      }
    });
    p.once("error", reject);
    p.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (ms === undefined) reject(new Error(`${c.name}: exited (${code ?? signal}) before ${ready}: ${err.slice(0, 500)}`));
      else resolve(ms);
    });
  });
}

/** Times every case `runs` times, round-robin, after one untimed run of each. */
export async function timeStartups(cases: StartupCase[], runs: number): Promise<StartupResult[]> {
  const samples = cases.map(() => [] as number[]);
  for (const c of cases) await once(c);
  for (let r = 0; r < runs; r++) for (let i = 0; i < cases.length; i++) samples[i].push(await once(cases[i]));
  return cases.map((c, i) => {
    const s = samples[i].sort((a, b) => a - b);
    return { name: c.name, peer: c.peer, runs, median: quantile(s, 0.5), p90: quantile(s, 0.9), min: s[0] };
  });
}

/** A Markdown table of `results`, each with its ratio to its peer's median. */
export function startupTable(results: StartupResult[]): string {
  const byName = new Map(results.map((r) => [r.name, r]));
  const rows = results.map((r) => {
    const peer = r.peer ? byName.get(r.peer) : undefined;
    const ratio = peer ? `${(r.median / peer.median).toFixed(1)}×` : "";
    return `| ${r.name} | ${r.median.toFixed(0)} | ${r.p90.toFixed(0)} | ${r.min.toFixed(0)} | ${ratio} |`;
  });
  return ["| process | median ms | p90 ms | min ms | ratio to peer |", "| --- | ---: | ---: | ---: | ---: |", ...rows].join("\n");
}

/** The event log of the `eventlog show` cases: a real machine's log of 158 events. */
export const STARTUP_LOG = "eventlogs/go-tpm-tools_gdc-host.bin";

/**
 * The standard cases: tactl and kmipd through their launchers (compile cache on; tactl from its bundle, and from
 * its sources with `TACTL_FROM_SOURCE=1`), the same entry points without
 * the compile cache (`NODE_DISABLE_COMPILE_CACHE=1`, as `node apps/tactl/src/main.ts` ran before the launchers),
 * `npx tactl` if `npx` is wanted, tpm2-tools peers and a bare Node start.
 */
export function standardStartupCases(options: { npx?: boolean; dataDir: string; tactlBefore?: string }): StartupCase[] {
  const node = path.join(ROOT, "node_modules/.bin/node");
  const tactl = path.join(ROOT, "apps/tactl/bin/tactl");
  const kmipd = path.join(ROOT, "apps/kmipd/bin/kmipd");
  const log = fixturePath(STARTUP_LOG);
  const noCache = { NODE_DISABLE_COMPILE_CACHE: "1" };
  const fromSource = { TACTL_FROM_SOURCE: "1" };
  const kmipdArgs = ["--listen", "127.0.0.1:0", "--data-dir", options.dataDir, "--log-level", "warn"];
  const cases: StartupCase[] = [
    { name: "`node -e 0` (bare Node 24 start)", argv: [node, "-e", "0"] },
    { name: "`tpm2_pcrread --help`", argv: ["tpm2_pcrread", "--help"] },
    { name: "`tactl --help`", argv: [tactl, "--help"], peer: "`tpm2_pcrread --help`" },
    { name: "`tactl --help`, sources (no bundle)", argv: [tactl, "--help"], env: fromSource, peer: "`tpm2_pcrread --help`" },
    {
      name: "`node apps/tactl/src/main.ts --help`, no compile cache",
      argv: [node, path.join(ROOT, "apps/tactl/src/main.ts"), "--help"],
      env: noCache,
      peer: "`tpm2_pcrread --help`",
    },
    { name: "`tpm2_eventlog LOG`", argv: ["tpm2_eventlog", log] },
    { name: "`tactl eventlog show LOG`", argv: [tactl, "eventlog", "show", log], peer: "`tpm2_eventlog LOG`" },
    { name: "`tactl eventlog show LOG`, sources (no bundle)", argv: [tactl, "eventlog", "show", log], env: fromSource, peer: "`tpm2_eventlog LOG`" },
    {
      name: "`node apps/tactl/src/main.ts eventlog show LOG`, no compile cache",
      argv: [node, path.join(ROOT, "apps/tactl/src/main.ts"), "eventlog", "show", log],
      env: noCache,
      peer: "`tpm2_eventlog LOG`",
    },
    { name: "`kmipd --help`", argv: [kmipd, "--help"], peer: "`node -e 0` (bare Node 24 start)" },
    {
      name: "`node apps/kmipd/src/main.ts --help`, no compile cache",
      argv: [node, path.join(ROOT, "apps/kmipd/src/main.ts"), "--help"],
      env: noCache,
      peer: "`node -e 0` (bare Node 24 start)",
    },
    { name: "`kmipd` start to listening", argv: [kmipd, ...kmipdArgs], readyOn: /kmipd: listening on/, peer: "`node -e 0` (bare Node 24 start)" },
    {
      name: "`node apps/kmipd/src/main.ts` start to listening, no compile cache",
      argv: [node, path.join(ROOT, "apps/kmipd/src/main.ts"), ...kmipdArgs],
      env: noCache,
      readyOn: /kmipd: listening on/,
      peer: "`node -e 0` (bare Node 24 start)",
    },
  ];
  if (options.tactlBefore) {
    // An earlier tactl (its src/main.ts, e.g. extracted with `git archive`), as it was run then: no compile cache.
    const before = path.resolve(options.tactlBefore);
    cases.push(
      { name: "before: `tactl --help`", argv: [node, before, "--help"], env: noCache, peer: "`tpm2_pcrread --help`" },
      { name: "before: `tactl eventlog show LOG`", argv: [node, before, "eventlog", "show", log], env: noCache, peer: "`tpm2_eventlog LOG`" },
    );
  }
  if (options.npx) cases.push({ name: "`npx tactl --help`", argv: ["npx", "--no-install", "tactl", "--help"], peer: "`tpm2_pcrread --help`" });
  return cases;
}

/** Runs the standard start-up cases; returns a Markdown report. */
export async function benchStartup(options: { runs?: number; npx?: boolean; tactlBefore?: string } = {}): Promise<string> {
  const runs = options.runs ?? 15;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "tessera-bench-kmipd-"));
  try {
    // tactl's launcher runs its bundle only while it matches the sources: build it now (as `npm run build` does).
    const built = spawnSync(path.join(ROOT, "node_modules/.bin/node"), [path.join(ROOT, "apps/tactl/src/build_bundle.ts")], { encoding: "utf8" });
    if (built.status !== 0) throw new Error(`tactl bundle build failed: ${built.stderr}`);
    const events = spawnSync("tpm2_eventlog", [fixturePath(STARTUP_LOG)], { encoding: "utf8" }).stdout.match(/^- EventNum:/gm)?.length;
    const load = os.loadavg()[0].toFixed(2);
    const results = await timeStartups(standardStartupCases({ npx: options.npx, dataDir, tactlBefore: options.tactlBefore }), runs);
    return [
      `${runs} runs of each process, round-robin, after one untimed run of each; LOG = ${STARTUP_LOG} (${events ?? "?"} events as tpm2_eventlog counts them); 1-minute load average before: ${load}, after: ${os.loadavg()[0].toFixed(2)}.`,
      "",
      startupTable(results),
    ].join("\n");
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
