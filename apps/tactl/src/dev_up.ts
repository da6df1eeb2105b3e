/**
 * `tactl dev up`: the whole system on loopback, each part its own detached process logging to `D/logs/` —
 * kmipd, attestd, kmxd, and N swtpm hosts measured-booted by libs/boot, each with its kmxa — set up as an
 * administrator would (DESIGN.md's seven steps, through attestd's and kmxd's admin APIs), until every host is
 * green; then `D/env.json`. See dev_down.ts and dev_status.ts for the rest.
 * @module
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { bootHost, defaultHostImage, makeTestSecureBootPki, type HostImage } from "@tessera/boot";
import { KmipClient } from "@tessera/kmip-client";
import { Tpm } from "@tessera/tss";
import { devLayout, readPids, writePids, type DevEnv, type DevHost, type DevLayout } from "./dev_env.ts";
import { DevError } from "./dev_errors.ts";
import { isAlive, spawnDetached, stopProcesses, waitForLogLine, type DevProcess } from "./dev_process.ts";
import { manufactureTpm, MAX_SOCKET_PATH, readTpmCaCertificates, swtpmSocketArgs, tpmCaLayout, waitForSwtpm, writeTpmCaConfig, findProgram } from "./dev_swtpm.ts";
import { writeFileAtomic } from "./files.ts";
import { taRequest, TaProblemError, type TaEndpoint } from "./ta_client.ts";
import { agentRequest } from "./wf_agent_client.ts";
import { parseTaIdentity } from "./wf_identity.ts";

/** The key provider `tactl dev up` creates (and grants to the `default` cluster). */
export const DEV_KEY_PROVIDER = "dev";
/** The host image the dev hosts boot, as attestd accepts it. */
export const DEV_IMAGE = { name: "dev-host", version: "1" } as const;
/** How long a service may take to print its ready line (generous: a loaded CI machine). */
const START_TIMEOUT_MS = 60_000;
/** How long the hosts may take to turn green once their agents run. */
const GREEN_TIMEOUT_MS = 90_000;

/** Options of {@link devUp}. */
export interface DevUpOptions {
  /** The environment's directory (created; must not hold another environment). */
  readonly dir: string;
  /** How many hosts (1–16). */
  readonly hosts: number;
  /** One progress line per step. */
  readonly progress: (line: string) => void;
}

/**
 * The repository's root: the nearest folder above this module holding `apps/attestd/bin/attestd` (from the
 * sources, `apps/tactl/src`; from the bundle, `apps/tactl/dist/bundle/chunks`).
 * @throws DevError DEV_REPO_NOT_FOUND
 */
export function repoRoot(from: string = import.meta.dirname): string {
  for (let d = path.resolve(from); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, "apps/attestd/bin/attestd"))) return d;
    if (path.dirname(d) === d) throw new DevError("DEV_REPO_NOT_FOUND", `no Tessera checkout (apps/attestd/bin/attestd) above ${from}: tactl dev runs the services from the repository`);
  }
}

/** The name of host `i` (1-based). */
export function hostName(i: number): string {
  return `host-${i}`;
}

/** The step's failure as a DevError naming the step (a refusal: the server's problem; a DevError passes). */
async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof DevError) throw e;
    // A refusal is the server's problem document (title: detail); anything else its own message.
    const said = e instanceof TaProblemError ? `${e.status} ${e.message}` : (e as Error).message;
    throw new DevError("DEV_STEP", `${what}: ${said}`, { cause: e });
  }
}

/**
 * Like Promise.all, but on a failure waits for the others to settle before rejecting with the first failure: a
 * start still under way must have recorded its process before the clean-up stops them all.
 */
async function allSettledOrThrow<T extends readonly unknown[]>(ps: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const rs = await Promise.allSettled(ps);
  const failed = rs.find((r) => r.status === "rejected");
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  return rs.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** Fails unless `dir` may hold a new environment: nothing of a previous one running, no previous one there. */
async function checkDir(l: DevLayout): Promise<void> {
  const running = (await readPids(l)).processes.filter(isAlive);
  if (running.length > 0) {
    throw new DevError("DEV_DIR_IN_USE", `${l.root} runs an environment (${running.map((p) => `${p.name} pid ${p.pid}`).join(", ")}): \`tactl dev down --dir ${l.root}\` first`);
  }
  if (existsSync(l.root) && (await readdir(l.root)).length > 0) {
    throw new DevError("DEV_DIR_NOT_EMPTY", `${l.root} is not empty (a stopped environment?): remove it or give another --dir`);
  }
}

/** Signs in to attestd as `user`; the admin token. */
async function signIn(server: string, ca: string, user: string, passwordFile: string): Promise<string> {
  const password = (await readFile(passwordFile, "utf8")).trim();
  const r = await taRequest({ server, ca }, "POST", "/api/v1/auth/token", { user, password });
  return String((r.body as { token?: unknown }).token);
}

/**
 * Starts the environment in `o.dir` and resolves with its env.json once every host is green. On a failure every
 * process it started is stopped (their logs stay) and the error names the step.
 */
export async function devUp(o: DevUpOptions): Promise<DevEnv> {
  if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > 16) throw new DevError("DEV_USAGE", `--hosts ${o.hosts}: give 1 to 16 hosts`);
  const l = devLayout(o.dir);
  await checkDir(l);
  const longest = l.host(hostName(o.hosts)).socket + ".ctrl";
  if (longest.length > MAX_SOCKET_PATH) throw new DevError("DEV_SOCKET_PATH", `${longest} is longer than a Unix socket path may be: give a shorter --dir`);
  // Fail early, before anything starts, when swtpm is missing.
  for (const p of ["swtpm", "swtpm_setup", "swtpm_localca"]) findProgram(p);
  const root = repoRoot();
  await mkdir(l.logs, { recursive: true, mode: 0o700 });
  const started: DevProcess[] = [];
  let pidsWritten = Promise.resolve();
  const start = async (name: string, command: string, args: string[]): Promise<DevProcess> => {
    const p = await spawnDetached({ name, command, args, log: path.join(l.logs, `${name.replace(/ /g, "-")}.log`), cwd: l.root });
    started.push(p);
    // pids.json follows every start, so that `dev down` stops what a failed or interrupted `up` left.
    pidsWritten = pidsWritten.then(() => writePids(l, { processes: [...started] }));
    await pidsWritten;
    return p;
  };
  const bin = (app: string) => path.join(root, "apps", app, "bin", app);
  try {
    o.progress(`starting kmipd and attestd; making ${o.hosts} swtpm host${o.hosts === 1 ? "" : "s"} (swtpm_setup, EK certificates)`);
    const [kmipPort, attestdUrl, hostsReady] = await allSettledOrThrow<[number, string, PreparedHosts]>([
      (async () => {
        const p = await start("kmipd", bin("kmipd"), ["--listen", "127.0.0.1:0", "--data-dir", l.kmipd, "--log-level", "warn"]);
        return Number((await waitForLogLine(p, /kmipd: listening on \S+:(\d+)/, START_TIMEOUT_MS))[1]);
      })(),
      (async () => {
        const p = await start("attestd", bin("attestd"), ["--listen", "127.0.0.1:0", "--data-dir", l.attestd, "--log-level", "warn"]);
        return (await waitForLogLine(p, /^attestd: listening on (https:\/\/\S+)/m, START_TIMEOUT_MS))[1];
      })(),
      prepareHosts(l, o.hosts, start),
    ]);
    o.progress(`kmipd on 127.0.0.1:${kmipPort}, attestd on ${attestdUrl}`);

    // One TLS CA for the Trust Authority: kmxd's first start issues its server certificate from attestd's CA
    // (ensureLocalTls reuses a CA it finds), so clients trust one file, D/ca.pem.
    await copyFile(path.join(l.attestd, "tls", "ca.pem"), l.ca);
    const ca = await readFile(l.ca, "utf8");
    await mkdir(path.join(l.kmxd, "tls"), { recursive: true, mode: 0o700 });
    await copyFile(path.join(l.attestd, "tls", "ca.pem"), path.join(l.kmxd, "tls", "ca.pem"));
    await writeFileAtomic(path.join(l.kmxd, "tls", "ca-key.pem"), await readFile(path.join(l.attestd, "tls", "ca-key.pem")), 0o600);

    const adminPasswordFile = path.join(l.attestd, "admin.password");
    const admin = async (): Promise<TaEndpoint> => ({ server: attestdUrl, ca, token: await signIn(attestdUrl, ca, "admin", adminPasswordFile) });
    const attestd = await step("sign in to attestd as admin", admin);

    o.progress("starting kmxd (following attestd with a TrustedReaders account)");
    await step("add kmxd's attestd account", async () => {
      const r = await taRequest(attestd, "POST", "/api/v1/accounts", { user: "kmxd", groups: ["TrustedReaders"] });
      await writeFileAtomic(l.kmxdPassword, `${String((r.body as { password?: unknown }).password)}\n`, 0o600);
    });
    const kmxdProc = await start("kmxd", bin("kmxd"), [
      ...["--listen", "127.0.0.1:0", "--data-dir", l.kmxd, "--log-level", "warn"],
      ...["--attestd", attestdUrl, "--attestd-ca", l.ca, "--attestd-user", "kmxd", "--attestd-password-file", l.kmxdPassword],
    ]);
    const kmxdUrl = (await waitForLogLine(kmxdProc, /^kmxd: listening on (https:\/\/\S+)/m, START_TIMEOUT_MS))[1];
    const kmxd: TaEndpoint = { server: kmxdUrl, ca, token: attestd.token };
    o.progress(`kmxd on ${kmxdUrl}`);

    // DESIGN.md's workflow. Steps 1 and 3: the hosts' identity is their TPM CA (swtpm_localca's) and the image
    // they boot; the administrator trusts the one and accepts the other.
    o.progress("step 1+3: trust the swtpm EK CA, accept the booted image");
    await step("trust the swtpm EK CA (POST /api/v1/tpm-cas)", async () => {
      const certificates = (await readTpmCaCertificates(tpmCaLayout(l.tpmCa))).join("");
      await taRequest(attestd, "POST", "/api/v1/tpm-cas", { certificates });
    });
    await step(`accept image ${DEV_IMAGE.name} ${DEV_IMAGE.version} (POST /api/v1/images)`, async () => {
      await taRequest(attestd, "POST", "/api/v1/images", { ...DEV_IMAGE, manifest: hostsReady.manifest });
    });
    // Step 2: kmxd trusts this attestd (it was started on it): its admin API takes attestd's admin token.
    o.progress(`step 2+4: kmxd takes attestd's admin token; key provider ${DEV_KEY_PROVIDER} on kmipd with a new AES-256 key, granted to cluster default`);
    await step("create the key provider", () => createProvider(l, kmipPort, kmxd));

    // Each agent starts with the Trust Authority's addresses on its command line (as a packaged host's configuration
    // would have them); steps 5-7 below then go through the agents' own API.
    o.progress("each host's agent (kmxa)");
    const hosts: DevHost[] = await allSettledOrThrow<DevHost[]>(
      hostsReady.hosts.map(async (h) => {
        const hl = l.host(h.name);
        const p = await start(`kmxa ${h.name}`, bin("kmxa"), [
          ...["--tcti", h.tcti, "--host", h.name, "--event-log", hl.eventLog, "--data-dir", hl.kmxa, "--listen", "127.0.0.1:0"],
          ...["--attestd", attestdUrl, "--attestd-ca", l.ca, "--kmxd", kmxdUrl, "--kmxd-ca", l.ca, "--log-level", "info"],
        ]);
        const m = await waitForLogLine(p, /^kmxa: listening on (https:\/\/\S+) and (\S+)/m, START_TIMEOUT_MS);
        return { name: h.name, tcti: h.tcti, agentSocket: m[2], agentUrl: m[1] };
      }),
    );

    // Step 5: the Trust Authority's identity as `tactl ta export-identity` gets it; steps 6 and 7 through each agent's
    // socket as `tactl cluster import-ta-identity` and `tactl cluster set-key-provider` do (parseTaIdentity checks it).
    o.progress(`step 5-7: the Trust Authority's identity exported and imported into each agent; ${DEV_KEY_PROVIDER} made each agent's default key provider`);
    const ta = await step("export the Trust Authority's identity (GET /api/v1/identity)", async () =>
      parseTaIdentity(JSON.stringify((await taRequest(attestd, "GET", "/api/v1/identity")).body), "attestd's identity"),
    );
    await allSettledOrThrow(
      hosts.map(async (h) => {
        await step(`import the Trust Authority's identity into ${h.name}'s agent`, () =>
          agentRequest(h.agentSocket, "PUT", "/api/v1/ta-identity", { attestd: { url: ta.attestationService, ca: ta.tlsCa }, kmxd: { url: kmxdUrl, ca }, cluster: ta.cluster }),
        );
        await step(`make ${DEV_KEY_PROVIDER} ${h.name}'s default key provider`, () => agentRequest(h.agentSocket, "PUT", "/api/v1/key-provider", { name: DEV_KEY_PROVIDER }));
      }),
    );

    o.progress(`waiting until ${hosts.map((h) => h.name).join(", ")} ${hosts.length === 1 ? "is" : "are"} green`);
    await waitGreen(attestdUrl, ca, adminPasswordFile, hosts.map((h) => h.name));

    const env: DevEnv = { attestd: attestdUrl, kmxd: kmxdUrl, kmipd: `127.0.0.1:${kmipPort}`, ca: l.ca, adminPasswordFile, keyProvider: DEV_KEY_PROVIDER, hosts };
    await writeFileAtomic(l.env, JSON.stringify(env, null, 2) + "\n");
    o.progress(`ready: ${l.env}`);
    return env;
  } catch (e) {
    await pidsWritten.catch(() => undefined);
    await stopProcesses(started);
    throw e;
  }
}

/** The hosts' TPMs running and booted, and the image they booted. */
interface PreparedHosts {
  manifest: HostImage;
  hosts: { name: string; tcti: string }[];
}

/**
 * Manufactures the hosts' TPMs (one at a time: they share swtpm_localca's CA), starts each one's swtpm detached,
 * and measured-boots it with the dev image (libs/boot's default Linux host under a test Secure Boot PKI), writing
 * its event log where its agent reads it. The image manifest is kept in D/image.json (`tactl host boot --image`
 * boots a host again with it).
 */
async function prepareHosts(l: DevLayout, n: number, start: (name: string, command: string, args: string[]) => Promise<DevProcess>): Promise<PreparedHosts> {
  const ca = tpmCaLayout(l.tpmCa);
  await writeTpmCaConfig(ca);
  const manifest = defaultHostImage({ pki: await makeTestSecureBootPki(), version: "tessera-dev-1" });
  await writeFile(l.image, JSON.stringify(manifest, null, 2) + "\n");
  const names = Array.from({ length: n }, (_, i) => hostName(i + 1));
  for (const name of names) await manufactureTpm(l.host(name).state, ca);
  const swtpm = findProgram("swtpm");
  const hosts = await allSettledOrThrow<{ name: string; tcti: string }[]>(
    names.map(async (name) => {
      const hl = l.host(name);
      const p = await start(`swtpm ${name}`, swtpm, swtpmSocketArgs(hl.state, hl.socket));
      await waitForSwtpm(hl.socket, () => isAlive(p), START_TIMEOUT_MS);
      const tcti = `swtpm:path=${hl.socket}`;
      const tpm = Tpm.open(tcti);
      try {
        await writeFileAtomic(hl.eventLog, (await bootHost(tpm, manifest)).log);
      } finally {
        await tpm.close();
      }
      return { name, tcti };
    }),
  );
  return { manifest, hosts };
}

/** Step 4: a new Active AES-256 key on kmipd, provider {@link DEV_KEY_PROVIDER} on kmxd over it (kmipd's own client certificate), granted to `default`. */
async function createProvider(l: DevLayout, kmipPort: number, kmxd: TaEndpoint): Promise<void> {
  const tlsDir = path.join(l.kmipd, "tls");
  const tls = {
    cert: await readFile(path.join(tlsDir, "client.pem"), "utf8"),
    key: await readFile(path.join(tlsDir, "client-key.pem"), "utf8"),
    ca: await readFile(path.join(tlsDir, "ca.pem"), "utf8"),
  };
  const client = new KmipClient({ servers: [{ host: "127.0.0.1", port: kmipPort }], tls, version: { major: 1, minor: 4 }, poolSize: 1 });
  let keyId: string;
  try {
    keyId = await client.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt", name: `tessera-dev/${DEV_KEY_PROVIDER}/v1` });
    await client.activate(keyId);
  } finally {
    client.close();
  }
  const r = await taRequest(kmxd, "POST", "/api/v1/providers", {
    name: DEV_KEY_PROVIDER,
    kmipServers: [`127.0.0.1:${kmipPort}`],
    keyId,
    serverCa: tls.ca,
    clientCertificate: tls.cert,
    clientKey: tls.key,
    wrapMode: "auto",
  });
  const grants = (r.body as { grants?: unknown }).grants;
  if (!(Array.isArray(grants) && grants.includes("default"))) await taRequest(kmxd, "POST", `/api/v1/providers/${DEV_KEY_PROVIDER}/grants`, { cluster: "default" });
}

/**
 * Polls attestd's host list until every one of `names` is green.
 * @throws DevError DEV_NOT_GREEN after the time limit, naming each host's status and message
 */
async function waitGreen(server: string, ca: string, passwordFile: string, names: readonly string[]): Promise<void> {
  const deadline = Date.now() + GREEN_TIMEOUT_MS;
  const token = await signIn(server, ca, "admin", passwordFile);
  let last: { host: string; status: string; message?: string }[] = [];
  for (;;) {
    const r = await taRequest({ server, ca, token }, "GET", "/api/v1/hosts");
    last = ((r.body as { hosts?: unknown }).hosts as typeof last | undefined) ?? [];
    if (names.every((n) => last.some((h) => h.host === n && h.status === "green"))) return;
    if (Date.now() > deadline) {
      const said = names.map((n) => {
        const h = last.find((x) => x.host === n);
        return h === undefined ? `${n}: not seen by attestd` : `${n}: ${h.status}${h.message ? ` (${h.message})` : ""}`;
      });
      throw new DevError("DEV_NOT_GREEN", `not every host turned green within ${GREEN_TIMEOUT_MS / 1000} s: ${said.join("; ")}; the agents' logs are in the logs folder`);
    }
    await sleep(250);
  }
}
