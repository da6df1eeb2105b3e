#!/usr/bin/env node
/**
 * `kmip-conformance`: replays the OASIS KMIP test cases against a KMIP server and prints, per profile and
 * version, how many cases pass, then each failing case with its first mismatch.
 *
 * Run it as `npm exec -w @tessera/kmip-conformance -- kmip-conformance …` or
 * `npx node tools/kmip-conformance/src/main.ts …` from the repository root.
 * ```
 * kmip-conformance                               # all cases against an in-process kmipd in a temp dir
 * kmip-conformance --profile BL-M --version 2.1  # one profile
 * kmip-conformance --file path/to/SKLC-M-1-14.xml
 * kmip-conformance --server host:5696 --cert c.pem --key k.pem --ca ca.pem
 * kmip-conformance --json --require BL-M SKLC-M  # exit 1 unless every BL-M and SKLC-M case passes
 * ```
 * The exit code is 0 whatever the results, 1 when a `--require`d profile has a failing case, 2 for bad
 * arguments or a server that cannot be started or reached.
 * @module
 */
import { readFile, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { KmipConnection, type ClientTls, type ServerAddress } from "@tessera/kmip-client";
import { loadConfig, startKmipd } from "@tessera/kmipd";
import { caseIdentity } from "./isolation.ts";
import { caseInfo, DEFAULT_VECTORS, findCases, runCase, type CaseResult } from "./runner.ts";

const USAGE = `usage: kmip-conformance [--vectors DIR] [--profile P…] [--version 1.4|2.1] [--file F…]
                        [--server HOST:PORT --cert F --key F --ca F] [--json] [--require PROFILE…]`;

/** One row of the summary. */
interface ProfileRow {
  profile: string;
  version: string;
  passed: number;
  total: number;
}

/** Pass counts per profile prefix and version. */
function summarize(results: readonly CaseResult[]): ProfileRow[] {
  const rows = new Map<string, ProfileRow>();
  for (const r of results) {
    const key = `${r.version} ${r.profile}`;
    const row = rows.get(key) ?? {
      profile: r.profile,
      version: r.version,
      passed: 0,
      total: 0,
    };
    row.total++;
    if (r.passed) row.passed++;
    rows.set(key, row);
  }
  return [...rows.values()].sort((a, b) => a.version.localeCompare(b.version) || a.profile.localeCompare(b.profile));
}

function firstProblem(r: CaseResult): string {
  const m = r.mismatches[0];
  const parts: string[] = [];
  if (m) parts.push(`step ${m.step} ${m.operation}: ${m.path}: expected ${m.expected}, actual ${m.actual}`);
  if (r.error) parts.push(r.error);
  if (r.mismatches.length > 1) parts.push(`(+${r.mismatches.length - 1} more mismatches)`);
  return parts.join(" ");
}

function table(rows: ProfileRow[]): string {
  const lines = [
    ["profile", "version", "passed", "rate"],
    ...rows.map((r) => [r.profile, r.version, `${r.passed}/${r.total}`, `${Math.round((100 * r.passed) / r.total)}%`]),
  ];
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines.map((l) => l.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ")).join("\n");
}

/** `--require A B --json` → `--require A --require B --json`: the flag takes several profiles. */
function spreadRequire(argv: string[]): string[] {
  const out: string[] = [];
  let inRequire = false;
  for (const a of argv) {
    if (a === "--require") inRequire = true;
    else if (a.startsWith("-")) inRequire = false;
    else if (inRequire && out[out.length - 1] !== "--require") out.push("--require");
    out.push(a);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: spreadRequire(argv),
    strict: true,
    allowPositionals: false,
    options: {
      vectors: { type: "string" },
      profile: { type: "string", multiple: true },
      version: { type: "string" },
      file: { type: "string", multiple: true },
      server: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      ca: { type: "string" },
      json: { type: "boolean" },
      require: { type: "string", multiple: true },
      help: { type: "boolean" },
    },
  });
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const root = v.vectors ?? process.env.KMIP_TEST_VECTORS ?? DEFAULT_VECTORS;
  let files = v.file?.length ? v.file.map((f) => path.resolve(f)) : await findCases(root);
  if (v.profile?.length) files = files.filter((f) => v.profile!.includes(caseInfo(f).profile));
  if (v.version) files = files.filter((f) => caseInfo(f).version === v.version);
  if (files.length === 0) throw new Error("no test cases selected");

  let address: ServerAddress;
  let tls: ClientTls;
  let stop = async () => {};
  let isolate: ((name: string) => Promise<ClientTls>) | undefined;
  if (v.server) {
    const m = /^(\[[0-9a-f:]+\]|[^:]+):(\d+)$/i.exec(v.server);
    if (!m) throw new Error(`--server: "${v.server}" is not HOST:PORT`);
    if (!v.cert || !v.key || !v.ca) throw new Error("--server needs --cert, --key and --ca");
    address = { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) };
    tls = {
      cert: await readFile(v.cert, "utf8"),
      key: await readFile(v.key, "utf8"),
      ca: await readFile(v.ca, "utf8"),
    };
  } else {
    const dir = await mkdtemp(path.join(os.tmpdir(), "kmip-conformance-"));
    const k = await startKmipd(loadConfig(["--listen", "127.0.0.1:0", "--data-dir", dir], {}));
    const g = k.generatedTls!;
    address = { host: "127.0.0.1", port: k.server.port };
    tls = {
      cert: await readFile(g.clientCertFile, "utf8"),
      key: await readFile(g.clientKeyFile, "utf8"),
      ca: await readFile(g.caCertFile, "utf8"),
    };
    let n = 0;
    isolate = (name) => caseIdentity(dir, `${name.slice(0, 48)}-${++n}`);
    stop = async () => {
      await k.close();
      await rm(dir, { recursive: true, force: true });
    };
  }

  const results: CaseResult[] = [];
  try {
    let conn: KmipConnection | undefined;
    for (const file of files) {
      if (isolate) {
        conn?.close();
        conn = await KmipConnection.open(address, await isolate(caseInfo(file).name));
      } else if (!conn?.usable) conn = await KmipConnection.open(address, tls);
      results.push(await runCase(file, conn));
    }
    conn?.close();
  } finally {
    await stop();
  }

  const rows = summarize(results);
  const required = new Set(v.require ?? []);
  const failedRequired = results.filter((r) => required.has(r.profile) && !r.passed);
  if (v.json) {
    console.log(JSON.stringify({ summary: rows, cases: results }, null, 2));
  } else {
    console.log(table(rows));
    const failures = results.filter((r) => !r.passed);
    const passed = results.length - failures.length;
    console.log(`\n${passed}/${results.length} cases pass`);
    if (failures.length) {
      console.log("\nFailures:");
      for (const r of failures) console.log(`${r.name} (${r.version}): ${firstProblem(r)}`);
    }
  }
  return failedRequired.length ? 1 : 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  console.error(`kmip-conformance: ${(e as Error).message}\n${USAGE}`);
  process.exitCode = 2;
}
