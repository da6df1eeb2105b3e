/**
 * The demo's Trust Authority: attestd and kmxd started as an administrator starts them (`apps/<name>/bin/<name>`,
 * each its own process, SQLite and a TLS CA of its own in a fresh data directory), and a relying party's check of
 * attestd's attestation tokens (jose against the published JWKS, trusting attestd's CA).
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import https from "node:https";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, jwtVerify } from "jose";

const ROOT = path.resolve(import.meta.dirname, "../../..");

/** A running Tessera service. */
export interface Service {
  /** Its HTTPS URL (for attestd also the issuer of its tokens). */
  readonly url: string;
  /** The lines it printed on start (where it listens; attestd: the admin password's path). */
  readonly banner: string;
  /** Its TLS CA (PEM file), which clients trust. */
  readonly caFile: string;
  /** Everything it has logged so far. */
  log(): Promise<string>;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** A running attestd. */
export interface Attestd extends Service {
  /** The first administrator's password file. */
  readonly passwordFile: string;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts `apps/<name>/bin/<name>` on a loopback port the kernel picks (its ready line names it) with `dataDir` and
 * `args`, and resolves once it printed `<name>: listening on https://…`. Its output goes to `logFile` rather than a
 * pipe: the demo runs tactl synchronously, and a pipe nobody reads while it waits could fill and stall the service.
 */
async function startService(name: "attestd" | "kmxd", dataDir: string, logFile: string, args: readonly string[]): Promise<Service> {
  const fd = openSync(logFile, "w");
  const child = spawn(path.join(ROOT, `apps/${name}/bin/${name}`), ["--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn", ...args], {
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const stop = () => stopChild(child);
  const ready = new RegExp(`^${name}: listening on (https:\\/\\/\\S+)`, "m");
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const out = await readFile(logFile, "utf8");
      const m = ready.exec(out);
      if (m) return { url: m[1]!, banner: out.trim(), caFile: path.join(dataDir, "tls", "ca.pem"), log: () => readFile(logFile, "utf8"), stop };
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it listened:\n${out}`);
      if (Date.now() > deadline) throw new Error(`${name} did not listen within 30 s:\n${out}`);
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Starts attestd on its embedded defaults in `dataDir`. */
export async function startAttestd(dataDir: string, logFile: string): Promise<Attestd> {
  const s = await startService("attestd", dataDir, logFile, []);
  return { ...s, passwordFile: path.join(dataDir, "admin.password") };
}

/**
 * Starts kmxd on its embedded defaults in `dataDir`, trusting `attestd`'s tokens and following its host status
 * events with the account `user` (a TrustedReaders account; its password in `passwordFile`).
 */
export function startKmxd(dataDir: string, logFile: string, attestd: Service, user: string, passwordFile: string): Promise<Service> {
  return startService("kmxd", dataDir, logFile, ["--attestd", attestd.url, "--attestd-ca", attestd.caFile, "--attestd-user", user, "--attestd-password-file", passwordFile]);
}

/** GETs `url` as JSON over HTTPS trusting only `ca`. */
function getJson(url: string, ca: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode} ${body}`));
          else resolve(JSON.parse(body));
        });
      })
      .on("error", reject);
  });
}

/**
 * Verifies an EAR attestation token as a relying party would: signature (ES256) against the keys attestd
 * publishes at /.well-known/jwks.json, issuer attestd's URL, not expired. Throws when any of these fails.
 */
export async function verifyEarToken(token: string, attestd: Service): Promise<JWTPayload> {
  const ca = await readFile(attestd.caFile, "utf8");
  const jwks = (await getJson(`${attestd.url}/.well-known/jwks.json`, ca)) as JSONWebKeySet;
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: attestd.url, algorithms: ["ES256"] });
  return payload;
}
