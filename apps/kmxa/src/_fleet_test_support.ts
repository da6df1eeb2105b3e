/**
 * Test support of the fleet fault tests (fleet_faults_test.ts), over KA2's `startStack`: attestd and kmxd started
 * again on a fixed port and an existing data directory (a restarted Trust Authority keeps its URL, TLS identity,
 * database and providers), a kmxd that does not follow attestd's events (no attestd account), providers on any
 * kmxd of a stack, kmxa as its own process (`bin/kmxa`), and a registry of what to stop at the end.
 * @module
 */
import { createHash, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { createProviderClient } from "@tessera/key-provider";
import { spawnReady, type ReadyProcess } from "@tessera/process-testing";
import { httpsJson, KMXA, ROOT, type JsonAnswer, type Stack } from "./_stack_test_support.ts";

const ATTESTD = path.join(ROOT, "apps/attestd/bin/attestd");
const KMXD = path.join(ROOT, "apps/kmxd/bin/kmxd");
const ATTESTD_READY = /^attestd: listening on (https:\/\/\S+)/m;
const KMXD_READY = /^kmxd: listening on (https:\/\/\S+)/m;
/** kmxa's ready line: its TCP URL and its socket. */
export const KMXA_READY = /^kmxa: listening on (https:\/\/\S+) and (\/\S+)$/m;

/** Things to stop at the end of a file, last started first stopped; each runs even when another throws. */
export class Cleanup {
  readonly #steps: (() => Promise<unknown>)[] = [];

  /** Registers `step` and returns `value` (for `const x = cleanup.add(await start(), () => x.stop())`). */
  add<T>(value: T, step: (v: T) => Promise<unknown>): T {
    this.#steps.push(() => step(value));
    return value;
  }

  /** Runs every step, newest first. */
  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) await step().catch(() => undefined);
  }
}

/** A kmxd process: its URL, TLS CA and process. */
export interface Kmxd {
  url: string;
  ca: string;
  caFile: string;
  dataDir: string;
  proc: ReadyProcess;
}

/** The data directories `startStack(dir)` uses. */
export function stackDirs(dir: string): { attestd: string; kmxd: string } {
  return { attestd: path.join(dir, "attestd"), kmxd: path.join(dir, "kmxd") };
}

/** The port of a service URL. */
export function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** Starts attestd on 127.0.0.1:`port` with `dataDir` (an existing one: its database, signing keys and TLS). */
export function startAttestdAt(dataDir: string, port: number): Promise<ReadyProcess> {
  return spawnReady("attestd", ATTESTD, ["--listen", `127.0.0.1:${port}`, "--data-dir", dataDir, "--log-level", "warn"], ATTESTD_READY);
}

/**
 * Starts kmxd on 127.0.0.1:`port` (0: any) with `dataDir`, trusting `stack`'s attestd. With `followEvents` it signs
 * in as attestd's first administrator and follows its host status events (as `startStack`'s kmxd does); without,
 * it has no attestd account: it verifies tokens against attestd's JWKS but never hears that a host turned red.
 */
export async function startKmxdAt(stack: Stack, dataDir: string, port: number, followEvents: boolean): Promise<Kmxd> {
  const account = followEvents ? ["--attestd-user", "admin", "--attestd-password-file", stack.attestd.passwordFile] : [];
  const proc = await spawnReady(
    "kmxd",
    KMXD,
    [
      ...["--listen", `127.0.0.1:${port}`, "--data-dir", dataDir, "--log-level", "warn"],
      ...["--attestd", stack.attestd.url, "--attestd-ca", stack.attestd.caFile, ...account],
    ],
    KMXD_READY,
  );
  const caFile = path.join(dataDir, "tls", "ca.pem");
  return { url: proc.match[1]!, ca: await readFile(caFile, "utf8"), caFile, dataDir, proc };
}

/** An admin token of `stack`'s attestd (its first administrator), which its kmxd nodes accept too. */
export async function adminToken(stack: Stack): Promise<string> {
  const password = (await readFile(stack.attestd.passwordFile, "utf8")).trim();
  const r = await httpsJson(`${stack.attestd.url}/api/v1/auth/token`, "POST", stack.attestd.ca, { body: { user: "admin", password } });
  if (r.status !== 200) throw new Error(`attestd sign-in: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.token as string;
}

/** kmxd `k`'s admin API as `stack`'s administrator; throws on a status ≥ 300. */
export async function kmxdAdminOf(stack: Stack, k: Pick<Kmxd, "url" | "ca">, method: string, p: string, body?: unknown): Promise<JsonAnswer> {
  const r = await httpsJson(k.url + p, method, k.ca, { ...(body !== undefined ? { body } : {}), token: await adminToken(stack) });
  if (r.status >= 300) throw new Error(`kmxd ${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
  return r;
}

/** Provider `name` on kmxd `k` over a new AES-256 key on `stack`'s kmipd, granted to the trusted cluster `default`. */
export async function addGrantedProvider(stack: Stack, k: Pick<Kmxd, "url" | "ca">, name: string): Promise<void> {
  const client = createProviderClient({ servers: [{ host: "127.0.0.1", port: stack.kmipd.port }], tls: stack.kmipd.tls });
  let keyId: string;
  try {
    keyId = await client.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt", name: `fleet-test-${name}-${portOf(k.url)}` });
    await client.activate(keyId);
  } finally {
    client.close();
  }
  await kmxdAdminOf(stack, k, "POST", "/api/v1/providers", {
    name,
    kmipServers: [`127.0.0.1:${stack.kmipd.port}`],
    keyId,
    serverCa: stack.kmipd.tls.ca,
    clientCertificate: stack.kmipd.tls.cert,
    clientKey: stack.kmipd.tls.key,
    wrapMode: "A256GCM",
  });
  await kmxdAdminOf(stack, k, "POST", `/api/v1/providers/${name}/grants`, { cluster: "default" });
}

/** A kmxa process (`bin/kmxa`): its TCP URL, socket, local TLS CA and process. */
export interface KmxaProcess {
  url: string;
  socket: string;
  ca: string;
  proc: ReadyProcess;
}

/** Starts `bin/kmxa` with `args` and waits for its ready line. */
export async function startKmxaProcess(args: readonly string[]): Promise<KmxaProcess> {
  const proc = await spawnReady("kmxa", KMXA, args, KMXA_READY);
  const dataDir = args[args.indexOf("--data-dir") + 1]!;
  return { url: proc.match[1]!, socket: proc.match[2]!, ca: await readFile(path.join(dataDir, "tls", "ca.pem"), "utf8"), proc };
}

/** `args` with the value of `flag` replaced by `value`. */
export function withFlag(args: readonly string[], flag: string, value: string): string[] {
  const i = args.indexOf(flag);
  if (i < 0) throw new Error(`${flag} is not in ${args.join(" ")}`);
  return [...args.slice(0, i + 1), value, ...args.slice(i + 2)];
}

/** The SHA-256 of an X.509 certificate's SubjectPublicKeyInfo (hex): how kmxa and attestd name an EK. */
export function spkiFingerprint(der: Uint8Array): string {
  const spki = new X509Certificate(der).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("hex");
}

/** The claims of a compact JWS, unverified (the test reads its own token's `exp`, `iss`). */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}
