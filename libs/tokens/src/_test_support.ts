/**
 * Shared inputs of the tokens tests.
 * @module
 */
import type { EarInput } from "./issue_ear.ts";

/** The issuer every test token names. */
export const ISSUER = "https://ta.example.test:7889";

/** 2026-01-01T00:00:00.000Z, a whole second. */
export const T0 = Date.UTC(2026, 0, 1);

/** A complete EAR input (no binding key). */
export function earInput(over: Partial<EarInput> = {}): EarInput {
  return {
    issuer: ISSUER,
    subject: "host1.example.test",
    nonce: "0f".repeat(32),
    now: T0,
    lifetimeSeconds: 3600,
    verifierBuild: "attestd/0.1.0",
    ekFingerprint: "ab".repeat(32),
    akName: "000b" + "cd".repeat(32),
    image: { name: "esxi-like", version: "8.0.3" },
    secureBoot: true,
    pcrDigest: "12".repeat(32),
    pcrSelection: "sha256:0,1,2,3,4,5,6,7",
    trustedCluster: "cluster-a",
    ...over,
  };
}
