/**
 * The `fleet` suite ("the fleet on this machine"): N real swtpm hosts attesting at once against one attestd.
 *
 * The services come from `tactl dev up --dir D --hosts 1` (apps/tactl/src/dev_up.ts, run as its own process:
 * kmipd, attestd on SQLite, kmxd, set up as an administrator would; its one dev host is not measured). Then N
 * hosts of the suite's own, made as dev_up.ts makes its hosts: swtpm manufactured by swtpm_setup with EK
 * certificates from one swtpm_localca CA (@tessera/swtpm-testing, the CA trusted through `POST /api/v1/tpm-cas`),
 * measured-booted by libs/boot with the image tactl accepted (D/image.json). Then all N agents
 * (apps/kmxa/bin/kmxa, its defaults: RSA AK, binding key) start at once, and the suite polls attestd's host list
 * until all are green. `tactl dev up` itself takes at most 16 hosts; this way N is what the machine holds.
 *
 * Measured, from /proc and attestd's API:
 * - time to green: from the agents' start to each host's first affirming attestation (attestd's history of the
 *   host, `GET /api/v1/hosts/{host}`), the last one being "all green";
 * - attestd's CPU (and kmxd's, which follows attestd's status stream and checks hosts) from just before the
 *   agents start to all green, per host brought to green (enrolment: EK certificate chain, MakeCredential,
 *   activation; the attestation; the token) and per attestation attempt; each swtpm's CPU over the same window,
 *   each kmxa's CPU in its life;
 * - memory (VmRSS) of each process kind: what limits the count together with the CPUs;
 * - in the same run, the peers: the in-process appraisal of the attestation suite (appraise + issueEar, no HTTP,
 *   no storage), tpm2-tools' tpm2_checkquote per quote (a whole process, the C verifier: signature and PCR
 *   digest only), and one swtpm's CPU per TPM2_Quote with an RSA AK (what kmxa makes by default) — so attestd's
 *   and swtpm's figures are ratios.
 * @module
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { bootHost, validateHostImage } from "@tessera/boot";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { marshal, pcrSelection, TPM_ALG, TPM2B_PUBLIC, toHex } from "@tessera/tpm2";
import { createAk, Tpm, withAk, withEk } from "@tessera/tss";
import { call, expectJson } from "./attest_api.ts";
import { ATTEST_PCRS, attestFixture, inProcessProbe } from "./attest_inprocess.ts";
import { processCpuUs, processTreeCpuUs, ratio } from "./attest_measure.ts";
import { benchSwtpmQuote } from "./attest_tpm.ts";
import { busyFraction, machineCpu } from "./_fleet_machine.ts";

const TACTL = path.resolve(import.meta.dirname, "../../../apps/tactl/bin/tactl");
const KMXA = path.resolve(import.meta.dirname, "../../../apps/kmxa/bin/kmxa");

/** Options of {@link benchFleet}. */
export interface FleetOptions {
  /** Hosts (default 8). */
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
  /** Times the agent backed off before it was green (its log's `retryInMs` lines: attestd or the TPM not answering in time). */
  readonly retries: number;
  readonly swtpmRssKiB: number;
  readonly kmxaRssKiB: number;
}

/** What the suite measured. */
export interface FleetResult {
  readonly hosts: readonly FleetHost[];
  /** Making the hosts' TPMs and booting them (swtpm_setup one at a time, boots at once), ms: before the agents start. */
  readonly manufactureMs: number;
  /** From the agents' start to the last host green, ms. */
  readonly allGreenMs: number;
  /** attestd CPU in the window, µs: per host brought to green, and per attestation (every attempt in the window). */
  readonly attestdCpuUsPerHost: number;
  readonly attestdCpuUsPerAttestation: number;
  /** attestd's CPU per poll of its host list (µs), taken off its CPU in the window once per poll. */
  readonly pollCpuUs: number;
  /** How busy the whole machine was in the window (0–1, /proc/stat), whoever's processes. */
  readonly machineBusy: number;
  /** kmxd's CPU in the window per host, µs. */
  readonly kmxdCpuUsPerHost: number;
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

interface Pids {
  processes: { name: string; pid: number }[];
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

/** One measured host: its swtpm, its booted event log, then its agent. */
interface BenchTpmHost {
  readonly name: string;
  readonly sw: SwtpmInstance;
  readonly eventLog: string;
  readonly dataDir: string;
  agent?: ChildProcess;
  agentExited?: Promise<void>;
}

/** Stops an agent this suite started (its own process, by its handle). */
async function stopAgent(h: BenchTpmHost): Promise<void> {
  const p = h.agent;
  if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
  p.kill("SIGTERM");
  const killer = setTimeout(() => p.kill("SIGKILL"), 5000);
  await h.agentExited;
  clearTimeout(killer);
}

/** Runs the suite. */
export async function benchFleet(options: FleetOptions = {}): Promise<FleetResult> {
  const n = options.hosts ?? 8;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--hosts ${n}: give a whole number of hosts, at least 1`);
  const say = options.progress ?? ((l: string) => process.stderr.write(`fleet: ${l}\n`));
  // Short: tactl's swtpm sockets live under it and a Unix socket path is at most 107 bytes.
  const dir = await mkdtemp(path.join("/tmp", "tf-"));
  let up = false;
  const hostsUp: BenchTpmHost[] = [];
  const agentLogs: { close(): void }[] = [];
  try {
    // The services, set up as an administrator would, with one dev host of tactl's own (not measured).
    say(`tactl dev up --dir ${dir} --hosts 1 (the services)`);
    up = true;
    await tactl(["dev", "up", "--dir", dir, "--hosts", "1"]);
    const pids = await readPids(dir);
    const attestdPid = pids.processes.find((p) => p.name === "attestd")?.pid;
    const kmxdPid = pids.processes.find((p) => p.name === "kmxd")?.pid;
    const env = JSON.parse(await readFile(path.join(dir, "env.json"), "utf8")) as { attestd: string; kmxd: string; ca: string; adminPasswordFile: string };
    const manifest = validateHostImage(JSON.parse(await readFile(path.join(dir, "image.json"), "utf8")));

    // The measured hosts' TPMs: manufactured by swtpm_setup with EK certificates from one swtpm_localca CA (one at
    // a time: they share its serial-number file), started, and measured-booted with the dev image.
    say(`making ${n} swtpm hosts (swtpm_setup with EK certificates, measured boot)`);
    const caDir = path.join(dir, "bench-tpm-ca");
    const m0 = Date.now();
    for (let i = 1; i <= n; i++) {
      const sw = await startSwtpm({ localCaDir: caDir, pcrBanks: ["sha256"] });
      const dataDir = path.join(dir, "fleet", `fleet-${i}`);
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      hostsUp.push({ name: `fleet-${i}`, sw, eventLog: path.join(dataDir, "eventlog.bin"), dataDir: path.join(dataDir, "kmxa") });
    }
    await Promise.all(
      hostsUp.map(async (h) => {
        const tpm = Tpm.open(h.sw.tcti);
        try {
          await writeFile(h.eventLog, (await bootHost(tpm, manifest)).log);
        } finally {
          await tpm.close();
        }
      }),
    );
    const manufactureMs = Date.now() - m0;
    const ca = await readFile(env.ca, "utf8");
    const agent = new https.Agent({ keepAlive: true, ca });
    const hosts: FleetHost[] = [];
    let allGreenMs: number;
    let attestdCpu: number;
    let kmxdCpu: number;
    let machineBusy: number;
    let pollCpuUs: number;
    try {
      const password = (await readFile(env.adminPasswordFile, "utf8")).trim();
      const signIn = await expectJson(call(agent, `${env.attestd}/api/v1/auth/token`, "POST", JSON.stringify({ user: "admin", password })), 200, "sign-in");
      const admin = { authorization: `Bearer ${String(signIn["token"])}` };
      // The administrator trusts the measured hosts' TPM maker too (tactl's dev hosts have another CA).
      await expectJson(
        call(agent, `${env.attestd}/api/v1/tpm-cas`, "POST", JSON.stringify({ certificates: hostsUp[0].sw.caCertsPem.join("") }), admin),
        201,
        "trusting the hosts' EK CA",
      );

      // All agents at once.
      say(`starting ${n} kmxa agents at once`);
      const attestdCpu0 = processTreeCpuUs(attestdPid) ?? 0;
      const kmxdCpu0 = processTreeCpuUs(kmxdPid) ?? 0;
      const swtpmCpu0 = hostsUp.map((h) => processCpuUs(h.sw.pid) ?? 0);
      const machine0 = machineCpu();
      const started = Date.now();
      for (const h of hostsUp) {
        const log = createWriteStream(path.join(dir, "logs", `bench-kmxa-${h.name}.log`));
        agentLogs.push(log);
        const p = spawn(
          KMXA,
          [
            ...["--tcti", h.sw.tcti, "--host", h.name, "--event-log", h.eventLog, "--data-dir", h.dataDir, "--listen", "127.0.0.1:0"],
            ...["--attestd", env.attestd, "--attestd-ca", env.ca, "--kmxd", env.kmxd, "--kmxd-ca", env.ca, "--log-level", "info"],
          ],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        p.stdout.pipe(log);
        p.stderr.pipe(log);
        h.agent = p;
        h.agentExited = new Promise<void>((r) => p.once("exit", () => r()));
      }

      // Until every one is green in attestd's host list, asked once a second (each host's time comes from attestd's
      // history, not from this poll); what the polls cost attestd is measured after and taken off its CPU.
      const names = new Set(hostsUp.map((h) => h.name));
      const deadline = Date.now() + 120_000 + 5_000 * n;
      const listHosts = () => expectJson(call(agent, `${env.attestd}/api/v1/hosts`, "GET", undefined, admin), 200, "the host list");
      let polls = 0;
      for (;;) {
        polls++;
        const r = await expectJson(call(agent, `${env.attestd}/api/v1/hosts`, "GET", undefined, admin), 200, "the host list");
        const list = (r["hosts"] as { host: string; status: string; message?: string }[] | undefined) ?? [];
        const green = list.filter((x) => names.has(x.host) && x.status === "green").length;
        if (green === n) break;
        const dead = hostsUp.find((h) => h.agent?.exitCode !== null);
        if (dead !== undefined) throw new Error(`kmxa of ${dead.name} exited (${dead.agent?.exitCode}); its log: ${path.join(dir, "logs", `bench-kmxa-${dead.name}.log`)}`);
        if (Date.now() > deadline) {
          const said = list.filter((x) => names.has(x.host) && x.status !== "green").map((x) => `${x.host}: ${x.status} ${x.message ?? ""}`);
          throw new Error(`${green} of ${n} hosts green after ${((Date.now() - started) / 1000).toFixed(0)} s: ${said.join("; ")}`);
        }
        await sleep(1000);
      }
      machineBusy = busyFraction(machine0, machineCpu());
      const attestdCpu1 = processTreeCpuUs(attestdPid) ?? 0;
      const samplePolls = 50;
      for (let i = 0; i < samplePolls; i++) await listHosts();
      pollCpuUs = ((processTreeCpuUs(attestdPid) ?? 0) - attestdCpu1) / samplePolls;
      attestdCpu = attestdCpu1 - attestdCpu0 - polls * pollCpuUs;
      kmxdCpu = (processTreeCpuUs(kmxdPid) ?? 0) - kmxdCpu0;
      const swtpmCpu1 = hostsUp.map((h) => processCpuUs(h.sw.pid) ?? 0);

      for (const [i, h] of hostsUp.entries()) {
        const logText = await readFile(path.join(dir, "logs", `bench-kmxa-${h.name}.log`), "utf8").catch(() => "");
        const r = await expectJson(call(agent, `${env.attestd}/api/v1/hosts/${h.name}`, "GET", undefined, admin), 200, `host ${h.name}`);
        const history = (r["history"] as { status: string; at: string }[] | undefined) ?? [];
        const affirming = history.filter((a) => a.status === "affirming").map((a) => Date.parse(a.at));
        if (affirming.length === 0) throw new Error(`${h.name} has no affirming attestation in attestd's history`);
        hosts.push({
          name: h.name,
          greenAfterMs: Math.min(...affirming) - started,
          attempts: history.length,
          affirming: affirming.length,
          swtpmCpuUs: swtpmCpu1[i] - swtpmCpu0[i],
          kmxaCpuUs: processCpuUs(h.agent?.pid) ?? 0,
          retries: logText.split("\n").filter((line) => line.includes('"retryInMs"')).length,
          swtpmRssKiB: h.sw.pid !== undefined ? rssKiB(h.sw.pid) : 0,
          kmxaRssKiB: h.agent?.pid !== undefined ? rssKiB(h.agent.pid) : 0,
        });
      }
      allGreenMs = Math.max(...hosts.map((h) => h.greenAfterMs));
    } finally {
      agent.destroy();
    }
    const attempts = hosts.reduce((s, h) => s + h.attempts, 0);
    const attestdRssKiB = attestdPid !== undefined ? rssKiB(attestdPid) : 0;
    const kmxdRssKiB = kmxdPid !== undefined ? rssKiB(kmxdPid) : 0;
    for (const h of hostsUp) await stopAgent(h);
    for (const h of hostsUp) await h.sw.stop();
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
    const result = {
      hosts,
      manufactureMs,
      allGreenMs,
      attestdCpuUsPerHost: attestdCpu / hosts.length,
      attestdCpuUsPerAttestation: attestdCpu / attempts,
      kmxdCpuUsPerHost: kmxdCpu / hosts.length,
      machineBusy,
      pollCpuUs,
      attestdRssKiB,
      kmxdRssKiB,
      ...(peers ? { peers } : {}),
    };
    return { ...result, markdown: fleetMarkdown(result) };
  } finally {
    for (const h of hostsUp) {
      await stopAgent(h).catch(() => undefined);
      await h.sw.stop().catch(() => undefined);
    }
    for (const l of agentLogs) l.close();
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
    `${n} swtpm hosts (EK certificates from swtpm_setup, measured-booted by libs/boot), each with its kmxa, started at once against one attestd (SQLite) and kmxd of \`tactl dev up\`.`,
    "",
    "| what | value | peer in the same run | ratio |",
    "| --- | ---: | --- | ---: |",
    `| all ${n} green, from the agents' start | ${(r.allGreenMs / 1000).toFixed(2)} s (each host: median ${(med(green) / 1000).toFixed(2)} s, first ${(Math.min(...green) / 1000).toFixed(2)} s) | – | – |`,
    `| before that: ${n} TPMs manufactured (swtpm_setup, one at a time) and booted | ${(r.manufactureMs / 1000).toFixed(1)} s | – | – |`,
    `| attestd CPU per host brought to green (enrolment + attestation + kmxd's reads; the suite's polls of the host list, ${(r.pollCpuUs / 1000).toFixed(1)} ms each, taken off) | ${(r.attestdCpuUsPerHost / 1000).toFixed(1)} ms | in-process appraisal + token: ${r.peers ? `${(r.peers.inProcessCpuUs / 1000).toFixed(2)} ms` : "–"} | ${r.peers ? ratio(r.attestdCpuUsPerHost, r.peers.inProcessCpuUs) : "–"} |`,
    `| attestd CPU per attestation attempt (${r.hosts.reduce((s, h) => s + h.attempts, 0)} attempts, ${r.hosts.reduce((s, h) => s + h.affirming, 0)} affirming) | ${(r.attestdCpuUsPerAttestation / 1000).toFixed(1)} ms | tpm2_checkquote per quote (process): ${r.peers ? `${(r.peers.checkquoteCpuUs / 1000).toFixed(2)} ms` : "–"} | ${r.peers ? ratio(r.attestdCpuUsPerAttestation, r.peers.checkquoteCpuUs) : "–"} |`,
    `| swtpm CPU per host, agent start → green (median; AK + binding key creation, quote) | ${(swtpm / 1000).toFixed(1)} ms | swtpm per TPM2_Quote, RSA AK: ${r.peers ? `${(r.peers.swtpmQuoteCpuUs / 1000).toFixed(2)} ms (${r.peers.swtpmQuoteMs.toFixed(1)} ms wall)` : "–"} | ${r.peers ? ratio(swtpm, r.peers.swtpmQuoteCpuUs) : "–"} |`,
    `| agents' back-offs before green (attestd or the TPM not answering in time) | ${r.hosts.reduce((s, h) => s + h.retries, 0)} over ${n} hosts | – | – |`,
    `| kmxd CPU per host in the window (status stream, host checks) | ${(r.kmxdCpuUsPerHost / 1000).toFixed(1)} ms | – | – |`,
    `| kmxa CPU per host, start → green (median; Node start-up included) | ${(med(r.hosts.map((h) => h.kmxaCpuUs)) / 1000).toFixed(0)} ms | – | – |`,
    `| CPU used in the window by attestd, kmxd, every swtpm and kmxa together | ${((r.attestdCpuUsPerHost + r.kmxdCpuUsPerHost) * n / 1e6 + r.hosts.reduce((s, h) => s + h.swtpmCpuUs + h.kmxaCpuUs, 0) / 1e6).toFixed(1)} CPU-s over ${(r.allGreenMs / 1000).toFixed(1)} s × ${os.cpus().length} CPUs = ${((100 * ((r.attestdCpuUsPerHost + r.kmxdCpuUsPerHost) * n + r.hosts.reduce((s, h) => s + h.swtpmCpuUs + h.kmxaCpuUs, 0))) / 1000 / (r.allGreenMs * os.cpus().length)).toFixed(0)}% of the machine; the machine was ${(100 * r.machineBusy).toFixed(0)}% busy (the difference: other processes) | – | – |`,
    `| memory: kmxa / swtpm per host (median VmRSS), attestd, kmxd | ${(med(r.hosts.map((h) => h.kmxaRssKiB)) / 1024).toFixed(0)} / ${(med(r.hosts.map((h) => h.swtpmRssKiB)) / 1024).toFixed(1)} MiB, ${(r.attestdRssKiB / 1024).toFixed(0)} MiB, ${(r.kmxdRssKiB / 1024).toFixed(0)} MiB | – | – |`,
  ];
  return lines.join("\n");
}
