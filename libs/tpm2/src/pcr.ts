/**
 * PCR selections and PCR digests.
 * @module
 */
import { algName, hashAlgByName } from "./constants.ts";
import { concat, hash } from "./digest.ts";
import type { TpmsPcrSelection } from "./structures.ts";

/** PCR values by bank (TPM_ALG hash id) and PCR index. */
export type PcrBanks = Map<number, Map<number, Uint8Array>>;

/** A TPMS_PCR_SELECTION for `bank` selecting `indexes` (bitmap at least `sizeofSelect` bytes, default 3 = 24 PCRs). */
export function pcrSelection(bank: number, indexes: readonly number[], sizeofSelect = 3): TpmsPcrSelection {
  const max = Math.max(sizeofSelect * 8, ...indexes.map((i) => i + 1));
  const bytes = new Uint8Array(Math.ceil(max / 8));
  for (const i of indexes) {
    if (!Number.isInteger(i) || i < 0 || i > 255) throw new RangeError(`PCR index ${i} is out of range`);
    bytes[i >> 3] |= 1 << (i & 7);
  }
  return { hash: bank, pcrSelect: bytes };
}

/** The PCR indexes a selection selects, ascending. */
export function selectedPcrs(sel: TpmsPcrSelection): number[] {
  const out: number[] = [];
  sel.pcrSelect.forEach((b, byte) => {
    for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) out.push(byte * 8 + bit);
  });
  return out;
}

/**
 * Parses a tpm2-tools PCR selection list: `sha256:0,1,2+sha1:0-7` or `sha256:all`.
 * Throws a RangeError naming the bad part.
 */
export function parsePcrSelection(spec: string): TpmsPcrSelection[] {
  return spec.split("+").map((part) => {
    const m = /^([a-z0-9_-]+):(all|[0-9,\s-]+)$/i.exec(part.trim());
    if (!m) throw new RangeError(`PCR selection "${part}" is not of the form bank:0,1,2`);
    const bank = hashAlgByName(m[1]);
    if (bank === undefined) throw new RangeError(`PCR bank "${m[1]}" is not a known hash algorithm`);
    const indexes: number[] = [];
    if (m[2] === "all") for (let i = 0; i < 24; i++) indexes.push(i);
    else {
      for (const item of m[2].split(",")) {
        const r = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(item);
        if (!r) throw new RangeError(`PCR index "${item}" in "${part}" is not a number or range`);
        const lo = Number(r[1]);
        const hi = r[2] === undefined ? lo : Number(r[2]);
        if (lo > hi || hi > 255) throw new RangeError(`PCR range "${item}" in "${part}" is out of order or beyond 255`);
        for (let i = lo; i <= hi; i++) indexes.push(i);
      }
    }
    return pcrSelection(bank, indexes);
  });
}

/** Formats a selection list the way tpm2-tools reads it (`sha256:0,1,2`). */
export function formatPcrSelection(sels: readonly TpmsPcrSelection[]): string {
  return sels.map((s) => `${algName(s.hash)}:${selectedPcrs(s).join(",")}`).join("+");
}

/**
 * The PCR digest a quote signs: H_hashAlg of the selected PCR values concatenated in selection order
 * (banks in list order, PCRs ascending). Throws a RangeError naming the first PCR value that is missing.
 */
export function pcrDigest(hashAlg: number, sels: readonly TpmsPcrSelection[], values: PcrBanks): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const s of sels) {
    const bank = values.get(s.hash);
    for (const i of selectedPcrs(s)) {
      const v = bank?.get(i);
      if (!v) throw new RangeError(`PCR ${algName(s.hash)}:${i} is selected but no value was supplied`);
      parts.push(v);
    }
  }
  return hash(hashAlg, concat(...parts));
}

/** The value of PCR after extending `old` with `digest` in bank `hashAlg`: H(old || digest). */
export function extendPcr(hashAlg: number, old: Uint8Array, digest: Uint8Array): Uint8Array {
  return hash(hashAlg, old, digest);
}
