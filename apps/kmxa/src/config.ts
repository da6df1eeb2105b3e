/**
 * kmxa's configuration: command-line flags over `KMXA_*` environment variables over an optional JSON file
 * (`--config F` or `KMXA_CONFIG`), validated once with zod into a frozen object. A bad value fails the start naming
 * the field and where it came from.
 * @module
 */
import os from "node:os";
import path from "node:path";
import { ConfigError, HttpsUrl, ListenAddress, loadServiceConfig, LogLevel, readPemField } from "@tessera/http";
import type { AkKind, EkKind } from "@tessera/tpm2";
import { parseTcti, TssError } from "@tessera/tss";
import { z } from "zod";

/** The validated, frozen configuration. */
export interface KmxaConfig {
  /** The TPM, as a TCTI string (`device:/dev/tpmrm0`, `swtpm:host=H,port=P`, `swtpm:path=S`). */
  readonly tcti: string;
  /** The name the host attests as (PROTOCOL.md `{host}`: 1–253 of `a-z 0-9 . -`). Default: os.hostname(), lower-cased. */
  readonly host: string;
  /** attestd: its URL (no trailing slash) and the CA of its TLS certificate (PEM, read from `--attestd-ca`). */
  readonly attestd: { readonly url: string; readonly ca: string };
  /** kmxd: its URL (no trailing slash) and the CA of its TLS certificate (PEM, read from `--kmxd-ca`). */
  readonly kmxd: { readonly url: string; readonly ca: string };
  /** The TCG event log file sent with each attestation. */
  readonly eventLog: string;
  /** The data directory (state.json, local TLS, the socket by default). Absolute. */
  readonly dataDir: string;
  /** The local API's Unix socket. Absolute; default `<dataDir>/kmxa.sock`. */
  readonly socket: string;
  /** Where the local API listens for HTTPS (default 127.0.0.1:7890). */
  readonly listen: { readonly host: string; readonly port: number };
  /** Seconds between scheduled attestations (a token near expiry is renewed sooner). */
  readonly intervalSeconds: number;
  /** pino level. */
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Which EK: `auto` (RSA 2048 when its certificate is in NV, else ECC P-256 when that one's is, else RSA 2048) or a kind. */
  readonly ek: "auto" | EkKind;
  /** The AK's algorithm (RSA 2048 RSASSA-SHA256 or ECC P-256 ECDSA-SHA256). */
  readonly ak: AkKind;
}

/** The default event log file: the kernel's securityfs copy of the firmware's log. */
export const DEFAULT_EVENT_LOG = "/sys/kernel/security/tpm0/binary_bios_measurements";

/** The command line's usage text. */
export const USAGE = `usage: kmxa --tcti TCTI --attestd URL --attestd-ca FILE.pem --kmxd URL --kmxd-ca FILE.pem [--host NAME]
            [--event-log FILE] [--data-dir D] [--socket PATH] [--listen HOST:PORT] [--interval SECONDS] [--log-level info]
            [--ek auto|rsa2048|ecc-p256|rsa2048-high|ecc-p256-high] [--ak rsa|ecc] [--config FILE.json]
TCTI: device:/dev/tpmrm0, swtpm:host=H,port=P or swtpm:path=SOCKET.
Defaults: --host the system's host name, --event-log ${DEFAULT_EVENT_LOG},
--data-dir ./kmxa-data, --socket <data-dir>/kmxa.sock, --listen 127.0.0.1:7890, --interval 300, --ek auto, --ak rsa.
Environment: KMXA_TCTI, KMXA_ATTESTD, KMXA_ATTESTD_CA, KMXA_KMXD, KMXA_KMXD_CA, KMXA_HOST, KMXA_EVENT_LOG, KMXA_DATA_DIR,
KMXA_SOCKET, KMXA_LISTEN, KMXA_INTERVAL, KMXA_LOG_LEVEL, KMXA_EK, KMXA_AK (flags win, then the environment, then the file
(KMXA_CONFIG), whose keys are the camelCase field names: tcti, attestd, attestdCa, kmxd, kmxdCa, host, eventLog, dataDir,
socket, listen, interval, logLevel, ek, ak).`;

const FIELDS = {
  tcti: ["tcti", "KMXA_TCTI"],
  attestd: ["attestd", "KMXA_ATTESTD"],
  attestdCa: ["attestd-ca", "KMXA_ATTESTD_CA"],
  kmxd: ["kmxd", "KMXA_KMXD"],
  kmxdCa: ["kmxd-ca", "KMXA_KMXD_CA"],
  host: ["host", "KMXA_HOST"],
  eventLog: ["event-log", "KMXA_EVENT_LOG"],
  dataDir: ["data-dir", "KMXA_DATA_DIR"],
  socket: ["socket", "KMXA_SOCKET"],
  listen: ["listen", "KMXA_LISTEN"],
  interval: ["interval", "KMXA_INTERVAL"],
  logLevel: ["log-level", "KMXA_LOG_LEVEL"],
  ek: ["ek", "KMXA_EK"],
  ak: ["ak", "KMXA_AK"],
} as const;

/** PROTOCOL.md's `{host}`: 1–253 characters of `a-z 0-9 . -`. */
export const HOST_NAME = /^[a-z0-9.-]{1,253}$/;

const HostName = z.string().regex(HOST_NAME, "is not a host name of 1-253 characters a-z 0-9 . -");

const Raw = z.object({
  tcti: z.string().min(1, "is empty"),
  attestd: HttpsUrl,
  attestdCa: z.string().min(1, "is empty"),
  kmxd: HttpsUrl,
  kmxdCa: z.string().min(1, "is empty"),
  host: HostName.optional(),
  eventLog: z.string().min(1, "is empty").default(DEFAULT_EVENT_LOG),
  dataDir: z.string().min(1, "is empty").default("kmxa-data"),
  socket: z.string().min(1, "is empty").optional(),
  listen: ListenAddress.default({ host: "127.0.0.1", port: 7890 }),
  // From the command line a string, from the file a number; at least 5 s so a mistake cannot hammer attestd.
  interval: z.coerce.number({ error: "is not a number" }).int("is not a whole number of seconds").min(5, "must be at least 5 seconds").max(86_400, "must be at most 86400 seconds").default(300),
  logLevel: LogLevel.default("info"),
  ek: z.enum(["auto", "rsa2048", "ecc-p256", "rsa2048-high", "ecc-p256-high"]).default("auto"),
  ak: z.enum(["rsa", "ecc"]).default("rsa"),
});

/**
 * Reads the configuration from `argv` (without the node and script paths) and `env`. The CA files are read now.
 * @param hostname the system's host name, the default `host` (lower-cased; a test passes its own)
 * @throws ConfigError naming the field (`tcti`, `attestd`, `host`, …) and its source (`flags`, `environment`, the file).
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, hostname: string = os.hostname()): KmxaConfig {
  const { values: raw, sourceOf: src } = loadServiceConfig({ argv, env, fields: FIELDS, fileVariable: "KMXA_CONFIG", usage: USAGE, schema: Raw });
  try {
    parseTcti(raw.tcti);
  } catch (e) {
    if (e instanceof TssError) throw new ConfigError("tcti", src("tcti"), e.message, { cause: e });
    throw e;
  }
  const host = raw.host ?? hostname.toLowerCase();
  if (!HOST_NAME.test(host)) {
    throw new ConfigError("host", src("host"), `the system's host name ${JSON.stringify(hostname)} is not 1-253 characters of a-z 0-9 . -: give --host`);
  }
  const dataDir = path.resolve(raw.dataDir);
  const socket = raw.socket !== undefined ? path.resolve(raw.socket) : path.join(dataDir, "kmxa.sock");
  // sockaddr_un holds 108 bytes with the NUL: a longer path would fail only at listen(), far from its cause.
  if (Buffer.byteLength(socket) > 107) {
    throw new ConfigError(raw.socket !== undefined ? "socket" : "dataDir", src(raw.socket !== undefined ? "socket" : "dataDir"), `the socket path ${socket} is longer than 107 bytes, which a Unix socket cannot have: give a shorter --socket`);
  }
  const config: KmxaConfig = {
    tcti: raw.tcti,
    host,
    attestd: Object.freeze({ url: raw.attestd.replace(/\/+$/, ""), ca: readPemField("attestdCa", raw.attestdCa, src("attestdCa")) }),
    kmxd: Object.freeze({ url: raw.kmxd.replace(/\/+$/, ""), ca: readPemField("kmxdCa", raw.kmxdCa, src("kmxdCa")) }),
    eventLog: path.resolve(raw.eventLog),
    dataDir,
    socket,
    listen: Object.freeze(raw.listen),
    intervalSeconds: raw.interval,
    logLevel: raw.logLevel,
    ek: raw.ek,
    ak: raw.ak,
  };
  return Object.freeze(config);
}
