/**
 * Test support of kmxa's local API tests: the Trust Authority as real processes — attestd
 * (`apps/attestd/bin/attestd`), kmipd (`apps/kmipd/src/main.ts`) holding the providers' primary keys, and kmxd
 * (`apps/kmxd/bin/kmxd`) following attestd's events — started with `spawnReady`; swtpm hosts booted by libs/boot;
 * and JSON over HTTPS (trusting a CA) and over a Unix socket.
 * @module
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { bootHost, type HostImage } from "@tessera/boot";
import { createProviderClient } from "@tessera/key-provider";
import { eventually, spawnReady, type ReadyProcess } from "@tessera/process-testing";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { Tpm } from "@tessera/tss";

/** The repository's root. */
export const ROOT = path.resolve(import.meta.dirname, "../../..");
const ATTESTD = path.join(ROOT, "apps/attestd/bin/attestd");
const KMXD = path.join(ROOT, "apps/kmxd/bin/kmxd");
const KMIPD = path.join(ROOT, "apps/kmipd/src/main.ts");
/** kmxa's launcher. */
export const KMXA = path.join(ROOT, "apps/kmxa/bin/kmxa");

/** An answer: status, headers and the JSON body (`{}` when empty, `{text}` when not JSON). */
export interface JsonAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

function answer(res: import("node:http").IncomingMessage, resolve: (a: JsonAnswer) => void): void {
  let text = "";
  res.setEncoding("utf8");
  res.on("data", (d: string) => (text += d));
  res.on("end", () => {
    let json: Record<string, unknown>;
    try {
      json = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      json = { text };
    }
    resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
  });
}

/** Options of one JSON request. */
export interface CallOptions {
  body?: unknown;
  /** A raw body (sent as is, with `contentType`). */
  raw?: string;
  contentType?: string;
  token?: string;
}

function headersOf(o: CallOptions, body: string | undefined): Record<string, string> {
  return {
    accept: "application/json",
    ...(body !== undefined ? { "content-type": o.contentType ?? "application/json" } : {}),
    ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}),
  };
}

/** One JSON request over HTTPS trusting `ca`. */
export function httpsJson(url: string, method: string, ca: string, o: CallOptions = {}): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    const req = httpsRequest(url, { method, ca, headers: headersOf(o, body) }, (res) => answer(res, resolve));
    req.on("error", reject);
    req.end(body);
  });
}

/** One JSON request over the Unix socket `socketPath` (plain HTTP). */
export function unixJson(socketPath: string, method: string, p: string, o: CallOptions = {}): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    const req = httpRequest({ socketPath, path: p, method, headers: { host: "localhost", ...headersOf(o, body) } }, (res) => answer(res, resolve));
    req.on("error", reject);
    req.end(body);
  });
}

/** A problem document's code (`urn:tessera:problem:<code>` → `<code>`). */
export function problemCode(r: JsonAnswer): string {
  return String(r.json.type).replace("urn:tessera:problem:", "");
}

/** The Trust Authority of a test: attestd, kmipd and kmxd processes. */
export interface Stack {
  attestd: { url: string; caFile: string; ca: string; passwordFile: string; proc: ReadyProcess };
  kmipd: { port: number; tls: { cert: string; key: string; ca: string }; proc: ReadyProcess };
  kmxd: { url: string; caFile: string; ca: string; proc: ReadyProcess };
  /** attestd's admin API (a fresh admin token per call). */
  attestdAdmin(method: string, p: string, body?: unknown): Promise<JsonAnswer>;
  /** kmxd's admin API with attestd's admin token; throws on a status ≥ 300. */
  kmxdAdmin(method: string, p: string, body?: unknown): Promise<JsonAnswer>;
  /** Creates an Active AES-256 key on kmipd and provider `name` on kmxd over it (A256GCM). */
  addProvider(name: string): Promise<void>;
  /** Trusts `sw`'s EK CA on attestd. */
  trustTpm(sw: SwtpmInstance): Promise<void>;
  /** Accepts `manifest` as an image on attestd. */
  acceptImage(name: string, manifest: HostImage): Promise<void>;
  /** Stops every process (idempotent). */
  stop(): Promise<void>;
}

/** Starts attestd and kmipd, then kmxd following attestd with its first administrator's account. */
export async function startStack(dir: string): Promise<Stack> {
  const attestdDir = path.join(dir, "attestd");
  const kmipDir = path.join(dir, "kmipd");
  const kmxdDir = path.join(dir, "kmxd");
  const [a, k] = await Promise.all([
    spawnReady("attestd", ATTESTD, ["--listen", "127.0.0.1:0", "--data-dir", attestdDir, "--log-level", "warn"], /^attestd: listening on (https:\/\/\S+)/m),
    spawnReady("kmipd", process.execPath, [KMIPD, "--listen", "127.0.0.1:0", "--data-dir", kmipDir], /kmipd: listening on \S+:(\d+)/),
  ]);
  const procs: ReadyProcess[] = [a, k];
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.stop()));
  };
  try {
    const attestdCaFile = path.join(attestdDir, "tls", "ca.pem");
    const attestd = {
      url: a.match[1]!,
      caFile: attestdCaFile,
      ca: await readFile(attestdCaFile, "utf8"),
      passwordFile: path.join(attestdDir, "admin.password"),
      proc: a,
    };
    const tlsDir = path.join(kmipDir, "tls");
    const kmipd = {
      port: Number(k.match[1]),
      tls: {
        cert: await readFile(path.join(tlsDir, "client.pem"), "utf8"),
        key: await readFile(path.join(tlsDir, "client-key.pem"), "utf8"),
        ca: await readFile(path.join(tlsDir, "ca.pem"), "utf8"),
      },
      proc: k,
    };
    const x = await spawnReady(
      "kmxd",
      KMXD,
      [
        ...["--listen", "127.0.0.1:0", "--data-dir", kmxdDir, "--log-level", "warn"],
        ...["--attestd", attestd.url, "--attestd-ca", attestd.caFile, "--attestd-user", "admin", "--attestd-password-file", attestd.passwordFile],
      ],
      /^kmxd: listening on (https:\/\/\S+)/m,
    );
    procs.push(x);
    const kmxdCaFile = path.join(kmxdDir, "tls", "ca.pem");
    const kmxd = { url: x.match[1]!, caFile: kmxdCaFile, ca: await readFile(kmxdCaFile, "utf8"), proc: x };
    const password = (await readFile(attestd.passwordFile, "utf8")).trim();
    const adminToken = async (): Promise<string> => {
      const r = await httpsJson(`${attestd.url}/api/v1/auth/token`, "POST", attestd.ca, { body: { user: "admin", password } });
      if (r.status !== 200) throw new Error(`attestd sign-in: ${r.status} ${JSON.stringify(r.json)}`);
      return r.json.token as string;
    };
    const attestdAdmin = async (method: string, p: string, body?: unknown): Promise<JsonAnswer> =>
      httpsJson(attestd.url + p, method, attestd.ca, { ...(body !== undefined ? { body } : {}), token: await adminToken() });
    const kmxdAdmin = async (method: string, p: string, body?: unknown): Promise<JsonAnswer> => {
      const r = await httpsJson(kmxd.url + p, method, kmxd.ca, { ...(body !== undefined ? { body } : {}), token: await adminToken() });
      if (r.status >= 300) throw new Error(`kmxd ${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
      return r;
    };
    return {
      attestd,
      kmipd,
      kmxd,
      attestdAdmin,
      kmxdAdmin,
      async addProvider(name) {
        const client = createProviderClient({ servers: [{ host: "127.0.0.1", port: kmipd.port }], tls: kmipd.tls });
        let keyId: string;
        try {
          keyId = await client.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt", name: `kmxa-test-${name}` });
          await client.activate(keyId);
        } finally {
          client.close();
        }
        await kmxdAdmin("POST", "/api/v1/providers", {
          name,
          kmipServers: [`127.0.0.1:${kmipd.port}`],
          keyId,
          serverCa: kmipd.tls.ca,
          clientCertificate: kmipd.tls.cert,
          clientKey: kmipd.tls.key,
          wrapMode: "A256GCM",
        });
      },
      async trustTpm(sw) {
        const r = await attestdAdmin("POST", "/api/v1/tpm-cas", { certificates: sw.caCertsPem.join("\n") });
        if (r.status !== 201 && r.status !== 200) throw new Error(`tpm-cas: ${r.status} ${JSON.stringify(r.json)}`);
      },
      async acceptImage(name, manifest) {
        const r = await attestdAdmin("POST", "/api/v1/images", { name, version: "1", manifest });
        if (r.status !== 201) throw new Error(`images: ${r.status} ${JSON.stringify(r.json)}`);
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A swtpm host booted through `image`, its event log written to `<dir>/binary_bios_measurements`. */
export interface BootedHost {
  sw: SwtpmInstance;
  log: Uint8Array;
  logFile: string;
}

/** A new swtpm (SHA-256 bank, RSA EK certificate from swtpm's CA) booted through `image`. */
export async function bootedHost(image: HostImage, dir: string): Promise<BootedHost> {
  await mkdir(dir, { recursive: true });
  const sw = await startSwtpm({ pcrBanks: ["sha256"], eccP256Ek: false });
  const tpm = Tpm.open(sw.tcti);
  let log: Uint8Array;
  try {
    log = (await bootHost(tpm, image)).log;
  } finally {
    await tpm.close();
  }
  const logFile = path.join(dir, "binary_bios_measurements");
  await writeFile(logFile, log);
  return { sw, log, logFile };
}

/** kmxa's command line for `host` on `stack` (TCP port 0, its data directory `dataDir`). */
export function kmxaArgs(stack: Stack, host: BootedHost, name: string, dataDir: string, kmxdUrl = stack.kmxd.url): string[] {
  return [
    ...["--tcti", host.sw.tcti, "--host", name, "--event-log", host.logFile, "--data-dir", dataDir, "--listen", "127.0.0.1:0"],
    ...["--attestd", stack.attestd.url, "--attestd-ca", stack.attestd.caFile, "--kmxd", kmxdUrl, "--kmxd-ca", stack.kmxd.caFile, "--log-level", "warn"],
  ];
}

export { eventually };
