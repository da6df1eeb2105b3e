/**
 * The files of a `tactl dev` environment directory D: `env.json` (what developers and tests connect to),
 * `pids.json` (every process `tactl dev up` started, written after each start so that `tactl dev down` finds
 * them even when `up` failed half-way), `logs/`, and one folder per service and per host.
 * @module
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { DevError } from "./dev_errors.ts";
import type { DevProcess } from "./dev_process.ts";
import { writeFileAtomic } from "./files.ts";

/** One host of the environment, as env.json lists it. */
export interface DevHost {
  /** The name it attests as. */
  readonly name: string;
  /** Its TPM (`swtpm:path=…`). */
  readonly tcti: string;
  /** Its agent's Unix socket (keys are served only there). */
  readonly agentSocket: string;
  /** Its agent's HTTPS local API (status, identity; its CA is `<host dir>/kmxa/tls/ca.pem`). */
  readonly agentUrl: string;
}

/** `D/env.json`. */
export interface DevEnv {
  /** attestd's URL. */
  readonly attestd: string;
  /** kmxd's URL. */
  readonly kmxd: string;
  /** kmipd's address, `host:port`. */
  readonly kmipd: string;
  /** The Trust Authority's TLS CA (PEM file): attestd's and kmxd's certificates are issued by it. */
  readonly ca: string;
  /** The `admin` account's password file (TrustedAdmins) of attestd. */
  readonly adminPasswordFile: string;
  /** The trusted key provider's name. */
  readonly keyProvider: string;
  readonly hosts: readonly DevHost[];
}

/** `D/pids.json`. */
export interface DevPids {
  readonly processes: readonly DevProcess[];
}

/** The paths of an environment in `dir` (absolute). */
export function devLayout(dir: string) {
  const root = path.resolve(dir);
  return {
    root,
    env: path.join(root, "env.json"),
    pids: path.join(root, "pids.json"),
    logs: path.join(root, "logs"),
    ca: path.join(root, "ca.pem"),
    image: path.join(root, "image.json"),
    kmipd: path.join(root, "kmipd"),
    attestd: path.join(root, "attestd"),
    kmxd: path.join(root, "kmxd"),
    kmxdPassword: path.join(root, "kmxd.password"),
    tpmCa: path.join(root, "tpm-ca"),
    host: (name: string) => {
      const d = path.join(root, "hosts", name);
      return { dir: d, state: path.join(d, "tpm"), socket: path.join(d, "swtpm.sock"), eventLog: path.join(d, "binary_bios_measurements"), kmxa: path.join(d, "kmxa") };
    },
  };
}

/** The layout of {@link devLayout}. */
export type DevLayout = ReturnType<typeof devLayout>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads `D/pids.json`; an absent file is no process.
 * @throws DevError DEV_ENV_INVALID naming the file and the entry that is not a process record
 */
export async function readPids(l: DevLayout): Promise<DevPids> {
  if (!existsSync(l.pids)) return { processes: [] };
  let v: unknown;
  try {
    v = JSON.parse(await readFile(l.pids, "utf8"));
  } catch (e) {
    throw new DevError("DEV_ENV_INVALID", `${l.pids} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isObject(v) || !Array.isArray(v.processes)) throw new DevError("DEV_ENV_INVALID", `${l.pids} has no "processes" list`);
  v.processes.forEach((p: unknown, i: number) => {
    const ok =
      isObject(p) &&
      typeof p.name === "string" &&
      typeof p.log === "string" &&
      Number.isSafeInteger(p.pid) &&
      (p.pid as number) > 1 &&
      Number.isSafeInteger(p.startTime) &&
      (p.startTime as number) >= 0;
    if (!ok) throw new DevError("DEV_ENV_INVALID", `${l.pids}: processes[${i}] is not {name, pid > 1, startTime, log}`);
  });
  return { processes: v.processes as DevProcess[] };
}

/** Writes `D/pids.json` (atomically). */
export async function writePids(l: DevLayout, pids: DevPids): Promise<void> {
  await writeFileAtomic(l.pids, JSON.stringify(pids, null, 2) + "\n");
}

/**
 * Reads `D/env.json`.
 * @throws DevError DEV_NO_ENV when there is none (no `tactl dev up` finished there), DEV_ENV_INVALID when it is not an environment
 */
export async function readEnv(l: DevLayout): Promise<DevEnv> {
  let text: string;
  try {
    text = await readFile(l.env, "utf8");
  } catch (e) {
    throw new DevError("DEV_NO_ENV", `no dev environment in ${l.root} (${l.env}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): run \`tactl dev up --dir ${l.root}\``, { cause: e });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DevError("DEV_ENV_INVALID", `${l.env} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const strings = ["attestd", "kmxd", "kmipd", "ca", "adminPasswordFile", "keyProvider"];
  if (!isObject(v)) throw new DevError("DEV_ENV_INVALID", `${l.env} is not an object`);
  for (const k of strings) if (typeof v[k] !== "string") throw new DevError("DEV_ENV_INVALID", `${l.env}: "${k}" is not a string`);
  if (!Array.isArray(v.hosts)) throw new DevError("DEV_ENV_INVALID", `${l.env}: "hosts" is not a list`);
  v.hosts.forEach((h: unknown, i: number) => {
    if (!isObject(h) || !["name", "tcti", "agentSocket", "agentUrl"].every((k) => typeof h[k] === "string")) {
      throw new DevError("DEV_ENV_INVALID", `${l.env}: hosts[${i}] is not {name, tcti, agentSocket, agentUrl}`);
    }
  });
  return v as unknown as DevEnv;
}
