/**
 * The demo's fleet (issue #12's scenario): a Trust Authority on its embedded defaults (kmipd, attestd, kmxd) and
 * three swtpm hosts whose TPMs come from one maker (one EK CA), each with its agent (kmxa). Two hosts boot an
 * accepted image, the third a kernel that is not accepted. The administrator runs DESIGN.md's seven steps with
 * tactl (the identity of one known-good host is enough for the hosts of its kind); then two hosts are green with a
 * data key released to each (opened in its own TPM by its agent), the third red with the precise reason and no
 * key; rebooted with the accepted image, it turns green by itself and gets its key.
 * @module
 */
import { spawnSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { kmipdClientArgs, spawnKmipd } from "@tessera/kmipd";
import { eventually, spawnReady, type ReadyProcess } from "@tessera/process-testing";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { ROOT, say, step, tactl } from "./_cli.ts";
import { startAttestd, startKmxd, type Attestd, type Service } from "./_services.ts";

const KMXA = path.join(ROOT, "apps/kmxa/bin/kmxa");
/** The trusted key provider the fleet gets its keys from. */
export const FLEET_PROVIDER = "fleet-kp";
/** The fleet's hosts: the first two boot the accepted image, the last one a kernel that is not accepted. */
export const FLEET_HOSTS = ["host-1.fleet.test", "host-2.fleet.test", "host-3.fleet.test"] as const;

/** One host of the fleet: its TPM, the event log its firmware wrote, its agent. */
interface FleetHost {
  readonly name: string;
  readonly sw: SwtpmInstance;
  readonly dir: string;
  readonly logFile: string;
  readonly socket: string;
  agent?: ReadyProcess;
}

/** A JSON answer of the agent's local API. */
interface AgentAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** Starts every promise; if one fails, waits for the rest, hands the ones that started to `started`, and rethrows. */
async function allOrCleanUp<T>(ps: readonly Promise<T>[], started: (value: T) => void): Promise<T[]> {
  const rs = await Promise.allSettled(ps);
  for (const r of rs) if (r.status === "fulfilled") started(r.value);
  const failed = rs.find((r) => r.status === "rejected");
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  return rs.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** A call to the agent's Unix socket with curl, printed as a developer would type it. */
function agentCall(h: FleetHost, method: "GET" | "POST", p: string, body?: unknown): AgentAnswer {
  const args = ["-sS", "--unix-socket", h.socket, "-X", method, "-w", "\n%{http_code}"];
  if (body !== undefined) args.push("-H", "Content-Type: application/json", "-d", JSON.stringify(body));
  args.push(`http://kmxa${p}`);
  say(`$ curl --unix-socket ${h.socket} -X ${method}${body === undefined ? "" : ` -d '${JSON.stringify(body)}'`} http://kmxa${p}`);
  const r = spawnSync("curl", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`curl to ${h.name}'s agent exited ${r.status}: ${r.stderr}`);
  const cut = r.stdout.lastIndexOf("\n");
  return { status: Number(r.stdout.slice(cut + 1)), body: JSON.parse(r.stdout.slice(0, cut)) as Record<string, unknown> };
}

/** The first 16 hex digits of a key's SHA-256: enough to tell keys apart without printing them. */
function fingerprint(b64: string): string {
  return createHash("sha256").update(Buffer.from(b64, "base64")).digest("hex").slice(0, 16);
}

/**
 * Asks `h`'s agent for a data key of the fleet's provider. Green: the key, opened in the host's TPM by its agent
 * (only its fingerprint is printed). Otherwise the refusal, which must be `expectRefusal`.
 */
function askForKey(h: FleetHost, expectRefusal?: string): string | undefined {
  const r = agentCall(h, "POST", `/api/v1/providers/${FLEET_PROVIDER}/data-keys`, { bytes: 32 });
  if (expectRefusal === undefined) {
    if (r.status !== 201 || typeof r.body["key"] !== "string") throw new Error(`${h.name}'s agent answered ${r.status} ${JSON.stringify(r.body)}`);
    const key = r.body["key"];
    say(
      `${h.name}: 201, a ${Buffer.from(key, "base64").length}-byte data key released by kmxd as a JWE to this host's binding key and opened in its TPM (SHA-256 ${fingerprint(key)}…); wrapped form ${String(r.body["wrapped"]).slice(0, 32)}…`,
    );
    return key;
  }
  const code = String(r.body["type"]).replace("urn:tessera:problem:", "");
  say(`${h.name}: refused, ${r.status} ${code}: ${String(r.body["detail"])}`);
  if (code !== expectRefusal) throw new Error(`${h.name}'s agent answered ${r.status} ${JSON.stringify(r.body)}, expected ${expectRefusal}`);
  return undefined;
}

/** Starts `h`'s agent: installed with a Trust Authority address that answers nothing, until step 6 gives it the real one. */
async function startAgent(h: FleetHost, attestd: Service, kmxd: Service): Promise<ReadyProcess> {
  const args = [
    ...[
      "--tcti",
      h.sw.tcti,
      "--host",
      h.name,
      "--event-log",
      h.logFile,
      "--data-dir",
      path.join(h.dir, "kmxa"),
      "--listen",
      "127.0.0.1:0",
      "--log-level",
      "warn",
    ],
    ...["--attestd", "https://127.0.0.1:1", "--attestd-ca", attestd.caFile, "--kmxd", "https://127.0.0.1:1", "--kmxd-ca", kmxd.caFile],
  ];
  return spawnReady(`kmxa ${h.name}`, KMXA, args, /^kmxa: listening on (https:\/\/\S+) and (\S+)/m, { timeoutMs: 60_000 });
}

/** Runs the fleet part of the demo in `work/fleet`, stopping everything it started (also on a failure). */
export async function runFleetDemo(work: string): Promise<void> {
  const dir = path.join(work, "fleet");
  await mkdir(dir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const hosts: FleetHost[] = [];
  let attestd: Attestd | undefined;
  let kmxd: Service | undefined;
  try {
    step("The fleet: a Trust Authority on its defaults (kmipd, attestd) and three swtpm hosts whose TPMs come from one maker (one EK CA)");
    const makerCa = path.join(dir, "tpm-maker-ca");
    const [kmipd, a] = await Promise.all([
      spawnKmipd(["--listen", "127.0.0.1:0", "--data-dir", path.join(dir, "kmipd"), "--log-level", "warn"]).then((k) => {
        stops.push(async () => void k.proc.kill("SIGTERM"));
        return k;
      }),
      startAttestd(path.join(dir, "attestd"), path.join(dir, "attestd.log")).then((s) => {
        stops.push(() => s.stop());
        return s;
      }),
      allOrCleanUp(
        FLEET_HOSTS.map(() => startSwtpm({ localCaDir: makerCa, eccP256Ek: false })),
        (sw) => stops.push(() => sw.stop()),
      ).then((sws) => sws.forEach((sw, i) => hosts.push({ name: FLEET_HOSTS[i]!, sw, dir: path.join(dir, `host-${i + 1}`), logFile: "", socket: "" }))),
    ]);
    attestd = a;
    say(`kmipd on 127.0.0.1:${kmipd.port}; ${attestd.banner}`);
    for (const h of hosts)
      say(`${h.name}: swtpm at ${h.sw.tcti}, EK certificate issued by ${new X509Certificate(h.sw.caCertPem).subject.replace(/\n/g, ", ")}`);

    step("Measured boots: host-1 and host-2 boot the accepted image; host-3 boots kernel 6.1.0-99-amd64, which nobody accepted");
    const pki = await makeTestSecureBootPki();
    const acceptedImage = path.join(dir, "fleet-image.json");
    const otherImage = path.join(dir, "other-kernel-image.json");
    await writeFile(acceptedImage, JSON.stringify(defaultHostImage({ pki, version: "fleet-1" }), null, 2));
    await writeFile(otherImage, JSON.stringify(defaultHostImage({ pki, version: "fleet-1", kernelRelease: "6.1.0-99-amd64" }), null, 2));
    for (const [i, h] of hosts.entries()) {
      await mkdir(h.dir, { recursive: true });
      Object.assign(h, { logFile: path.join(h.dir, "binary_bios_measurements") });
      tactl(["host", "boot", "--tcti", h.sw.tcti, "--image", i < 2 ? acceptedImage : otherImage, "--log-out", h.logFile], 0, i > 0);
    }

    step("The administrator signs in; kmxd starts, following attestd with a TrustedReaders account");
    tactl(["ta", "login", "--server", attestd.url, "--ca", attestd.caFile, "--user", "admin", "--password-file", attestd.passwordFile]);
    tactl(["ta", "account", "add", "kmxd", "--group", "TrustedReaders", "--password-out", path.join(dir, "kmxd.password")]);
    kmxd = await startKmxd(path.join(dir, "kmxd"), path.join(dir, "kmxd.log"), attestd, "kmxd", path.join(dir, "kmxd.password"));
    const k = kmxd;
    stops.push(() => k.stop());
    say(kmxd.banner);

    step("Each host's agent (kmxa) is installed; it knows no Trust Authority yet");
    const agents = await allOrCleanUp(
      hosts.map((h) => startAgent(h, attestd!, k)),
      (p) => stops.push(() => p.stop()),
    );
    for (const [i, h] of hosts.entries()) {
      h.agent = agents[i];
      Object.assign(h, { socket: agents[i]!.match[2]! });
      say(`${h.name}: agent on ${agents[i]!.match[1]} and ${h.socket} (0600)`);
    }
    const [h1, h2, h3] = hosts as [FleetHost, FleetHost, FleetHost];

    step("Step 1: export the identity of a known-good host (EK certificate and its CA chain, TPM, the image its boot measured)");
    const identity = path.join(dir, "host-1-identity.json");
    tactl(["host", "export-identity", "--agent", h1.socket, "-o", identity, "--image-name", "fleet-host", "--image-version", "1"]);

    step("Step 2: enable the trusted-host services on the Trust Authority cluster");
    tactl(["ta", "enable", "--kmxd", kmxd.url, "--kmxd-ca", kmxd.caFile]);

    step("Step 3: import the hosts' identity: trust their TPM maker's CA, accept the image host-1 booted");
    await writeFile(path.join(dir, "tpm-maker-ca.pem"), h1.sw.caCertsPem.join(""));
    tactl(["ta", "tpm-ca", "add", path.join(dir, "tpm-maker-ca.pem")]);
    tactl(["ta", "import-host-identity", identity]);

    step("Step 4: a trusted key provider whose primary key stays in kmipd");
    const kmipTls = path.join(dir, "kmipd", "tls");
    const K = kmipdClientArgs(path.join(dir, "kmipd"), kmipd.port);
    const primary = (JSON.parse(tactl(["kmip", "create", ...K, "--alg", "AES", "--length", "256", "--name", "fleet-kp-primary", "--json"])) as { id: string })
      .id;
    tactl(["kmip", "activate", primary, ...K]);
    const KP = ["--server", kmxd.url, "--ca", kmxd.caFile];
    tactl([
      "kp",
      "create",
      FLEET_PROVIDER,
      "--kmip-server",
      `127.0.0.1:${kmipd.port}`,
      "--key-id",
      primary,
      ...K.slice(2, 6),
      "--server-ca",
      path.join(kmipTls, "ca.pem"),
      ...KP,
    ]);
    tactl(["kp", "grant", FLEET_PROVIDER, "--cluster", "default", ...KP]);

    step("Step 5: export the Trust Authority cluster's identity (addresses, TLS CA, token keys)");
    const ta = path.join(dir, "ta-identity.json");
    tactl(["ta", "export-identity", "-o", ta]);

    step("Step 6: import it into each host's agent; each attests at once");
    for (const h of hosts) tactl(["cluster", "import-ta-identity", ta, "--agent", h.socket, "--kmxd", kmxd.url, "--kmxd-ca", kmxd.caFile]);

    step(`Step 7: make the Trust Authority the trusted cluster's key provider (${FLEET_PROVIDER})`);
    for (const h of hosts) tactl(["cluster", "set-key-provider", FLEET_PROVIDER, "--agent", h.socket]);

    step("The fleet: two hosts green, host-3 red with the component that differs");
    const fleet = tactl(["status"]);
    expectFleet(fleet, { [h1.name]: "green", [h2.name]: "green", [h3.name]: "red" });
    if (!/image-unknown/.test(lineOf(fleet, h3.name))) throw new Error(`${h3.name}'s line does not name image-unknown`);

    step("Each host's consumer (the vTPM manager) asks its agent for a data key");
    const k1 = askForKey(h1);
    const k2 = askForKey(h2);
    if (k1 === k2) throw new Error("host-1 and host-2 got the same data key");
    askForKey(h3, "not-attested");

    step(
      "host-3 is rebooted with the accepted image: its agent stops, its TPM power-cycles (PCRs reset, keys in NV kept), a measured boot, its agent starts again",
    );
    await h3.agent!.stop();
    await h3.sw.restart();
    tactl(["host", "boot", "--tcti", h3.sw.tcti, "--image", acceptedImage, "--log-out", h3.logFile], 0, true);
    say(`measured boot of ${h3.name} with ${path.basename(acceptedImage)}: event log in ${h3.logFile}`);
    const again = await startAgent(h3, attestd, kmxd);
    stops.push(() => again.stop());
    h3.agent = again;
    // Its socket is where it was: the agent keeps its data directory (persistent AK and binding key in the TPM's NV).
    say(`${h3.name}: the agent is back (same AK and binding key, the imported Trust Authority kept); it attests at start`);
    await eventually(`${h3.name}'s agent attested`, async () => (agentStatus(h3) === "attested" ? true : undefined), 60_000, 250);
    const after = tactl(["status"]);
    expectFleet(after, { [h1.name]: "green", [h2.name]: "green", [h3.name]: "green" });
    askForKey(h3);
  } catch (err) {
    if (attestd) say(`attestd's log:\n${await attestd.log()}`);
    if (kmxd) say(`kmxd's log:\n${await kmxd.log()}`);
    for (const h of hosts) if (h.agent) say(`${h.name}'s agent:\n${h.agent.output()}`);
    throw err;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

/** The agent's state (`attested`, `refused`, `unreachable`, …) from its status. */
function agentStatus(h: FleetHost): string {
  const r = spawnSync("curl", ["-sS", "--unix-socket", h.socket, "http://kmxa/api/v1/status"], { encoding: "utf8" });
  if (r.status !== 0) return `curl exited ${r.status}`;
  try {
    return String((JSON.parse(r.stdout) as { state?: unknown }).state);
  } catch {
    return "no answer";
  }
}

/** `host`'s line in `tactl status`. */
function lineOf(table: string, host: string): string {
  return table.split("\n").find((l) => l.startsWith(`${host} `)) ?? "";
}

/** @throws Error unless every host of `want` has its status in `tactl status`'s table */
function expectFleet(table: string, want: Record<string, string>): void {
  for (const [host, status] of Object.entries(want)) {
    if (!new RegExp(`^\\S+ +${status} `).test(lineOf(table, host))) throw new Error(`${host} is not ${status} in tactl status`);
  }
}
