/**
 * Test helper (not a test file: AVA skips files starting with `_`): the real-world logs in /work/shared/fixtures.
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fixturesRoot } from "@tessera/fixtures";
const SHARED_FIXTURES = fixturesRoot();

/** Where the event-log fixtures live. */
export const EVENTLOG_DIR = SHARED_FIXTURES + "/eventlogs";
/** The attestation fixture (quote + log) from a Windows VM on GCP Shielded VM. */
export const WINDOWS_GCP = SHARED_FIXTURES + "/attestations/go-attestation_windows_gcp_shielded_vm.json";

/** Names of every log fixture, sorted. */
export function fixtureNames(): string[] {
  return readdirSync(EVENTLOG_DIR)
    .filter((f) => f.endsWith(".bin"))
    .sort();
}

/** The bytes of one log fixture. */
export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(EVENTLOG_DIR, name)));
}

/** The Windows GCP attestation, with its base64 fields decoded. */
export function windowsGcp(): {
  raw: Uint8Array;
  pcrs: { index: number; digest: Uint8Array; alg: number }[];
  akPublic: Uint8Array /* TPMT_PUBLIC */;
  quote: Uint8Array;
  signature: Uint8Array;
} {
  const j = JSON.parse(readFileSync(WINDOWS_GCP, "utf8")) as {
    AK: { Public: string };
    Quote: { Quote: string; Signature: string };
    Log: { Raw: string; PCRs: { Index: number; Digest: string; DigestAlg: number }[] };
  };
  const b64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
  return {
    raw: b64(j.Log.Raw),
    pcrs: j.Log.PCRs.map((p) => ({ index: p.Index, digest: b64(p.Digest), alg: p.DigestAlg })),
    akPublic: b64(j.AK.Public),
    quote: b64(j.Quote.Quote),
    signature: b64(j.Quote.Signature),
  };
}
