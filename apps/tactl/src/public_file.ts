/**
 * Reading key and PCR files in the formats tpm2-tools and Tessera write: TPM2B_PUBLIC (`tpm2_createak -u`,
 * `tpm2_createek -u`, `tactl tpm ek`), a bare TPMT_PUBLIC, or a PEM public key; PCR values as Tessera's
 * pcrs.json or the YAML that `tpm2_pcrread` and `tpm2_quote` print.
 * @module
 */
import { createPublicKey } from "node:crypto";
import {
  algName,
  type AkKind,
  akTemplate,
  type EkKind,
  ekTemplate,
  fromHex,
  hashAlgByName,
  keyMaterial,
  type PcrBanks,
  TPM_ALG,
  type TpmtPublic,
  toHex,
  TpmDecodeError,
  unmarshalPublic,
} from "@tessera/tpm2";
import { CliError } from "./errors.ts";
import { readBytes } from "./files.ts";

/** How to complete a PEM key (which carries no TPM attributes) into a public area. */
export type PemAs = { ek: EkKind } | { ak: AkKind };

/** Reads a public area from `file`: TPM2B_PUBLIC, bare TPMT_PUBLIC, or PEM (completed with the template `pemAs`). */
export async function readPublicArea(file: string, what: string, pemAs: PemAs): Promise<TpmtPublic> {
  const bytes = await readBytes(file, what);
  const text = new TextDecoder().decode(bytes.subarray(0, 64));
  if (text.includes("-----BEGIN")) {
    let m;
    try {
      m = keyMaterial(createPublicKey(new TextDecoder().decode(bytes)));
    } catch (e) {
      throw new CliError("TACTL_INPUT", `${what} ${file}: not a usable PEM public key (${(e as Error).message})`, { cause: e });
    }
    const rsa = m.type === "rsa";
    const t = "ek" in pemAs ? ekTemplate(rsa ? "rsa2048" : "ecc-p256") : akTemplate(rsa ? "rsa" : "ecc");
    if (m.type === "rsa")
      return {
        ...t,
        type: TPM_ALG.RSA,
        unique: m.n,
        parameters: { ...(t.parameters as object), exponent: m.e === 65537 ? 0 : m.e } as TpmtPublic["parameters"],
      };
    return { ...t, type: TPM_ALG.ECC, unique: { x: m.x, y: m.y }, parameters: { ...(t.parameters as object), curveID: m.curveID } as TpmtPublic["parameters"] };
  }
  try {
    return unmarshalPublic(bytes);
  } catch (first) {
    throw new CliError("TACTL_INPUT", `${what} ${file}: not a TPM2B_PUBLIC, TPMT_PUBLIC or PEM key: ${(first as TpmDecodeError).message}`, { cause: first });
  }
}

/** Reads PCR values: `{ "sha256": { "0": "hex", … } }` or tpm2-tools YAML (`sha256:` then `  0 : 0x…`). */
export async function readPcrValues(file: string): Promise<PcrBanks> {
  const text = new TextDecoder().decode(await readBytes(file, "PCR values"));
  const banks: PcrBanks = new Map();
  const put = (bankName: string, index: string, value: string, where: string) => {
    const bank = hashAlgByName(bankName);
    if (bank === undefined) throw new CliError("TACTL_INPUT", `${file}: ${where}: unknown PCR bank "${bankName}"`);
    const i = Number(index);
    if (!Number.isInteger(i) || i < 0 || i > 255) throw new CliError("TACTL_INPUT", `${file}: ${where}: "${index}" is not a PCR index`);
    let v: Uint8Array;
    try {
      v = fromHex(value);
    } catch {
      throw new CliError("TACTL_INPUT", `${file}: ${where}: value of ${bankName}:${i} is not hex`);
    }
    if (!banks.has(bank)) banks.set(bank, new Map());
    banks.get(bank)!.set(i, v);
  };
  if (text.trimStart().startsWith("{")) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new CliError("TACTL_INPUT", `${file}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof json !== "object" || json === null) throw new CliError("TACTL_INPUT", `${file}: expected an object of banks`);
    for (const [bank, values] of Object.entries(json as Record<string, unknown>)) {
      if (typeof values !== "object" || values === null) throw new CliError("TACTL_INPUT", `${file}: bank "${bank}" is not an object of index → hex`);
      for (const [i, v] of Object.entries(values as Record<string, unknown>)) {
        if (typeof v !== "string") throw new CliError("TACTL_INPUT", `${file}: ${bank}.${i} is not a hex string`);
        put(bank, i, v, `${bank}.${i}`);
      }
    }
    return banks;
  }
  let bank: string | undefined;
  text.split(/\r?\n/).forEach((line, n) => {
    const b = /^\s*([a-z0-9_-]+)\s*:\s*$/i.exec(line);
    if (b && hashAlgByName(b[1]) !== undefined) {
      bank = b[1];
      return;
    }
    const v = /^\s*(\d+)\s*:\s*(?:0x)?([0-9a-f]+)\s*$/i.exec(line);
    if (v && bank) put(bank, v[1], v[2], `line ${n + 1}`);
  });
  if (banks.size === 0) throw new CliError("TACTL_INPUT", `${file}: no PCR values found (expected pcrs.json or tpm2_pcrread output)`);
  return banks;
}

/** PCR values as pcrs.json: bank name → PCR index → hex. */
export function pcrsToJson(banks: PcrBanks): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [bank, values] of banks) {
    out[algName(bank)] = Object.fromEntries([...values].sort((a, b) => a[0] - b[0]).map(([i, v]) => [String(i), toHex(v)]));
  }
  return out;
}
