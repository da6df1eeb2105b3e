/**
 * Test support for kmxd's admin tests: attestd, kmipd and kmxd started as their own processes by path (port 0,
 * waiting for their ready lines), and a small HTTPS JSON client trusting a given CA.
 * @module
 */
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import path from "node:path";
import { freePort, spawnReady, type ReadyProcess } from "@tessera/process-testing";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const ATTESTD = path.join(ROOT, "apps/attestd/bin/attestd");
const KMIPD = path.join(ROOT, "apps/kmipd/src/main.ts");
const KMXD = path.join(ROOT, "apps/kmxd/bin/kmxd");

/** A process started by these helpers (@tessera/process-testing's). */
export type Proc = ReadyProcess;

/** A running attestd: its URL, TLS CA file and the generated admin password. */
export interface AttestdProc extends Proc {
  readonly url: string;
  readonly caFile: string;
  readonly ca: string;
  readonly adminPassword: string;
}

/** Starts `apps/attestd/bin/attestd --listen 127.0.0.1:0 --data-dir dataDir`. */
export async function startAttestdProcess(dataDir: string): Promise<AttestdProc> {
  const proc = await spawnReady("attestd", ATTESTD, ["--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn"], /^attestd: listening on (https:\/\/\S+)/m);
  const caFile = path.join(dataDir, "tls", "ca.pem");
  return { ...proc, url: proc.match[1]!, caFile, ca: await readFile(caFile, "utf8"), adminPassword: (await readFile(path.join(dataDir, "admin.password"), "utf8")).trim() };
}

/** A running kmipd with the TLS material it generated (its client certificate is the one the tests use). */
export interface KmipdProc extends Proc {
  readonly port: number;
  readonly tlsDir: string;
  readonly ca: string;
  readonly caKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** Starts `apps/kmipd/src/main.ts --listen 127.0.0.1:0 --data-dir dataDir`. */
export async function startKmipdProcess(dataDir: string): Promise<KmipdProc> {
  const proc = await spawnReady("kmipd", process.execPath, [KMIPD, "--listen", "127.0.0.1:0", "--data-dir", dataDir], /kmipd: listening on [^\s]+:(\d+)/);
  const tlsDir = path.join(dataDir, "tls");
  const read = (f: string) => readFile(path.join(tlsDir, f), "utf8");
  return {
    ...proc,
    port: Number(proc.match[1]),
    tlsDir,
    ca: await read("ca.pem"),
    caKey: await read("ca-key.pem"),
    clientCert: await read("client.pem"),
    clientKey: await read("client-key.pem"),
  };
}

/** A running kmxd node. */
export interface KmxdProc extends Proc {
  readonly url: string;
  readonly ca: string;
}

/** Starts `apps/kmxd/bin/kmxd` with `args` (it adds `--listen 127.0.0.1:0` unless given). */
export async function startKmxdProcess(args: readonly string[], dataDir: string): Promise<KmxdProc> {
  const argv = [...(args.includes("--listen") ? [] : ["--listen", "127.0.0.1:0"]), "--data-dir", dataDir, "--log-level", "warn", ...args];
  const proc = await spawnReady("kmxd", KMXD, argv, /^kmxd: listening on (https:\/\/\S+)/m);
  return { ...proc, url: proc.match[1]!, ca: await readFile(path.join(dataDir, "tls", "ca.pem"), "utf8") };
}

/** An HTTP answer with its JSON body (or text when it is not JSON). */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  // Tests read fields of answers freely.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

/** One HTTPS JSON request to `base` trusting `ca`. */
export function call(base: string, ca: string, method: string, pathname: string, options: { token?: string; body?: unknown } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = request(
      new URL(pathname, base),
      {
        method,
        ca,
        headers: {
          accept: "application/json",
          ...(data !== undefined ? { "content-type": "application/json" } : {}),
          ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = text;
          try {
            body = text === "" ? undefined : JSON.parse(text);
          } catch {
            // not JSON: kept as text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

/** Signs in to attestd (`POST /api/v1/auth/token`) and returns the admin token. */
export async function signIn(attestd: AttestdProc, user: string, password: string): Promise<string> {
  const r = await call(attestd.url, attestd.ca, "POST", "/api/v1/auth/token", { body: { user, password } });
  if (r.status !== 200 || typeof r.body?.token !== "string") throw new Error(`sign-in of ${user} failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.token as string;
}

export { freePort };
