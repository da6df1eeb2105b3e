/**
 * The ECC NIST P-256 EK certificate at 0x01c0000a, which swtpm_setup 0.7 does not make (it only makes
 * P-384 ECC EKs). All TPM commands go through @tessera/tss.
 * @module
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { publicKeyOf, TPM_ALG, TPM_RH, TPMA_NV, type TpmsNvPublic } from "@tessera/tpm2";
import { Tpm, withEk } from "@tessera/tss";
import { SWTPM_BINARIES } from "./binaries.ts";
import { EK_CERT_NV_INDEX, type SwtpmEkCert } from "./ek_cert.ts";
import { swtpmTransport, type Endpoint } from "./_endpoint.ts";
import { SwtpmError } from "./errors.ts";
import { launchSwtpm } from "./_launch.ts";
import type { CertToolIdentity, Layout } from "./_manufacture.ts";
import { terminate } from "./_process.ts";
import { runTool } from "./_run_tool.ts";

/** The NV attributes swtpm_setup gives its EK certificate indices: written under the platform hierarchy, readable by the owner. */
export const EK_CERT_NV_ATTRIBUTES =
  TPMA_NV.PPWRITE | TPMA_NV.WRITEDEFINE | TPMA_NV.PPREAD | TPMA_NV.OWNERREAD | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA | TPMA_NV.PLATFORMCREATE;

/** Has swtpm_localca certify the P-256 point (x, y) and returns the DER certificate. */
async function certifyP256(l: Layout, identity: CertToolIdentity, x: Uint8Array, y: Uint8Array, work: string): Promise<Uint8Array> {
  const certDir = path.join(work, "cert");
  await mkdir(certDir);
  const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
  await runTool(
    SWTPM_BINARIES.swtpmLocalca,
    [
      ["--type", "ek"],
      ["--ek", `x=${hex(x)},y=${hex(y)},id=secp256r1`],
      ["--dir", certDir],
      ["--tpm-spec-family", identity.specFamily],
      ["--tpm-spec-level", identity.specLevel],
      ["--tpm-spec-revision", identity.specRevision],
      ["--tpm-manufacturer", identity.manufacturer],
      ["--tpm-model", identity.model],
      ["--tpm-version", identity.version],
      ["--tpm2"],
      ["--configfile", l.localcaConf],
      ["--optsfile", l.localcaOptions],
    ].flat(),
    30000,
  );
  return new Uint8Array(await readFile(path.join(certDir, "ek.cert")));
}

/**
 * Adds the ECC NIST P-256 EK certificate: starts a temporary swtpm on a unix socket on the manufactured
 * state, recreates the EK from the default low-range template, has swtpm_localca certify it, defines the
 * NV index under the platform hierarchy with the attributes swtpm_setup uses, writes the DER there, and
 * shuts the TPM down orderly.
 *
 * @param l the instance folder, already manufactured
 * @param identity the TPM identity swtpm_setup used for its certificates
 * @param readyTimeoutMs how long swtpm may take to start
 */
export async function provisionP256EkCert(l: Layout, identity: CertToolIdentity, readyTimeoutMs: number): Promise<SwtpmEkCert> {
  const work = path.join(l.dir, "provision");
  await mkdir(work);
  const endpoint: Endpoint = { kind: "unix", path: path.join(work, "tpm.sock") };
  const managed = await launchSwtpm(l.stateDir, endpoint, true, readyTimeoutMs);
  const tpm = new Tpm(swtpmTransport(endpoint));
  try {
    const jwk = await withEk(tpm, "ecc-p256", async (ek) => publicKeyOf(ek.public).export({ format: "jwk" }));
    if (jwk.crv !== "P-256" || typeof jwk.x !== "string" || typeof jwk.y !== "string") {
      throw new SwtpmError("SWTPM_SETUP", `The default-template ECC EK is not a P-256 key: ${JSON.stringify(jwk)}`);
    }
    const der = await certifyP256(l, identity, Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url"), work);
    const nvIndex = EK_CERT_NV_INDEX.eccNistP256;
    const publicInfo: TpmsNvPublic = {
      nvIndex,
      nameAlg: TPM_ALG.SHA256,
      attributes: EK_CERT_NV_ATTRIBUTES,
      authPolicy: new Uint8Array(),
      dataSize: der.length,
    };
    await tpm.nvDefine(publicInfo, { authHandle: TPM_RH.PLATFORM });
    await tpm.nvWrite(nvIndex, der, { authHandle: TPM_RH.PLATFORM });
    await tpm.shutdown();
    return { kind: "eccNistP256", nvIndex, der };
  } finally {
    await tpm.close();
    await terminate(managed);
    await rm(work, { recursive: true, force: true });
  }
}
