/**
 * Test scaffolding for the admin API: a real data directory bootstrapped as attestd does on first start
 * (TLS, master key, SQLite or PostgreSQL store, first signing key, the `admin` account), the admin routes on
 * a @tessera/http service, and helpers to sign in and call it with app.request() or over real HTTPS.
 * Only tests import this file.
 * @module
 */
import { createHash, createPrivateKey, generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { createService, serveHttps, type HttpsService, type ServiceEnv } from "@tessera/http";
import { createCa, issueCertificate, type CertificateAndKey } from "@tessera/pki";
import { ekTemplate, keyMaterial, marshal, TPM2B_PUBLIC } from "@tessera/tpm2";
import * as x509 from "@peculiar/x509";
import type { Hono } from "hono";
import pino from "pino";
import { bootstrap } from "../bootstrap.ts";
import type { AttestdConfig } from "../config.ts";
import { createDeps } from "../context.ts";
import type { AttestdDeps } from "../deps.ts";
import { createStatusEvents, type StatusEventBus } from "../events.ts";
import type { AttestdStore } from "../store/store.ts";
import { adminRoutes, type AdminRoutesOptions } from "./admin.ts";

/** A JSON answer. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  // Tests read fields by name; a wrong shape fails their assertions.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly json: any;
}

/** A clock the tests move: `skewMs` is added to the real time. */
export interface TestClock {
  skewMs: number;
  now(): number;
}

/** An attestd data directory with the admin API over it. */
export interface AdminHarness {
  readonly app: Hono<ServiceEnv>;
  readonly deps: AttestdDeps;
  readonly store: AttestdStore;
  readonly events: StatusEventBus;
  readonly clock: TestClock;
  readonly dataDir: string;
  readonly caCert: string;
  /** The generated password of `admin`. */
  readonly adminPassword: string;
  /** `app.request` with a JSON body and an optional bearer token. */
  call(method: string, p: string, body?: unknown, token?: string): Promise<Answer>;
  /** Signs in and returns the token. */
  login(user: string, password: string): Promise<string>;
  /** A TrustedAdmins token (of `admin`). */
  adminToken(): Promise<string>;
  /** A TrustedReaders token (creates the account `reader` the first time). */
  readerToken(): Promise<string>;
  /** Serves the app over HTTPS on a free loopback port. */
  serve(): Promise<HttpsService>;
  close(): Promise<void>;
}

/** Options of {@link adminHarness}. */
export interface AdminHarnessOptions {
  /** A PostgreSQL URL (default: SQLite in the data directory). */
  readonly database?: string;
  /** Reuse this data directory. */
  readonly dataDir?: string;
  readonly admin?: Partial<AdminRoutesOptions>;
}

/** The cluster URL the harness configures (the admin tokens' issuer). */
export const PUBLIC_URL = "https://attestd.test:7889";

/** Starts a harness on a new temporary data directory. */
export async function adminHarness(options: AdminHarnessOptions = {}): Promise<AdminHarness> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "attestd-admin-")));
  const config: AttestdConfig = Object.freeze({
    listen: Object.freeze({ host: "127.0.0.1", port: 0 }),
    dataDir,
    ...(options.database === undefined ? {} : { database: options.database }),
    publicUrl: PUBLIC_URL,
    masterKeyFile: path.join(dataDir, "master.key"),
    logLevel: "silent" as const,
  });
  const logger = pino({ level: "silent" });
  const b = await bootstrap(config, logger, () => undefined);
  const clock: TestClock = { skewMs: 0, now: () => Date.now() + clock.skewMs };
  const events = createStatusEvents(logger);
  const deps = createDeps({ store: b.store, keyring: b.keyring, logger, config, events, clock });
  const app = createService({ name: "attestd", logger });
  app.route("/", adminRoutes(deps, { tlsCaPem: b.tls.caCert, ...options.admin }));
  const adminPassword = (await readFile(path.join(dataDir, "admin.password"), "utf8")).trim();
  const servers: HttpsService[] = [];

  const call = async (method: string, p: string, body?: unknown, token?: string): Promise<Answer> => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const res = await app.request(p, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, headers: res.headers, json };
  };
  const login = async (user: string, password: string): Promise<string> => {
    const r = await call("POST", "/api/v1/auth/token", { user, password });
    if (r.status !== 200) throw new Error(`login ${user}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.token as string;
  };
  let reader: string | undefined;
  const self: AdminHarness = {
    app,
    deps,
    store: b.store,
    events,
    clock,
    dataDir,
    caCert: b.tls.caCert,
    adminPassword,
    call,
    login,
    adminToken: () => login("admin", adminPassword),
    async readerToken() {
      if (reader === undefined) {
        const r = await call(
          "POST",
          "/api/v1/accounts",
          { user: "reader", password: "reader password 1", groups: ["TrustedReaders"] },
          await self.adminToken(),
        );
        if (r.status !== 201) throw new Error(`reader account: ${r.status} ${JSON.stringify(r.json)}`);
        reader = "reader password 1";
      }
      return login("reader", reader);
    },
    async serve() {
      const s = await serveHttps(app.fetch, { host: "127.0.0.1", port: 0, cert: b.tls.cert, key: b.tls.key });
      servers.push(s);
      return s;
    },
    async close() {
      for (const s of servers) await s.close();
      await b.store.close();
      if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}

/** One HTTPS request trusting `ca`; the whole answer as text. */
export function httpsRequest(
  url: string,
  options: { method?: string; ca: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: options.method ?? "GET", ca: options.ca, agent: false, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** An open server-sent events stream over HTTPS, read event by event. */
export interface SseClient {
  readonly status: number;
  /** The next event (or comment, as `{ comment }`), waiting for it. */
  next(): Promise<{ event?: string; data?: string; id?: string; comment?: string }>;
  /** Closes the connection. */
  close(): void;
}

/** Opens `url` as an event stream with a bearer token. */
export function openSse(url: string, ca: string, token: string): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca, agent: false, headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" } }, (res) => {
      let buffer = "";
      const blocks: string[] = [];
      const waiters: ((b: string) => void)[] = [];
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let i: number;
        while ((i = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const w = waiters.shift();
          if (w) w(block);
          else blocks.push(block);
        }
      });
      const parse = (block: string): { event?: string; data?: string; id?: string; comment?: string } => {
        const out: { event?: string; data?: string; id?: string; comment?: string } = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) out.comment = line.slice(1).trim();
          else {
            const j = line.indexOf(":");
            const k = line.slice(0, j);
            const v = line.slice(j + 1).replace(/^ /, "");
            if (k === "event" || k === "id") out[k] = v;
            if (k === "data") out.data = out.data === undefined ? v : `${out.data}\n${v}`;
          }
        }
        return out;
      };
      resolve({
        status: res.statusCode ?? 0,
        next: () => {
          const b = blocks.shift();
          if (b !== undefined) return Promise.resolve(parse(b));
          return new Promise((r) => waiters.push((x) => r(parse(x))));
        },
        close: () => req.destroy(),
      });
    });
    req.on("error", (e) => {
      if ((e as NodeJS.ErrnoException).code !== "ECONNRESET" && e.message !== "socket hang up") reject(e);
    });
    req.end();
  });
}

/** A real-size event log of a known-good host (tpm2-tools' GCE Ubuntu 21.04 log). */
export const EVENT_LOG = "/work/shared/fixtures/eventlogs/tpm2-tools_event-gce-ubuntu-2104-log.bin";
/** The 51 vendor TPM CA certificates. */
export const TPM_CA_DIR = "/work/shared/fixtures/tpm-ca-certs";

/** A self-signed test CA (ECDSA P-256). */
export function testCa(commonName: string): Promise<CertificateAndKey> {
  return createCa({ commonName, organization: "Tessera Admin Test" });
}

/** A CRL in PEM issued by `ca`, revoking `serials` (hex). */
export async function crlPem(ca: CertificateAndKey, serials: readonly string[] = ["01"]): Promise<string> {
  const pkcs8 = createPrivateKey(ca.privateKeyPem).export({ type: "pkcs8", format: "der" });
  const signingKey = await globalThis.crypto.subtle.importKey("pkcs8", pkcs8, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.certificate.subjectName,
    thisUpdate: new Date(Date.now() - 60_000),
    nextUpdate: new Date(Date.now() + 86_400_000),
    entries: serials.map((serialNumber) => ({ serialNumber, revocationDate: new Date(Date.now() - 30_000) })),
    signingKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  return crl.toString("pem");
}

/** An RSA-2048 "EK": its certificate (issued by `ca`), its TPM2B_PUBLIC (TCG default template) and its fingerprint. */
export async function testEk(
  ca: CertificateAndKey,
): Promise<{ certificatePem: string; certificateDer: Uint8Array; ekPublic: Uint8Array; fingerprint: string }> {
  const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const issued = await issueCertificate(ca, {
    commonName: "tpm-ek",
    profile: "client",
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  });
  const m = keyMaterial(publicKey);
  if (m.type !== "rsa") throw new Error("unreachable");
  const template = ekTemplate("rsa2048");
  const ekPublic = marshal(TPM2B_PUBLIC, { ...template, unique: m.n });
  const spki = publicKey.export({ type: "spki", format: "der" });
  return {
    certificatePem: issued.certificatePem,
    certificateDer: new Uint8Array(issued.certificate.rawData),
    ekPublic,
    fingerprint: createHash("sha256").update(spki).digest("hex"),
  };
}
