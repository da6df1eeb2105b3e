/**
 * The `tactl ta` session: which attestd to talk to, the CA that signs its TLS certificate, and the admin token
 * `tactl ta login` obtained. Kept in `$TESSERA_HOME/session.json` (default `~/.config/tessera`): the directory is
 * created 0700 and the file is written 0600 atomically, because the token is a bearer credential of a Trust
 * Authority administrator. A token past its expiry is never sent: the user is told to log in again.
 * @module
 */
import { X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { CliError } from "./errors.ts";
import { readText, writeFileAtomic } from "./files.ts";

/** A signed-in session as stored. */
export interface TaSession {
  /** The attestd base URL, `https://host:port` (no trailing slash). */
  readonly server: string;
  /** PEM of the CA(s) trusted for the server's TLS certificate; absent: the system's trust store. */
  readonly ca?: string;
  /** Where the CA was read from at login (shown to the user; the PEM above is what is used). */
  readonly caFile?: string;
  /** The admin token (a bearer JWT). */
  readonly token: string;
  /** When the token expires, RFC 3339. */
  readonly expiresAt: string;
  /** Who signed in. */
  readonly subject: string;
  /** Their groups when they signed in. */
  readonly groups: readonly string[];
}

/** The session file's name inside the Tessera home directory. */
export const SESSION_FILE = "session.json";

/**
 * An error about the session: none (not logged in), unreadable, or expired. Its codes: TACTL_NOT_LOGGED_IN,
 * TACTL_SESSION_EXPIRED, TACTL_SESSION_INVALID.
 */
export class TaSessionError extends Error {
  /** Stable code. */
  readonly code: string;
  /** @param code stable code @param message what to tell the user */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TaSessionError";
    this.code = code;
  }
}

/** The Tessera home directory: `$TESSERA_HOME`, else `~/.config/tessera`. */
export function tesseraHome(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const home = env.TESSERA_HOME;
  if (home !== undefined && home !== "") return path.resolve(home);
  return path.join(os.homedir(), ".config", "tessera");
}

/** The session file's path under `home`. */
export function sessionPath(home: string): string {
  return path.join(home, SESSION_FILE);
}

function isSession(v: unknown): v is TaSession {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    typeof s.server === "string" &&
    typeof s.token === "string" &&
    typeof s.expiresAt === "string" &&
    !Number.isNaN(Date.parse(s.expiresAt)) &&
    typeof s.subject === "string" &&
    Array.isArray(s.groups) &&
    s.groups.every((g) => typeof g === "string") &&
    (s.ca === undefined || typeof s.ca === "string") &&
    (s.caFile === undefined || typeof s.caFile === "string")
  );
}

/**
 * Writes the session under `home`: the directory is created 0700 (an existing one is left as it is, with a
 * warning through `warn` when others may read it), the file 0600 whatever the umask, replaced atomically.
 */
export async function saveSession(home: string, session: TaSession, warn: (line: string) => void = () => {}): Promise<string> {
  const existed = (await stat(home).catch(() => undefined))?.isDirectory() ?? false;
  if (!existed) {
    await mkdir(home, { recursive: true, mode: 0o700 });
    // mkdir's mode passes through the umask; the directory is private whatever the umask.
    await chmod(home, 0o700);
  } else {
    const mode = (await stat(home)).mode & 0o777;
    if ((mode & 0o077) !== 0) warn(`tactl: warning: ${home} is mode ${mode.toString(8).padStart(4, "0")}; only the session file in it is private (0600)`);
  }
  const file = sessionPath(home);
  await writeFileAtomic(file, JSON.stringify(session, null, 2) + "\n", 0o600);
  await chmod(file, 0o600);
  return file;
}

/**
 * Reads the session under `home`. Throws {@link TaSessionError}: TACTL_NOT_LOGGED_IN when there is none,
 * TACTL_SESSION_INVALID when it cannot be read or parsed.
 */
export async function loadSession(home: string): Promise<TaSession> {
  const file = sessionPath(home);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new TaSessionError("TACTL_NOT_LOGGED_IN", "not logged in: run `tactl ta login --server URL --ca CA.pem --user U --password-file F`", { cause: e });
    }
    throw new TaSessionError("TACTL_SESSION_INVALID", `cannot read the session ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      cause: e,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TaSessionError("TACTL_SESSION_INVALID", `the session ${file} is not JSON: log in again with \`tactl ta login\``, { cause: e });
  }
  if (!isSession(value)) throw new TaSessionError("TACTL_SESSION_INVALID", `the session ${file} is not a tactl session: log in again with \`tactl ta login\``);
  return value;
}

/**
 * The session if its token is still valid at `now`; otherwise TACTL_SESSION_EXPIRED telling the user to log in
 * again (an expired token would only be refused by the server).
 */
export async function activeSession(home: string, now: Date = new Date()): Promise<TaSession> {
  const s = await loadSession(home);
  if (Date.parse(s.expiresAt) <= now.getTime()) {
    throw new TaSessionError(
      "TACTL_SESSION_EXPIRED",
      `the session of ${s.subject} on ${s.server} expired at ${s.expiresAt}: log in again with \`tactl ta login --server ${s.server} --user ${s.subject} …\``,
    );
  }
  return s;
}

/** Removes the session under `home`; resolves with the removed session, or undefined when there was none. */
export async function removeSession(home: string): Promise<TaSession | undefined> {
  let s: TaSession | undefined;
  try {
    s = await loadSession(home);
  } catch (e) {
    if ((e as TaSessionError).code === "TACTL_NOT_LOGGED_IN") return undefined;
    // An unreadable or foreign session file is still ours to remove.
    s = undefined;
  }
  await rm(sessionPath(home), { force: true });
  return s;
}

/**
 * `--server` as a base URL: `https://…` as given (no trailing slash), or `host:port` taken as https. `service`
 * names the server in the error (attestd for `tactl ta`, kmxd for `tactl kp`).
 */
export function serverUrl(raw: string, service = "attestd"): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch (e) {
    throw new CliError("TACTL_USAGE", `--server "${raw}" is not a URL (https://host:port)`, { cause: e });
  }
  if (u.protocol !== "https:") throw new CliError("TACTL_USAGE", `--server "${raw}": ${service} speaks HTTPS only (https://host:port)`);
  if (u.search !== "" || u.hash !== "" || u.username !== "" || u.password !== "") {
    throw new CliError("TACTL_USAGE", `--server "${raw}": give only https://host:port[/path]`);
  }
  return u.toString().replace(/\/+$/, "");
}

/**
 * Reads a `--ca` file: PEM certificates, each parsed, so that a wrong file is bad input (exit 2) rather than a TLS
 * failure. Resolves with the certificates as one PEM bundle. `flag` names the option in the error.
 */
export async function readCaPem(file: string, flag = "--ca"): Promise<string> {
  const text = await readText(file, "CA certificate");
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new CliError("TACTL_INPUT", `${flag} ${file} holds no PEM certificate`);
  for (const p of pems) {
    try {
      new X509Certificate(p);
    } catch (e) {
      throw new CliError("TACTL_INPUT", `${flag} ${file}: not a certificate: ${(e as Error).message}`, { cause: e });
    }
  }
  return pems.join("\n") + "\n";
}
