/**
 * Quote verification: the signature by the AK over the TPMS_ATTEST bytes, the magic and type, the nonce
 * (qualifying data) and, when PCR values are given, the PCR digest.
 * @module
 */
import { algName, TPM_GENERATED_VALUE, TPM_ST } from "./constants.ts";
import { equalBytes, hashSize } from "./digest.ts";
import { toHex } from "./hex.ts";
import { TpmVerifyError } from "./errors.ts";
import { type PcrBanks, pcrDigest, selectedPcrs } from "./pcr.ts";
import { unmarshal } from "./schema.ts";
import { TPMS_ATTEST, TPMT_SIGNATURE, type TpmsAttest, type TpmsQuoteInfo, type TpmtPublic, type TpmtSignature } from "./structures.ts";
import { verifySignature } from "./verify_signature.ts";

/** What to verify a quote against. */
export interface VerifyQuoteOptions {
  /** The nonce the verifier issued; must equal the quote's extraData. */
  nonce: Uint8Array;
  /** PCR values by bank and index; when given, the quote's PCR digest must equal their digest. */
  pcrs?: PcrBanks;
}

/** A verified quote. */
export interface VerifiedQuote {
  /** The decoded TPMS_ATTEST. */
  attest: TpmsAttest;
  /** Its TPMS_QUOTE_INFO (selection and digest). */
  quote: TpmsQuoteInfo;
  /** The hash algorithm of the signature (also of the PCR digest). */
  hashAlg: number;
  /** Whether PCR values were supplied and matched the digest. */
  pcrsChecked: boolean;
}

/**
 * Verifies a quote made by TPM2_Quote. `quoted` is the TPMS_ATTEST bytes exactly as signed (the TPM2B_ATTEST
 * contents, i.e. `tpm2_quote -m`); `signature` is a TPMT_SIGNATURE value or its bytes (`tpm2_quote -s`).
 * Throws {@link TpmVerifyError} whose `code` names the failed check, or a TpmDecodeError for malformed bytes.
 */
export function verifyQuote(ak: TpmtPublic, quoted: Uint8Array, signature: TpmtSignature | Uint8Array, options: VerifyQuoteOptions): VerifiedQuote {
  const sig = signature instanceof Uint8Array ? unmarshal(TPMT_SIGNATURE, signature) : signature;
  verifySignature(ak, quoted, sig);
  const attest = unmarshal(TPMS_ATTEST, quoted);
  if (attest.magic !== TPM_GENERATED_VALUE) {
    throw new TpmVerifyError("TPM2_VERIFY_MAGIC", `magic 0x${attest.magic.toString(16)} is not TPM_GENERATED_VALUE: not made by a TPM`);
  }
  if (attest.type !== TPM_ST.ATTEST_QUOTE) {
    throw new TpmVerifyError("TPM2_VERIFY_TYPE", `attestation type 0x${attest.type.toString(16)} is not TPM_ST_ATTEST_QUOTE`);
  }
  if (!equalBytes(attest.extraData, options.nonce)) {
    throw new TpmVerifyError("TPM2_VERIFY_NONCE", `extraData ${toHex(attest.extraData)} does not match the nonce ${toHex(options.nonce)}`);
  }
  const quote = attest.attested as TpmsQuoteInfo;
  const hashAlg = (sig.signature as { hash: number }).hash;
  if (quote.pcrDigest.length !== hashSize(hashAlg)) {
    throw new TpmVerifyError("TPM2_VERIFY_PCR_DIGEST", `PCR digest is ${quote.pcrDigest.length} bytes, ${algName(hashAlg)} gives ${hashSize(hashAlg)}`);
  }
  if (options.pcrs) {
    for (const s of quote.pcrSelect) {
      for (const i of selectedPcrs(s)) {
        if (!options.pcrs.get(s.hash)?.get(i)) {
          throw new TpmVerifyError("TPM2_VERIFY_PCR_SELECTION", `the quote covers PCR ${algName(s.hash)}:${i} but no value was supplied for it`);
        }
      }
    }
    const expected = pcrDigest(hashAlg, quote.pcrSelect, options.pcrs);
    if (!equalBytes(expected, quote.pcrDigest)) {
      throw new TpmVerifyError(
        "TPM2_VERIFY_PCR_DIGEST",
        `PCR digest ${toHex(quote.pcrDigest)} in the quote does not match ${toHex(expected)} computed from the supplied PCR values`,
      );
    }
  }
  return { attest, quote, hashAlg, pcrsChecked: options.pcrs !== undefined };
}
