/**
 * TCTI strings in the tpm2-tss/tpm2-tools convention, parsed into a transport:
 * `swtpm:host=127.0.0.1,port=2321` (TCP; control channel on port+1), `swtpm:path=/run/swtpm.sock`
 * (Unix socket; control socket `ctrl=PATH`, default `<path>.ctrl`), `swtpm` (localhost:2321),
 * `device:/dev/tpmrm0`, `device` (= /dev/tpmrm0).
 * @module
 */
import { DeviceTransport } from "./device_transport.ts";
import { TssError } from "./errors.ts";
import { SwtpmTransport } from "./socket_transport.ts";
import type { Transport, TransportOptions } from "./transport.ts";

/** A parsed TCTI configuration. */
export type TctiConfig =
  | { kind: "device"; path: string }
  | { kind: "swtpm-tcp"; host: string; port: number; ctrlPort: number }
  | { kind: "swtpm-unix"; path: string; ctrlPath: string };

/** Parses a TCTI string. Throws TssError TSS_TCTI_CONFIG naming the bad part. */
export function parseTcti(tcti: string): TctiConfig {
  const i = tcti.indexOf(":");
  const name = (i < 0 ? tcti : tcti.slice(0, i)).trim();
  const conf = i < 0 ? "" : tcti.slice(i + 1);
  if (name === "device") {
    const path = conf.replace(/^path=/, "") || "/dev/tpmrm0";
    return { kind: "device", path };
  }
  if (name === "swtpm" || name === "mssim") {
    const kv = new Map<string, string>();
    for (const part of conf.split(",").filter((p) => p.length > 0)) {
      const eq = part.indexOf("=");
      if (eq <= 0) throw new TssError("TSS_TCTI_CONFIG", `TCTI "${tcti}": "${part}" is not key=value`);
      const k = part.slice(0, eq).trim();
      if (!["host", "port", "path", "ctrl", "ctrlport"].includes(k)) {
        throw new TssError("TSS_TCTI_CONFIG", `TCTI "${tcti}": unknown key "${k}" (expected host, port, ctrlport, path, ctrl)`);
      }
      const v = part.slice(eq + 1).trim();
      if (v === "") throw new TssError("TSS_TCTI_CONFIG", `TCTI "${tcti}": "${k}" has an empty value`);
      kv.set(k, v);
    }
    if (name === "mssim") throw new TssError("TSS_TCTI_CONFIG", `TCTI "${tcti}": the mssim protocol is not supported; run swtpm and use swtpm:`);
    const path = kv.get("path");
    if (path) return { kind: "swtpm-unix", path, ctrlPath: kv.get("ctrl") ?? `${path}.ctrl` };
    const host = kv.get("host") ?? "127.0.0.1";
    const port = Number(kv.get("port") ?? "2321");
    if (!Number.isInteger(port) || port <= 0 || port > 65535 || (port === 65535 && !kv.has("ctrlport")))
      throw new TssError("TSS_TCTI_CONFIG", `TCTI "${tcti}": port "${kv.get("port")}" is not a TCP port`);
    const ctrlPort = Number(kv.get("ctrlport") ?? port + 1);
    if (!Number.isInteger(ctrlPort) || ctrlPort <= 0 || ctrlPort > 65535) throw new TssError("TSS_TCTI_CONFIG", `TCTI "${tcti}": bad control port`);
    return { kind: "swtpm-tcp", host, port, ctrlPort };
  }
  throw new TssError("TSS_TCTI_CONFIG", `TCTI "${tcti}": unknown transport "${name}" (expected device: or swtpm:)`);
}

/** Opens the transport a TCTI string names (no I/O happens until the first command). */
export function openTcti(tcti: string, options: TransportOptions = {}): Transport {
  const c = parseTcti(tcti);
  switch (c.kind) {
    case "device":
      return new DeviceTransport(c.path, options);
    case "swtpm-tcp":
      return new SwtpmTransport({ host: c.host, port: c.port }, { host: c.host, port: c.ctrlPort }, options);
    case "swtpm-unix":
      return new SwtpmTransport({ path: c.path }, { path: c.ctrlPath }, options);
  }
}
