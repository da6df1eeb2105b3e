/**
 * A Tessera attestation token against the shapes Veraison's EAR libraries validate. The checks below are an
 * independent port of those libraries' parsing and validation rules (not our verifyEar), each citing where it
 * comes from:
 *
 * Go github.com/veraison/ear @961756e (used by Veraison's services and `arc`):
 * - G1 ear.go `populateFromMap` + util.go `populateStructFromMap(…, ignoreUnexpected=true)`: unknown top-level
 *   claims are ignored (so `exp`, `jti`, `iss`, `sub`, `tessera`, `cnf` are allowed); `eat_profile`,
 *   `ear.verifier-id`, `iat`, `submods` are mandatory (tags without omitempty); `iat` is a JSON number
 *   (`int64PtrParser`), `eat_profile` and `eat_nonce` strings (`stringPtrParser`), `ear.raw-evidence` unpadded
 *   base64url (`b64urlBytesPtrParser`), `submods` an object of appraisals.
 * - G2 ear.go `validate`: `eat_profile` is "tag:github.com,2023:veraison/ear" or the Trustee alias; `eat_nonce`,
 *   when present, is 8–88 characters; `submods` holds at least one appraisal and each validates (G4).
 * - G3 verifier.go `ToVerifierIdentity(…, ignoreUnexpected=false)`: an object with exactly the string members
 *   `build` and `developer`, both mandatory.
 * - G4 ear_appraisal.go `ToAppraisal` (unknown members ignored) and `validate`: `ear.status` mandatory, parsed by
 *   trusttier.go `ToTrustTier` (a name none/affirming/warning/contraindicated, or the number 0/2/32/96, or its
 *   decimal string); `ear.appraisal-policy-id` a string; `ear.veraison.*` objects.
 * - G5 trustvector.go `ToTrustVector(…, ignoreUnexpected=false)`: only the eight AR4SI keys; trustclaim.go
 *   `ToTrustClaim`: a number or decimal string in -128..127 (`getTrustClaimFromInt`), or a claim tag name.
 * - G6 ear_appraisal.go `UpdateStatusFromTrustVector`: the status is not more trustworthy than any vector
 *   claim's tier (trustclaim.go `GetTier`: -1..1 none, 2..31 affirming, 32..95 warning, else contraindicated);
 *   we require applying it to change nothing.
 * Rust github.com/veraison/rust-ear (used by Confidential Containers' Trustee):
 * - R1 nonce.rs `TryFrom<&str> for OneNonce`: a JSON `eat_nonce` is a text string of 8–88 characters (a
 *   byte-string nonce cannot be written to JSON at all), taken as is: so Tessera puts the challenge nonce's
 *   lowercase hex there (64 characters), which is also EAT's JSON `tstr` nonce form.
 * - R2 ear.rs `Ear::validate`: non-empty profile, non-empty submods, `iat` not 0; id.rs: verifier-id members
 *   only `developer` and `build`, non-empty; tier.rs: `ear.status` names case-insensitive.
 */
import { readFileSync } from "node:fs";
import test from "ava";
import { base64url, exportJWK, generateKeyPair, importJWK, jwtVerify } from "jose";
import { earInput, ISSUER, T0 } from "./_test_support.ts";
import { issueEar } from "./issue_ear.ts";
import { generateSigningKey } from "./signing_keys.ts";

const PROFILES = ["tag:github.com,2023:veraison/ear", "tag:github.com,2024:confidential-containers/Trustee"];
const TIERS: Record<string, number> = { none: 0, affirming: 2, warning: 32, contraindicated: 96 };
const VECTOR_KEYS = ["instance-identity", "configuration", "executables", "file-system", "hardware", "runtime-opaque", "storage-opaque", "sourced-data"];
/** trustclaim.go detail tags (those a string claim may name), enough to parse Veraison's samples. */
const CLAIM_TAGS: Record<string, number> = { recognized_instance: 2, approved_config: 2, approved_rt: 2, approved_boot: 3, genuine_hw: 2, no_claim: 0 };

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function tierOf(v: unknown): number | undefined {
  if (typeof v === "string") return v.toLowerCase() in TIERS ? TIERS[v.toLowerCase()] : /^-?\d+$/.test(v) && Object.values(TIERS).includes(Number(v)) ? Number(v) : undefined;
  if (typeof v === "number") return Object.values(TIERS).includes(Math.trunc(v)) ? Math.trunc(v) : undefined;
  return undefined;
}

function claimOf(v: unknown): number | undefined {
  const n = typeof v === "number" ? Math.trunc(v) : typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : typeof v === "string" ? CLAIM_TAGS[v] : undefined;
  return n !== undefined && n >= -128 && n <= 127 ? n : undefined;
}

function claimTier(c: number): number {
  if (c >= -1 && c <= 1) return 0;
  if (c >= 2 && c <= 31) return 2;
  if (c >= 32 && c <= 95) return 32;
  return 96;
}

/** The problems Veraison's Go and Rust parsers would report for an EAR claims set; empty when both accept it. */
function veraisonProblems(c: unknown): string[] {
  const p: string[] = [];
  if (!isObj(c)) return ["not an object"];
  for (const m of ["eat_profile", "ear.verifier-id", "iat", "submods"]) if (!(m in c)) p.push(`G1 missing ${m}`);
  if ("eat_profile" in c && (typeof c.eat_profile !== "string" || !PROFILES.includes(c.eat_profile))) p.push("G2 eat_profile");
  if ("iat" in c && typeof c.iat !== "number") p.push("G1 iat not a number");
  if (c.iat === 0) p.push("R2 iat 0");
  if ("eat_nonce" in c && (typeof c.eat_nonce !== "string" || c.eat_nonce.length < 8 || c.eat_nonce.length > 88)) p.push("G2/R1 eat_nonce");
  if ("ear.raw-evidence" in c && (typeof c["ear.raw-evidence"] !== "string" || !/^[A-Za-z0-9_-]*$/.test(c["ear.raw-evidence"]))) p.push("G1 raw-evidence");
  const vid = c["ear.verifier-id"];
  if ("ear.verifier-id" in c) {
    if (!isObj(vid)) p.push("G3 verifier-id not an object");
    else {
      for (const m of ["build", "developer"]) if (typeof vid[m] !== "string" || vid[m] === "") p.push(`G3/R2 verifier-id.${m}`);
      for (const k of Object.keys(vid)) if (k !== "build" && k !== "developer") p.push(`G3/R2 verifier-id unexpected ${k}`);
    }
  }
  const submods = c.submods;
  if ("submods" in c) {
    if (!isObj(submods) || Object.keys(submods).length === 0) p.push("G2/R2 submods empty");
    else
      for (const [name, a] of Object.entries(submods)) {
        if (!isObj(a)) {
          p.push(`G4 ${name} not an object`);
          continue;
        }
        const status = tierOf(a["ear.status"]);
        if (status === undefined) p.push(`G4 ${name} ear.status`);
        if ("ear.appraisal-policy-id" in a && typeof a["ear.appraisal-policy-id"] !== "string") p.push(`G4 ${name} policy id`);
        for (const k of Object.keys(a)) if (k.startsWith("ear.veraison.") && !isObj(a[k])) p.push(`G4 ${name} ${k}`);
        const tv = a["ear.trustworthiness-vector"];
        if (tv !== undefined && tv !== null) {
          if (!isObj(tv)) p.push(`G5 ${name} vector not an object`);
          else
            for (const [k, v] of Object.entries(tv)) {
              if (!VECTOR_KEYS.includes(k)) p.push(`G5 ${name} unexpected ${k}`);
              const claim = claimOf(v);
              if (claim === undefined) p.push(`G5 ${name} ${k} value`);
              else if (status !== undefined && status < claimTier(claim)) p.push(`G6 ${name} status more trustworthy than ${k}`);
            }
        }
      }
  }
  return p;
}

function sample(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../testdata/veraison/${name}.json`, import.meta.url), "utf8")) as Record<string, unknown>;
}

const SAMPLES = ["ear-claims", "ear-claims-tv-ok", "ear-claims-key-attestation-ok", "ear-claims-key-attestation-ko", "ear-claims-extension-ok"];

test("the port accepts every EAR sample of Veraison's own repository", (t) => {
  for (const s of SAMPLES) t.deepEqual(veraisonProblems(sample(s)), [], s);
});

test("the port refuses what Veraison refuses (so it can fail)", (t) => {
  const base = sample("ear-claims-tv-ok");
  const sub = (base.submods as Record<string, Record<string, unknown>>).test!;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ iat: undefined }, /G1 missing iat/],
    [{ eat_profile: "tag:example.com,2020:other" }, /G2 eat_profile/],
    [{ eat_nonce: "short" }, /eat_nonce/],
    [{ eat_nonce: "n".repeat(89) }, /eat_nonce/],
    [{ "ear.verifier-id": { build: "b", developer: "d", extra: "x" } }, /unexpected extra/],
    [{ "ear.verifier-id": { build: "b" } }, /verifier-id.developer/],
    [{ submods: {} }, /submods empty/],
    [{ submods: { test: { ...sub, "ear.status": "great" } } }, /ear.status/],
    [{ submods: { test: { ...sub, "ear.trustworthiness-vector": { joy: 2 } } } }, /unexpected joy/],
    [{ submods: { test: { ...sub, "ear.trustworthiness-vector": { hardware: 300 } } } }, /hardware value/],
    [{ submods: { test: { ...sub, "ear.trustworthiness-vector": { hardware: 96 } } } }, /G6/],
  ];
  for (const [change, rule] of cases) {
    const c: Record<string, unknown> = { ...base, ...change };
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete c[k];
    t.regex(veraisonProblems(c).join("; "), rule);
  }
});

test("a Tessera attestation token passes every Veraison rule, and verifies as Go ear.Verify does (alg ES256 + the key alone)", async (t) => {
  const key = await generateSigningKey(T0);
  const { publicKey } = await generateKeyPair("RSA-OAEP-256", { modulusLength: 2048, extractable: true });
  for (const over of [{}, { cnfJwk: { ...(await exportJWK(publicKey)), alg: "RSA-OAEP-256", use: "enc" } }, { image: undefined, trustedCluster: undefined }]) {
    const { token } = await issueEar(earInput(over), key);
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(token.split(".")[1]!))) as Record<string, unknown>;
    t.deepEqual(veraisonProblems(claims), []);
    t.is(claims.eat_nonce, "0f".repeat(32), "the challenge nonce's hex, as is");
    const { payload } = await jwtVerify(token, await importJWK(key.publicJwk, "ES256"), { algorithms: ["ES256"], issuer: ISSUER, currentDate: new Date(T0) });
    t.is(payload.eat_profile, "tag:github.com,2023:veraison/ear");
  }
});
