/**
 * The set-up the `tactl vm` tests share: kmipd with an Active AES key as a standard key provider (the host's own
 * KMIP credentials, in a provider file), and a vTPM CA made by @tessera/pki.
 * @module
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { createCa } from "@tessera/pki";
import { spawnReady, type ReadyProcess } from "@tessera/process-testing";
import { type Ran, tactl } from "./_test_support.ts";

const KMIPD = path.resolve(import.meta.dirname, "../../kmipd/src/main.ts");

/** What {@link vmTestSetup} made. */
export interface VmTestSetup {
  readonly kmipd: ReadyProcess;
  /** The standard provider file for `--standard-provider`. */
  readonly standardProvider: string;
  /** `--vtpm-ca F --vtpm-ca-key F`. */
  readonly vtpmCaArgs: string[];
  /** The vTPM CA's certificate file. */
  readonly vtpmCa: string;
}

/** @throws Error naming the command when one exits non-zero */
export function ok(r: Ran, what: string): Ran {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.err}${r.out}`);
  return r;
}

/** kmipd in `dir/kmipd` with a key for VMs, the standard provider file and a vTPM CA, all under `dir`. */
export async function vmTestSetup(dir: string): Promise<VmTestSetup> {
  const kmipd = await spawnReady(
    "kmipd",
    process.execPath,
    [KMIPD, "--listen", "127.0.0.1:0", "--data-dir", path.join(dir, "kmipd"), "--log-level", "warn"],
    /kmipd: listening on \S+:(\d+)/,
  );
  const port = Number(kmipd.match[1]);
  const tls = path.join(dir, "kmipd", "tls");
  const conn = [
    "--server",
    `127.0.0.1:${port}`,
    "--cert",
    path.join(tls, "client.pem"),
    "--key",
    path.join(tls, "client-key.pem"),
    "--ca",
    path.join(tls, "ca.pem"),
  ];
  const created = ok(
    await tactl("kmip", "create", ...conn, "--alg", "AES", "--length", "256", "--name", "vm-kek", "--usage", "Encrypt Decrypt", "--json"),
    "kmip create",
  );
  const keyId = (JSON.parse(created.out) as { id: string }).id;
  ok(await tactl("kmip", "activate", keyId, ...conn), "kmip activate");
  const standardProvider = path.join(dir, "standard-provider.json");
  const provider = {
    name: "kms-std",
    kmipServers: [`127.0.0.1:${port}`],
    keyId,
    clientCertificate: path.join(tls, "client.pem"),
    clientKey: path.join(tls, "client-key.pem"),
    serverCa: path.join(tls, "ca.pem"),
  };
  await writeFile(standardProvider, JSON.stringify(provider));
  const ca = await createCa({ commonName: "Tessera vTPM CA (test)", keyAlgorithm: "rsa-2048" });
  const vtpmCa = path.join(dir, "vtpm-ca.pem");
  await writeFile(vtpmCa, ca.certificatePem);
  await writeFile(path.join(dir, "vtpm-ca-key.pem"), ca.privateKeyPem, { mode: 0o600 });
  return { kmipd, standardProvider, vtpmCa, vtpmCaArgs: ["--vtpm-ca", vtpmCa, "--vtpm-ca-key", path.join(dir, "vtpm-ca-key.pem")] };
}
