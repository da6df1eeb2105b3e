/**
 * vTPM start and stop cycles through tactl's own code, in this process: `@tessera/tactl`'s `run` (the CLI's
 * dispatcher) calls `vm start` / `vm stop`, i.e. apps/tactl/src/vm_manager.ts's startVtpm/stopVtpm, with no
 * process start-up in the figures. A whole start is timed from the call to the first TPM command answered
 * (TPM2_GetRandom through @tessera/tss on the vTPM's socket); a whole stop from the call to its return.
 *
 * The phases are timed by this suite, each cycle, by doing what vm_manager.ts does with the same public pieces
 * (vm_manager.ts is not changed or wrapped):
 * - key fetch: the data key of vm.nvram's header — for a trusted provider the agent's `POST
 *   /api/v1/providers/{p}/unwrap` over its Unix socket (kmxa → kmxd, warm), for a standard one a new KMIP
 *   connection and @tessera/key-provider's unwrap (vm_keys.ts opens one connection per call);
 * - decrypt: openEnvelope of vm.nvram with that key;
 * - swtpm start → first command: the opened state in a tmpfs folder, swtpm spawned with startVtpm's flags, its
 *   socket polled every 1 ms, TPM2_GetRandom answered (startVtpm itself polls every 50 ms);
 * - seal and atomic write (the stop's last steps): sealEnvelope of the state, and write + fsync + rename + fsync of
 *   the folder into the VM's folder (a scratch name, removed);
 * - the rest of a stop (swtpm_ioctl shutdown, the process gone, packing, the tmpfs wiped) is derived per cycle:
 *   the whole stop less its key fetch, seal and write.
 * @module
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { connect } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { createProviderClient, parseKmipServer, unwrap, type ProviderKey } from "@tessera/key-provider";
import { run as tactlRun } from "@tessera/tactl";
import { Tpm } from "@tessera/tss";
import { openEnvelope, readEnvelopeHeader, sealEnvelope, type EnvelopeHeader, type StandardProviderConfig } from "@tessera/vtpm";
import { percentile } from "./attest_measure.ts";

const run = promisify(execFile);

/** Runs tactl in this process; its stdout, or an error with its stderr on a non-zero exit. */
export async function tactl(...argv: string[]): Promise<string> {
  let out = "";
  let err = "";
  const code = await tactlRun(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  if (code !== 0) throw new Error(`tactl ${argv.join(" ")} exited ${code}: ${err}${out}`);
  return out;
}

/** How this suite fetches the VM's data key itself (the same call as vm_keys.ts's). */
export type KeyFetch = (header: EnvelopeHeader) => Promise<Uint8Array>;

/** The agent's unwrap over its Unix socket, as vm_keys.ts's trustedSource → agentRequest sends it. */
export function agentKeyFetch(socketPath: string, provider: string): KeyFetch {
  return (header) =>
    new Promise((resolve, reject) => {
      const body = Buffer.from(JSON.stringify({ wrapped: new TextDecoder().decode(header.wrappedDataKey) }));
      const req = request(
        {
          socketPath,
          path: `/api/v1/providers/${encodeURIComponent(provider)}/unwrap`,
          method: "POST",
          headers: {
            host: "kmxa",
            accept: "application/json, application/problem+json",
            "content-type": "application/json",
            "content-length": String(body.length),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (d: Buffer) => chunks.push(d));
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode !== 200) return reject(new Error(`the agent's unwrap answered ${res.statusCode}: ${text.slice(0, 300)}`));
            const k = (JSON.parse(text) as { key?: unknown }).key;
            const key = typeof k === "string" ? new Uint8Array(Buffer.from(k, "base64")) : new Uint8Array();
            if (key.length !== 32) return reject(new Error(`the agent's unwrap gave no 32-byte key: ${text.slice(0, 300)}`));
            resolve(key);
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
}

/** A standard provider's unwrap: PEMs read, a new KMIP client, unwrap, closed — as vm_keys.ts's standardSource does per call. */
export function kmipKeyFetch(p: StandardProviderConfig): KeyFetch {
  const providerKey: ProviderKey = { provider: p.name, version: 1, keyId: p.keyId, mode: p.mode };
  return async (header) => {
    const tls = { cert: await readFile(p.clientCertificate, "utf8"), key: await readFile(p.clientKey, "utf8"), ca: await readFile(p.serverCa, "utf8") };
    const client = createProviderClient({ servers: p.kmipServers.map((s) => parseKmipServer(s)), tls });
    try {
      return await unwrap(client, (kv) => (kv === 1 ? providerKey : undefined), new TextDecoder().decode(header.wrappedDataKey));
    } finally {
      client.close();
    }
  };
}

/** One cycle's figures, ms. */
export interface CycleSample {
  readonly keyFetchMs: number;
  readonly decryptMs: number;
  readonly swtpmFirstCommandMs: number;
  /** `swtpm_ioctl -s` → swtpm exited. */
  readonly swtpmShutdownMs: number;
  readonly sealMs: number;
  readonly writeMs: number;
  /** The call to startVtpm (via `tactl vm start`) to TPM2_GetRandom answered on its socket. */
  readonly startMs: number;
  /** startVtpm's own `ms` (call → swtpm accepting connections), as `vm start --json` rounds it. */
  readonly startReportedMs: number;
  readonly stopMs: number;
  /** vm.nvram's size. */
  readonly nvramBytes: number;
}

/** Accepts a connection on a Unix socket, or false. */
function accepts(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socket);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** TPM2_GetRandom through @tessera/tss: the first command a guest's TSS would send. */
async function firstCommand(tcti: string): Promise<void> {
  const tpm = Tpm.open(tcti);
  try {
    const r = await tpm.getRandom(16);
    if (r.length !== 16) throw new Error(`TPM2_GetRandom on ${tcti} gave ${r.length} bytes`);
  } finally {
    await tpm.close();
  }
}

/** The state files of an opened vm.nvram (tactl's tessera-vtpm-state/v1) into `dir`, 0600. */
async function unpack(content: Uint8Array, dir: string): Promise<void> {
  const doc = JSON.parse(new TextDecoder().decode(content)) as { format?: string; files?: Record<string, string> };
  if (doc.format !== "tessera-vtpm-state/v1" || doc.files === undefined) throw new Error(`vm.nvram's content is not tessera-vtpm-state/v1 (${doc.format})`);
  for (const [name, b64] of Object.entries(doc.files)) await writeFile(path.join(dir, name), Buffer.from(b64, "base64"), { mode: 0o600 });
}

/**
 * swtpm on an opened state with startVtpm's flags: from the spawn to TPM2_GetRandom answered, ms; then its shutdown
 * as stopVtpm asks for it (`swtpm_ioctl -s` on the control socket: swtpm writes its state and exits), from the
 * call to the process's exit, ms.
 */
async function swtpmStartStop(content: Uint8Array, socketDir: string): Promise<{ firstCommandMs: number; shutdownMs: number }> {
  const root = await mkdtemp("/dev/shm/tessera-vtpm-bench-");
  const state = path.join(root, "state");
  await mkdir(state, { mode: 0o700 });
  await unpack(content, state);
  await mkdir(socketDir, { recursive: true, mode: 0o700 });
  const socket = path.join(socketDir, "b.sock");
  await rm(socket, { force: true });
  await rm(`${socket}.ctrl`, { force: true });
  const args = ["socket", "--tpm2", "--tpmstate", `dir=${state},mode=0600`, "--server", `type=unixio,path=${socket},mode=0600`];
  const t0 = performance.now();
  const p = spawn("swtpm", [...args, "--ctrl", `type=unixio,path=${socket}.ctrl,mode=0600`, "--flags", "not-need-init,startup-clear"], { stdio: "ignore" });
  let exited = false;
  const gone = new Promise<void>((resolve) => p.once("exit", () => ((exited = true), resolve())));
  try {
    while (!(await accepts(socket))) {
      if (exited) throw new Error("swtpm exited before it served");
      if (performance.now() - t0 > 30_000) throw new Error("swtpm did not serve within 30 s");
      await sleep(1);
    }
    await firstCommand(`swtpm:path=${socket}`);
    const firstCommandMs = performance.now() - t0;
    const t1 = performance.now();
    await run("swtpm_ioctl", ["--unix", `${socket}.ctrl`, "-s"], { timeout: 10_000 });
    await Promise.race([gone, sleep(10_000)]);
    if (!exited) throw new Error("swtpm did not exit within 10 s of swtpm_ioctl -s");
    return { firstCommandMs, shutdownMs: performance.now() - t1 };
  } finally {
    if (!exited) p.kill("SIGKILL");
    await rm(root, { recursive: true, force: true });
  }
}

/** write + fsync + rename + fsync of the folder, as apps/tactl/src/files.ts's writeFileAtomic does. */
async function writeAtomic(file: string, data: Uint8Array): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  const fh = await open(tmp, "wx", 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const d = await open(path.dirname(file), "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * `cycles` timed start → first command → stop cycles of the VM in `vm` (after `warmup` untimed ones), each with
 * its phases timed as the module says.
 */
export async function vtpmCycles(vm: string, agent: string, fetchKey: KeyFetch, cycles: number, warmup = 1): Promise<CycleSample[]> {
  const out: CycleSample[] = [];
  for (let i = -warmup; i < cycles; i++) {
    const nvram = new Uint8Array(await readFile(path.join(vm, "vm.nvram")));
    const header = readEnvelopeHeader(nvram);
    let t = performance.now();
    const dataKey = await fetchKey(header);
    const keyFetchMs = performance.now() - t;
    t = performance.now();
    const content = openEnvelope(nvram, dataKey).plaintext;
    const decryptMs = performance.now() - t;
    const swtpm = await swtpmStartStop(content, path.join(vm, "run"));
    t = performance.now();
    const resealed = sealEnvelope(
      content,
      dataKey,
      { provider: header.provider, key: header.key, wrappedDataKey: header.wrappedDataKey },
      { context: header.context },
    );
    const sealMs = performance.now() - t;
    const scratch = path.join(vm, "bench.nvram");
    t = performance.now();
    await writeAtomic(scratch, resealed);
    const writeMs = performance.now() - t;
    await rm(scratch, { force: true });
    content.fill(0);
    dataKey.fill(0);

    t = performance.now();
    const started = JSON.parse(await tactl("vm", "start", "--dir", vm, "--agent", agent, "--json")) as { tcti: string; ms: number };
    await firstCommand(started.tcti);
    const startMs = performance.now() - t;
    t = performance.now();
    await tactl("vm", "stop", "--dir", vm, "--agent", agent, "--json");
    const stopMs = performance.now() - t;
    if (i >= 0)
      out.push({
        keyFetchMs,
        decryptMs,
        swtpmFirstCommandMs: swtpm.firstCommandMs,
        swtpmShutdownMs: swtpm.shutdownMs,
        sealMs,
        writeMs,
        startMs,
        startReportedMs: started.ms,
        stopMs,
        nvramBytes: nvram.length,
      });
  }
  return out;
}

/** p50 and p99 of a list of ms. */
export function p50p99(xs: readonly number[]): { p50: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
}
