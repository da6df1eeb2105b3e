/**
 * Starting `swtpm socket` on a TPM state folder and waiting until it serves.
 * @module
 */
import { SWTPM_BINARIES } from "./binaries.ts";
import { acceptsConnections, type Endpoint } from "./_endpoint.ts";
import { SwtpmError } from "./errors.ts";
import { findFreePortPair } from "./_ports.ts";
import { spawnManaged, terminate, waitUntilReady, type ManagedChild } from "./_process.ts";

/** The `swtpm socket` arguments for a state folder and endpoint. */
export function swtpmSocketArgs(stateDir: string, endpoint: Endpoint, startup: boolean): string[] {
  const args = ["socket", "--tpm2", "--tpmstate", `dir=${stateDir}`];
  if (endpoint.kind === "tcp") {
    args.push("--server", `type=tcp,port=${endpoint.port},bindaddr=${endpoint.host}`);
    args.push("--ctrl", `type=tcp,port=${endpoint.port + 1},bindaddr=${endpoint.host}`);
  } else {
    args.push("--server", `type=unixio,path=${endpoint.path}`);
    args.push("--ctrl", `type=unixio,path=${endpoint.path}.ctrl`);
  }
  if (startup) args.push("--flags", "not-need-init,startup-clear");
  return args;
}

/**
 * Spawns `swtpm socket` and waits until its data channel accepts connections.
 *
 * @throws SwtpmError SWTPM_ADDRESS_IN_USE when swtpm could not bind its ports, SWTPM_START otherwise
 */
export async function launchSwtpm(stateDir: string, endpoint: Endpoint, startup: boolean, readyTimeoutMs: number): Promise<ManagedChild> {
  const managed = spawnManaged(SWTPM_BINARIES.swtpm, swtpmSocketArgs(stateDir, endpoint, startup));
  try {
    await waitUntilReady(managed, "accepting connections", () => acceptsConnections(endpoint, 1000), { timeoutMs: readyTimeoutMs });
    return managed;
  } catch (e) {
    await terminate(managed, 500);
    if (e instanceof SwtpmError && /address already in use/i.test(managed.output.text)) {
      throw new SwtpmError("SWTPM_ADDRESS_IN_USE", e.message, { cause: e });
    }
    throw e;
  }
}

/** Launches on a fresh free port pair (tcp), retrying when another process grabs a port first. */
export async function launchOnFreePorts(stateDir: string, startup: boolean, readyTimeoutMs: number): Promise<{ managed: ManagedChild; endpoint: Endpoint }> {
  let last: unknown;
  for (let attempt = 0; attempt < 8; attempt++) {
    const endpoint: Endpoint = { kind: "tcp", host: "127.0.0.1", port: await findFreePortPair() };
    try {
      return { managed: await launchSwtpm(stateDir, endpoint, startup, readyTimeoutMs), endpoint };
    } catch (e) {
      last = e;
      if (!(e instanceof SwtpmError && e.code === "SWTPM_ADDRESS_IN_USE")) throw e;
    }
  }
  throw last;
}
