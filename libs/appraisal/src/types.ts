/**
 * What an appraisal takes (evidence, policy, nonce) and gives (a verdict listing every failed check).
 * @module
 */
import type { ImageModel } from "@tessera/host-image";
import type { PcrBanks, TpmtPublic } from "@tessera/tpm2";

/** A binding key and its TPM2_Certify by the AK. */
export interface BindingKeyEvidence {
  /** The key's TPM2B_PUBLIC (`tpm2_create -u`). */
  readonly public: Uint8Array;
  /** The TPMS_ATTEST of TPM2_Certify (`tpm2_certify -o`). */
  readonly certifyInfo: Uint8Array;
  /** Its TPMT_SIGNATURE by the AK (`tpm2_certify -s`). */
  readonly signature: Uint8Array;
}

/** What a host sends to be appraised (PROTOCOL.md §3). */
export interface Evidence {
  /** The AK's public area: TPM2B_PUBLIC or TPMT_PUBLIC bytes (`tpm2_createak -u`), or decoded. */
  readonly akPublic: Uint8Array | TpmtPublic;
  /** The TPMS_ATTEST of TPM2_Quote, as signed (`tpm2_quote -m`). */
  readonly quote: Uint8Array;
  /** Its TPMT_SIGNATURE (`tpm2_quote -s`). */
  readonly signature: Uint8Array;
  /** The values of the quoted PCRs, by bank (TPM_ALG_ID) and index. */
  readonly pcrs: PcrBanks;
  /** The TCG event log (`binary_bios_measurements`). */
  readonly eventLog: Uint8Array;
  /** The binding key, when the host sends one. */
  readonly bindingKey?: BindingKeyEvidence;
}

/** What the appraisal accepts. There is no accept-all policy: an empty one accepts nothing. */
export interface AppraisalPolicy {
  /** The accepted images; a host must match one. Empty: nothing is accepted. */
  readonly images: readonly ImageModel[];
  /** The PCRs that must be quoted, by bank name (`sha256: [0, 1, …, 7]`). No PCR: nothing is accepted. */
  readonly pcrs: Readonly<Record<string, readonly number[]>>;
  /** Whether Secure Boot must be on. */
  readonly secureBootRequired: boolean;
  /** Allowed quote signature schemes by name (default `rsassa`, `rsapss`, `ecdsa`). */
  readonly signatureAlgorithms?: readonly string[];
  /**
   * Allowed hash algorithms of the quote signature by name (default `sha1`, `sha256`, `sha384`, `sha512`:
   * Windows and go-attestation quotes are signed with SHA-1; a stricter policy lists fewer).
   */
  readonly hashAlgorithms?: readonly string[];
}

/** The check codes of PROTOCOL.md a verdict uses (and `ak-attributes`). */
export type CheckCode =
  | "ak-attributes"
  | "quote-signature"
  | "quote-nonce"
  | "quote-pcr-digest"
  | "pcr-selection"
  | "log-replay"
  | "log-malformed"
  | "secure-boot-off"
  | "image-unknown"
  | "binding-key";

/** One failed check. */
export interface Failure {
  /** Which check. */
  readonly check: CheckCode;
  /** What failed, in words; "not checked: …" when the check could not run because an earlier one failed. */
  readonly detail: string;
  /** The PCR, where one applies. */
  readonly pcr?: number;
  /** The bank name (`sha256`), where one applies. */
  readonly bank?: string;
  /** The event index in the log, where one applies. */
  readonly event?: number;
  /** What was expected (hex digest or text). */
  readonly expected?: string;
  /** What was measured (hex digest or text). */
  readonly measured?: string;
  /** The image (`name version`), for image-unknown: the closest accepted image. */
  readonly image?: string;
  /** For image-unknown: the component that differs. */
  readonly component?: string;
}

/** The verdict of {@link appraise}. */
export interface Verdict {
  /** `affirming` when every check passed, else `contraindicated`. */
  readonly status: "affirming" | "contraindicated";
  /** Every failed check; empty when affirming. */
  readonly failures: readonly Failure[];
  /** The accepted image the host matched. */
  readonly image?: { readonly name: string; readonly version: string };
  /** The Secure Boot state the verified log records. */
  readonly secureBoot?: boolean;
  /** The AK's Name (hex). */
  readonly akName?: string;
  /** The quoted PCR selection (tpm2-tools syntax) and digest (hex). */
  readonly quoted?: { readonly selection: string; readonly pcrDigest: string };
  /** The binding key's public area (decoded), when it was certified. */
  readonly bindingKey?: TpmtPublic;
}
