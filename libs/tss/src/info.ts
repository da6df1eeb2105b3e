/**
 * What a TPM says about itself: manufacturer, vendor strings, firmware version, spec level, PCR banks and limits.
 * @module
 */
import { algName, selectedPcrs, TPM_PT } from "@tessera/tpm2";
import type { Tpm } from "./tpm.ts";

/** A TPM's identity and limits. */
export interface TpmInfo {
  /** Manufacturer ID as its 4 ASCII characters (e.g. "IBM", "INTC", "IFX"). */
  manufacturer: string;
  /** Manufacturer ID as the raw 32-bit value (hex). */
  manufacturerId: string;
  /** TPM_PT_VENDOR_STRING_1..4 joined. */
  vendorString: string;
  /** Firmware version: FIRMWARE_VERSION_1 as major.minor, FIRMWARE_VERSION_2 as two more 16-bit fields. */
  firmwareVersion: string;
  /** Specification family ("2.0"), level and revision (e.g. 1.59) and date. */
  spec: { family: string; level: number; revision: number; year: number; dayOfYear: number };
  /** PCR banks with their allocated PCRs. */
  banks: { bank: string; pcrs: number[] }[];
  /** Limits: NV buffer, input buffer, command/response sizes, PCR count. */
  limits: { nvBufferMax: number; inputBuffer: number; maxCommandSize: number; maxResponseSize: number; pcrCount: number };
}

function ascii(v: number | undefined): string {
  if (v === undefined) return "";
  let s = "";
  for (const shift of [24, 16, 8, 0]) {
    const c = (v >>> shift) & 0xff;
    if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
  }
  return s;
}

/** Reads manufacturer, vendor strings, firmware version, spec level, banks and limits. */
export async function tpmInfo(tpm: Tpm): Promise<TpmInfo> {
  const p = await tpm.properties(TPM_PT.FAMILY_INDICATOR, 0x30);
  const fw1 = p.get(TPM_PT.FIRMWARE_VERSION_1) ?? 0;
  const fw2 = p.get(TPM_PT.FIRMWARE_VERSION_2) ?? 0;
  const banks = (await tpm.pcrBanks()).map((s) => ({ bank: algName(s.hash), pcrs: selectedPcrs(s) }));
  return {
    manufacturer: ascii(p.get(TPM_PT.MANUFACTURER)).trim(),
    manufacturerId: `0x${(p.get(TPM_PT.MANUFACTURER) ?? 0).toString(16).padStart(8, "0")}`,
    vendorString: [TPM_PT.VENDOR_STRING_1, TPM_PT.VENDOR_STRING_2, TPM_PT.VENDOR_STRING_3, TPM_PT.VENDOR_STRING_4]
      .map((k) => ascii(p.get(k)))
      .join("")
      .trim(),
    firmwareVersion: `${fw1 >>> 16}.${fw1 & 0xffff}.${fw2 >>> 16}.${fw2 & 0xffff}`,
    spec: {
      family: ascii(p.get(TPM_PT.FAMILY_INDICATOR)),
      level: p.get(TPM_PT.LEVEL) ?? 0,
      revision: (p.get(TPM_PT.REVISION) ?? 0) / 100,
      year: p.get(TPM_PT.YEAR) ?? 0,
      dayOfYear: p.get(TPM_PT.DAY_OF_YEAR) ?? 0,
    },
    banks,
    limits: {
      nvBufferMax: p.get(TPM_PT.NV_BUFFER_MAX) ?? 0,
      inputBuffer: p.get(TPM_PT.INPUT_BUFFER) ?? 0,
      maxCommandSize: p.get(TPM_PT.MAX_COMMAND_SIZE) ?? 0,
      maxResponseSize: p.get(TPM_PT.MAX_RESPONSE_SIZE) ?? 0,
      pcrCount: p.get(TPM_PT.PCR_COUNT) ?? 0,
    },
  };
}
