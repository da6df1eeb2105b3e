/**
 * The host's side of an attestation, measured apart from the server: TPM2_Quote of an AK loaded in swtpm
 * (created under the EK as tpm2_createak makes it), over the suite's PCR selection with a fresh nonce each
 * time, one quote after another over one connection (a TPM executes one command at a time). swtpm's CPU per
 * quote comes from /proc. A hardware TPM is slower still (tens to hundreds of ms per quote): each host quotes
 * for itself, so this bounds a host's attestation rate, not the server's.
 * @module
 */
import { randomBytes } from "node:crypto";
import { startSwtpm } from "@tessera/swtpm-testing";
import { pcrSelection, TPM_ALG } from "@tessera/tpm2";
import { createAk, Tpm, withAk, withEk } from "@tessera/tss";
import { type AttestRow, measureAsync, processCpuUs } from "./attest_measure.ts";

/** Measures swtpm quotes by an `kind` AK over SHA-256 `pcrs`. */
export async function benchSwtpmQuote(pcrs: readonly number[], kind: "rsa" | "ecc" = "ecc", batchMs = 300): Promise<AttestRow> {
  const sw = await startSwtpm({ pcrBanks: ["sha256"] });
  try {
    const tpm = Tpm.open(sw.tcti);
    try {
      return await withEk(tpm, kind === "rsa" ? "rsa2048" : "ecc-p256", async (ek) => {
        const ak = await createAk(tpm, ek, kind);
        const sel = [pcrSelection(TPM_ALG.SHA256, [...pcrs])];
        return withAk(tpm, ek, ak, async (loaded) => {
          const quote = () => tpm.quote(loaded.handle, new Uint8Array(randomBytes(32)), sel);
          // The warm-up here, so that swtpm's CPU time is counted over the timed quotes only.
          for (let i = 0; i < 20; i++) await quote();
          const cpu0 = processCpuUs(sw.pid);
          const m = await measureAsync(`swtpm TPM2_Quote, ${kind === "rsa" ? "RSA 2048" : "ECC P-256"} AK (host side, one TPM)`, quote, {
            batchMs,
            warmupMs: 0,
          });
          const cpu1 = processCpuUs(sw.pid);
          return {
            name: m.name,
            opsPerSec: m.opsPerSec,
            usPerOp: m.usPerOp,
            p50Ms: m.p50Ms,
            p99Ms: m.p99Ms,
            ...(cpu0 !== undefined && cpu1 !== undefined ? { serverCpuUs: (cpu1 - cpu0) / m.ops } : {}),
            note: "CPU column: swtpm's (left)",
          };
        });
      });
    } finally {
      await tpm.close();
    }
  } finally {
    await sw.stop();
  }
}
