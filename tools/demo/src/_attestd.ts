/**
 * The demo's Trust Authority: attestd started as an administrator starts it (`apps/attestd/bin/attestd`, its own
 * process, SQLite and a TLS CA of its own in a fresh data directory), and a relying party's check of its
 * attestation tokens (jose against the published JWKS, trusting attestd's CA).
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
const ATTESTD = path.join(ROOT, "apps/attestd/bin/attestd");

/** A running attestd. */
export interface Attestd {
  /** Its HTTPS URL (also the issuer of its tokens). */
  readonly url: string;
  /** The lines it printed on start (the admin password's path, where it listens). */
  readonly banner: string;
  /** Its TLS CA (PEM file), which clients trust. */
  readonly caFile: string;
  /** The first administrator's password file. */
  readonly passwordFile: string;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
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
 * Starts attestd on a loopback port the kernel picks (its ready line names it) with `dataDir`, and resolves once it printed its ready line.
 * Its output goes to `logFile` rather than a pipe: the demo runs tactl synchronously, and a pipe nobody reads
 * while it waits could fill and stall attestd.
 */
export async function startAttestd(dataDir: string, logFile: string): Promise<Attestd> {
  const fd = openSync(logFile, "w");
  const child = spawn(ATTESTD, ["--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn"], { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const stop = () => stopChild(child);
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const out = await readFile(logFile, "utf8");
      const m = /^attestd: listening on (https:\/\/\S+)/m.exec(out);
      if (m) {
        return { url: m[1], banner: out.trim(), caFile: path.join(dataDir, "tls", "ca.pem"), passwordFile: path.join(dataDir, "admin.password"), stop };
      }
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`attestd exited (${child.exitCode ?? child.signalCode}) before it listened:\n${out}`);
      if (Date.now() > deadline) throw new Error(`attestd did not listen within 30 s:\n${out}`);
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
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
export async function verifyEarToken(token: string, attestd: Attestd): Promise<JWTPayload> {
  const ca = await readFile(attestd.caFile, "utf8");
  const jwks = (await getJson(`${attestd.url}/.well-known/jwks.json`, ca)) as JSONWebKeySet;
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: attestd.url, algorithms: ["ES256"] });
  return payload;
}
