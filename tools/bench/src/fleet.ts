/**
 * The `fleet` suite ("the fleet on this machine"): N real swtpm hosts, each with EK certificates from swtpm_setup,
 * measured-booted by libs/boot and attested by its own kmxa process against one attestd, all started at once — by
 * `tactl dev up --dir D --hosts N` (apps/tactl/src/dev_up.ts, run as its own process from apps/tactl/bin/tactl:
 * kmipd, attestd, kmxd, the swtpm hosts, the administrator's set-up, then every kmxa at once, until all are
 * green), then `tactl dev down`.
 *
 * Measured, from D/pids.json, /proc and attestd's API:
 * - time to green: from the first kmxa process's start (/proc/<pid>/stat starttime) to the last host's first
 *   affirming attestation (attestd's history of each host, `GET /api/v1/hosts/{host}`), and each host's own;
 * - attestd's CPU from just before the agents start (tactl's "step 5-7" line) to all green, per host brought to
 *   green (its enrolment: MakeCredential and activation; its attestation; serving kmxd's token checks and its
 *   status stream) and per attestation; each swtpm's CPU over the same window, each kmxa's CPU in its life;
 * - memory (VmRSS) of each process kind: what limits the count together with the CPUs;
 * - in the same run, the peers: the in-process appraisal of the attestation suite (appraise + issueEar, no HTTP,
 *   no storage), tpm2-tools' tpm2_checkquote per quote (a whole process, the C verifier: signature and PCR
 *   digest only), and one swtpm's CPU per TPM2_Quote with an RSA AK (what kmxa makes by default) — so attestd's
 *   and swtpm's figures are ratios.
 * @module
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { startSwtpm } from "@tessera/swtpm-testing";
import { marshal, pcrSelection, TPM_ALG, TPM2B_PUBLIC, toHex } from "@tessera/tpm2";
import { createAk, Tpm, withAk, withEk } from "@tessera/tss";
import { call, expectJson } from "./attest_api.ts";
import { ATTEST_PCRS, attestFixture, inProcessProbe } from "./attest_inprocess.ts";
import { processCpuUs, ratio } from "./attest_measure.ts";
import { benchSwtpmQuote } from "./attest_tpm.ts";

const TACTL = path.resolve(import.meta.dirname, "../../../apps/tactl/bin/tactl");

/** Options of {@link benchFleet}. */
export interface FleetOptions {
  /** Hosts (default 8; `tactl dev up` takes 1 to 16). */
  readonly hosts?: number;
  /** Skip the peers (the test's tiny run). */
  readonly noPeers?: boolean;
  /** Progress lines (stderr by default). */
  readonly progress?: (line: string) => void;
}

/** One host's figures. */
export interface FleetHost {
  readonly name: string;
  /** From the first agent's start to this host's first affirming attestation, ms. */
  readonly greenAfterMs: number;
  /** Attempts in attestd's history when measured, and how many affirmed. */
  readonly attempts: number;
  readonly affirming: number;
  readonly swtpmCpuUs: number;
  readonly kmxaCpuUs: number;
  readonly swtpmRssKiB: number;
  readonly kmxaRssKiB: number;
}

/** What the suite measured. */
export interface FleetResult {
  readonly hosts: readonly FleetHost[];
  /** `tactl dev up` from its start to its exit, ms (swtpm_setup, boots, services, set-up, agents, green). */
  readonly devUpMs: number;
  /** From the first agent's start to the last host green, ms. */
  readonly allGreenMs: number;
  /** attestd CPU in the window, µs: per host brought to green, and per attestation (every attempt in the window). */
  readonly attestdCpuUsPerHost: number;
  readonly attestdCpuUsPerAttestation: number;
  readonly attestdRssKiB: number;
  readonly kmxdRssKiB: number;
  readonly peers?: {
    readonly inProcessCpuUs: number;
    readonly checkquoteCpuUs: number;
    readonly swtpmQuoteCpuUs: number;
    readonly swtpmQuoteMs: number;
  };
  readonly markdown: string;
}

/** /proc/<pid>/status VmRSS in KiB (0 when gone). */
function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The boot time of this machine, ms since the epoch (/proc/stat btime). */
function bootTimeMs(): number {
  const m = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
  if (!m) throw new Error("/proc/stat has no btime");
  return Number(m[1]) * 1000;
}

interface Pids {
  processes: { name: string; pid: number; startTime: number }[];
}

const readPids = async (dir: string): Promise<Pids> => JSON.parse(await readFile(path.join(dir, "pids.json"), "utf8")) as Pids;

/** Runs `tactl dev …`, handing each stdout line to `onLine` as it comes; rejects on a non-zero exit. */
function tactl(args: readonly string[], onLine: (line: string, at: number) => void = () => undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(TACTL, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (c: Buffer) => {
      const at = Date.now();
      out += c.toString("utf8");
      let nl: number;
      while ((nl = out.indexOf("\n")) >= 0) {
        onLine(out.slice(0, nl), at);
        out = out.slice(nl + 1);
      }
    });
    p.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    p.once("error", reject);
    p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`tactl ${args.join(" ")} exited ${code}: ${err.slice(-2000)}`))));
  });
}

/** CPU µs of every process of tactl's pids.json whose name starts with `prefix`, by name. */
function cpuByName(pids: Pids, prefix: string): Map<string, number> {
  return new Map(pids.processes.filter((p) => p.name.startsWith(prefix)).map((p) => [p.name, processCpuUs(p.pid) ?? 0]));
}

/** tpm2_checkquote's CPU per run (user + system of the children, from bash's `times`), over `runs` runs on one quote. */
async function checkquoteCpuUs(runs: number): Promise<number> {
  const sw = await startSwtpm({ pcrBanks: ["sha256"] });
  const dir = await mkdtemp(path.join(os.tmpdir(), "bench-fleet-cq-"));
  try {
    const tpm = Tpm.open(sw.tcti);
    try {
      const nonce = new Uint8Array(randomBytes(32));
      await withEk(tpm, "rsa2048", async (ek) => {
        const ak = await createAk(tpm, ek, "rsa");
        const q = await withAk(tpm, ek, ak, (loaded) => tpm.quote(loaded.handle, nonce, [pcrSelection(TPM_ALG.SHA256, [...ATTEST_PCRS])]));
        await writeFile(path.join(dir, "ak.pub"), marshal(TPM2B_PUBLIC, ak.public));
        await writeFile(path.join(dir, "quote.msg"), q.quoted);
        await writeFile(path.join(dir, "quote.sig"), q.signatureBytes);
      });
      const cmd = `tpm2_checkquote -u ${dir}/ak.pub -m ${dir}/quote.msg -s ${dir}/quote.sig -q ${toHex(nonce)} >/dev/null || exit 3`;
      const out = await new Promise<string>((resolve, reject) =>
        execFile("bash", ["-c", `for i in $(seq ${runs}); do ${cmd}; done; times`], { encoding: "utf8" }, (e, stdout, stderr) =>
          e ? reject(new Error(`tpm2_checkquote: ${stderr || e.message}`)) : resolve(stdout),
        ),
      );
      // `times`: the shell's user/system, then its children's, as `XmY.YYYs XmY.YYYs`.
      const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(out.trim());
      if (!m) throw new Error(`bash times: ${out}`);
      return ((Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1e6) / runs;
    } finally {
      await tpm.close();
    }
  } finally {
    await sw.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs the suite. */
export async function benchFleet(options: FleetOptions = {}): Promise<FleetResult> {
  const n = options.hosts ?? 8;
  const say = options.progress ?? ((l: string) => process.stderr.write(`fleet: ${l}\n`));
  // Short: the swtpm sockets live under it and a Unix socket path is at most 107 bytes.
  const dir = await mkdtemp(path.join("/tmp", "tf-"));
  let up = false;
  try {
    let attestdCpu0: number | undefined;
    let swtpmCpu0 = new Map<string, number>();
    const t0 = Date.now();
    say(`tactl dev up --dir ${dir} --hosts ${n}`);
    up = true;
    await tactl(["dev", "up", "--dir", dir, "--hosts", String(n)], (line) => {
      say(`  ${line}`);
      if (/step 5-7/.test(line)) {
        // The agents start right after this line: attestd's and the swtpms' CPU before them.
        const pids = JSON.parse(readFileSync(path.join(dir, "pids.json"), "utf8")) as Pids;
        attestdCpu0 = processCpuUs(pids.processes.find((p) => p.name === "attestd")?.pid);
        swtpmCpu0 = cpuByName(pids, "swtpm ");
      }
    });
    const devUpMs = Date.now() - t0;
    const pids = await readPids(dir);
    const attestdProc = pids.processes.find((p) => p.name === "attestd");
    const attestdCpu1 = processCpuUs(attestdProc?.pid);
    const swtpmCpu1 = cpuByName(pids, "swtpm ");
    if (attestdCpu0 === undefined || attestdCpu1 === undefined) throw new Error("attestd's CPU could not be read around the agents' start");
    const boot = bootTimeMs();
    const kmxas = pids.processes.filter((p) => p.name.startsWith("kmxa "));
    const agentsStarted = Math.min(...kmxas.map((p) => boot + p.startTime * 10));

    const env = JSON.parse(await readFile(path.join(dir, "env.json"), "utf8")) as { attestd: string; ca: string; adminPasswordFile: string; hosts: { name: string }[] };
    const agent = new https.Agent({ keepAlive: true, ca: await readFile(env.ca, "utf8") });
    const hosts: FleetHost[] = [];
    try {
      const password = (await readFile(env.adminPasswordFile, "utf8")).trim();
      const signIn = await expectJson(call(agent, `${env.attestd}/api/v1/auth/token`, "POST", JSON.stringify({ user: "admin", password })), 200, "sign-in");
      const admin = { authorization: `Bearer ${String(signIn["token"])}` };
      for (const h of env.hosts) {
        const r = await expectJson(call(agent, `${env.attestd}/api/v1/hosts/${h.name}`, "GET", undefined, admin), 200, `host ${h.name}`);
        const history = (r["history"] as { status: string; at: string }[] | undefined) ?? [];
        const affirming = history.filter((a) => a.status === "affirming").map((a) => Date.parse(a.at));
        if (affirming.length === 0) throw new Error(`${h.name} has no affirming attestation in attestd's history`);
        const kmxa = pids.processes.find((p) => p.name === `kmxa ${h.name}`);
        const swtpm = pids.processes.find((p) => p.name === `swtpm ${h.name}`);
        hosts.push({
          name: h.name,
          greenAfterMs: Math.min(...affirming) - agentsStarted,
          attempts: history.length,
          affirming: affirming.length,
          swtpmCpuUs: (swtpmCpu1.get(`swtpm ${h.name}`) ?? 0) - (swtpmCpu0.get(`swtpm ${h.name}`) ?? 0),
          kmxaCpuUs: processCpuUs(kmxa?.pid) ?? 0,
          swtpmRssKiB: swtpm ? rssKiB(swtpm.pid) : 0,
          kmxaRssKiB: kmxa ? rssKiB(kmxa.pid) : 0,
        });
      }
    } finally {
      agent.destroy();
    }
    const attempts = hosts.reduce((s, h) => s + h.attempts, 0);
    const attestdRssKiB = attestdProc ? rssKiB(attestdProc.pid) : 0;
    const kmxdProc = pids.processes.find((p) => p.name === "kmxd");
    const kmxdRssKiB = kmxdProc ? rssKiB(kmxdProc.pid) : 0;
    say("tactl dev down");
    await tactl(["dev", "down", "--dir", dir]);
    up = false;

    let peers: FleetResult["peers"];
    if (!options.noPeers) {
      say("peers: in-process appraisal, tpm2_checkquote, swtpm TPM2_Quote (RSA AK)");
      const inProcess = await (await inProcessProbe(attestFixture()))();
      const cq = await checkquoteCpuUs(50);
      const sq = await benchSwtpmQuote(ATTEST_PCRS, "rsa");
      peers = { inProcessCpuUs: inProcess.cpuUsPerOp, checkquoteCpuUs: cq, swtpmQuoteCpuUs: sq.serverCpuUs ?? NaN, swtpmQuoteMs: sq.usPerOp / 1000 };
    }
    const attestdCpu = attestdCpu1 - attestdCpu0;
    const result = {
      hosts,
      devUpMs,
      allGreenMs: Math.max(...hosts.map((h) => h.greenAfterMs)),
      attestdCpuUsPerHost: attestdCpu / hosts.length,
      attestdCpuUsPerAttestation: attestdCpu / attempts,
      attestdRssKiB,
      kmxdRssKiB,
      ...(peers ? { peers } : {}),
    };
    return { ...result, markdown: fleetMarkdown(result) };
  } finally {
    if (up) await tactl(["dev", "down", "--dir", dir]).catch((e: unknown) => say(`tactl dev down: ${(e as Error).message}`));
    await rm(dir, { recursive: true, force: true });
  }
}

const med = (v: readonly number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

/** The result as Markdown. */
export function fleetMarkdown(r: Omit<FleetResult, "markdown">): string {
  const n = r.hosts.length;
  const green = r.hosts.map((h) => h.greenAfterMs);
  const swtpm = med(r.hosts.map((h) => h.swtpmCpuUs));
  const lines = [
    `Run ${new Date().toISOString()} · Node ${process.version} · ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB · load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`,
    `${n} swtpm hosts (EK certificates from swtpm_setup, measured-booted by libs/boot), each with its kmxa, against one attestd (SQLite), by \`tactl dev up --hosts ${n}\`.`,
    "",
    "| what | value | peer in the same run | ratio |",
    "| --- | ---: | --- | ---: |",
    `| all ${n} green, from the first agent's start | ${(r.allGreenMs / 1000).toFixed(2)} s (each host: median ${(med(green) / 1000).toFixed(2)} s, first ${(Math.min(...green) / 1000).toFixed(2)} s) | – | – |`,
    `| \`tactl dev up\` whole (swtpm_setup, boots, services, set-up, agents, green) | ${(r.devUpMs / 1000).toFixed(1)} s | – | – |`,
    `| attestd CPU per host brought to green (enrolment + attestation + kmxd's reads) | ${(r.attestdCpuUsPerHost / 1000).toFixed(1)} ms | in-process appraisal + token: ${r.peers ? `${(r.peers.inProcessCpuUs / 1000).toFixed(2)} ms` : "–"} | ${r.peers ? ratio(r.attestdCpuUsPerHost, r.peers.inProcessCpuUs) : "–"} |`,
    `| attestd CPU per attestation attempt (${r.hosts.reduce((s, h) => s + h.attempts, 0)} attempts, ${r.hosts.reduce((s, h) => s + h.affirming, 0)} affirming) | ${(r.attestdCpuUsPerAttestation / 1000).toFixed(1)} ms | tpm2_checkquote per quote (process): ${r.peers ? `${(r.peers.checkquoteCpuUs / 1000).toFixed(2)} ms` : "–"} | ${r.peers ? ratio(r.attestdCpuUsPerAttestation, r.peers.checkquoteCpuUs) : "–"} |`,
    `| swtpm CPU per host, agent start → green (median; AK + binding key creation, quote) | ${(swtpm / 1000).toFixed(1)} ms | swtpm per TPM2_Quote, RSA AK: ${r.peers ? `${(r.peers.swtpmQuoteCpuUs / 1000).toFixed(2)} ms (${r.peers.swtpmQuoteMs.toFixed(1)} ms wall)` : "–"} | ${r.peers ? ratio(swtpm, r.peers.swtpmQuoteCpuUs) : "–"} |`,
    `| kmxa CPU per host, start → green (median; Node start-up included) | ${(med(r.hosts.map((h) => h.kmxaCpuUs)) / 1000).toFixed(0)} ms | – | – |`,
    `| memory: kmxa / swtpm per host (median VmRSS), attestd, kmxd | ${(med(r.hosts.map((h) => h.kmxaRssKiB)) / 1024).toFixed(0)} / ${(med(r.hosts.map((h) => h.swtpmRssKiB)) / 1024).toFixed(1)} MiB, ${(r.attestdRssKiB / 1024).toFixed(0)} MiB, ${(r.kmxdRssKiB / 1024).toFixed(0)} MiB | – | – |`,
  ];
  return lines.join("\n");
}
