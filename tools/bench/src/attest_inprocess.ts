/**
 * Parts 2 and 3 of the attestation suite, in this process, single-threaded, on the evidence the API part sends:
 *
 * - the appraisal as attestd runs it, without HTTP or storage: libs/appraisal `appraise` on the host's evidence,
 *   then the binding key's JWK and the EAR token signed by @tessera/tokens `issueEar` (what attestd's token.ts does);
 * - the bare crypto floor it contains: one quote signature verification (node:crypto, the AK's key object made
 *   once), the replay's hashes of the log (SHA-256 of every event's data, which the digest check hashes, and one
 *   SHA-256 extend per event), and one ES256 signature (node:crypto).
 * @module
 */
import { createPrivateKey, createPublicKey, hash, sign, verify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { appraise, type AppraisalPolicy, type Evidence } from "@tessera/appraisal";
import { parseEventLog } from "@tessera/eventlog";
import { fixturePath } from "@tessera/fixtures";
import { imageFromEventLog, type ImageModel } from "@tessera/host-image";
import { bindingKeyJwk, generateSigningKey, issueEar, type SigningKey } from "@tessera/tokens";
import { ecdsaDer, publicKeyOf, TPM_ALG, TPMT_SIGNATURE, toHex, unmarshal, type TpmsSignatureEcc, type TpmsSignatureRsa } from "@tessera/tpm2";
import { pcrsOfLog, softAk, softBindingKey, softQuote, type LogPcrs, type SoftAk, type SoftBindingKey } from "./attest_host.ts";
import { measure } from "./measure.ts";
import { type AttestRow, type LatencyMeasurement, measureAsync } from "./attest_measure.ts";

/** The event log of the suite: a real machine's (RHEL 8 on UEFI, Secure Boot on, SHA-1/256/384 banks). */
export const ATTEST_LOG = "go-tpm-tools_rhel8-uefi.bin";

/** The PCRs quoted in-process: attestd's default selection, sha256:0-9,14 (the API part quotes what each challenge asks). */
export const ATTEST_PCRS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14];

/** The evidence of one host and what attestd holds to appraise it. */
export interface AttestFixture {
  readonly logName: string;
  readonly log: Uint8Array;
  readonly events: number;
  readonly quoted: LogPcrs;
  readonly image: ImageModel;
  readonly policy: AppraisalPolicy;
}

/** Reads the suite's log, replays it to its PCR values and makes the image and policy that accept it. */
export function attestFixture(logName = ATTEST_LOG): AttestFixture {
  const log = new Uint8Array(readFileSync(fixturePath("eventlogs", logName)));
  const parsed = parseEventLog(log);
  const image = imageFromEventLog(log, { name: "bench-host", version: "1" });
  return {
    logName,
    log,
    events: parsed.events.length,
    quoted: pcrsOfLog(log, ATTEST_PCRS),
    image,
    policy: { images: [image], pcrs: { sha256: ATTEST_PCRS }, secureBootRequired: true },
  };
}

/** One host's evidence for `nonce`: a quote by `ak` and, unless `binding` is null, a binding key certified by it. */
export function hostEvidence(f: AttestFixture, ak: SoftAk, nonce: Uint8Array, binding: SoftBindingKey | null): Evidence {
  const q = softQuote(ak, nonce, f.quoted.selection, f.quoted.pcrs);
  return {
    akPublic: ak.publicBytes,
    quote: q.quote,
    signature: q.signature,
    pcrs: f.quoted.pcrs,
    eventLog: f.log,
    ...(binding ? { bindingKey: binding } : {}),
  };
}

/** What attestd does for an affirming attestation, without HTTP and storage: appraise, then sign the token. */
export async function appraiseAndSign(evidence: Evidence, policy: AppraisalPolicy, nonce: Uint8Array, key: SigningKey): Promise<string> {
  const verdict = appraise(evidence, policy, nonce);
  if (verdict.status !== "affirming")
    throw new Error(`the benchmark's evidence is not affirming: ${verdict.failures.map((x) => `${x.check}: ${x.detail}`).join("; ")}`);
  const cnf = evidence.bindingKey !== undefined && verdict.bindingKey !== undefined ? await bindingKeyJwk(evidence.bindingKey.public) : undefined;
  const { token } = await issueEar(
    {
      issuer: "https://attestd.bench:7889",
      subject: "host-0.bench",
      nonce: toHex(nonce),
      lifetimeSeconds: 600,
      verifierBuild: "attestd/0.1.0",
      ekFingerprint: "00".repeat(32),
      akName: verdict.akName ?? "",
      ...(verdict.image ? { image: verdict.image } : {}),
      secureBoot: verdict.secureBoot ?? false,
      pcrDigest: verdict.quoted?.pcrDigest ?? "",
      pcrSelection: verdict.quoted?.selection ?? "",
      ...(cnf ? { cnfJwk: cnf } : {}),
    },
    key,
  );
  return token;
}

/** The bare operations: quote signature verification with a ready key object, one ES256 signature, the log's SHA-256 hashes. */
export function cryptoFloor(
  f: AttestFixture,
  ak: SoftAk,
  evidence: Evidence,
  key: SigningKey,
): { verify: () => boolean; es256: () => Uint8Array; hashes: () => void } {
  const akKey: KeyObject = publicKeyOf(ak.public);
  const sig = unmarshal(TPMT_SIGNATURE, evidence.signature);
  let verifyQuote: () => boolean;
  if (sig.sigAlg === TPM_ALG.RSASSA) {
    const s = (sig.signature as TpmsSignatureRsa).sig;
    // The key object bare (PKCS#1 v1.5 is RSA's default), as libs/tpm2 verifies: an options object costs more.
    verifyQuote = () => verify("sha256", evidence.quote, akKey, s);
  } else {
    // DER, as libs/tpm2's verifySignature does: node:crypto's `dsaEncoding: "ieee-p1363"` costs ~20 µs more per call (Node 24,
    // OpenSSL 3.5), so a floor measured with it would be that much too high.
    const e = sig.signature as TpmsSignatureEcc;
    const der = ecdsaDer(e.signatureR, e.signatureS);
    verifyQuote = () => verify("sha256", evidence.quote, akKey, der);
  }
  const signer = createPrivateKey({ key: key.privateJwk as never, format: "jwk" });
  // A token's signing input is about 1.5 KiB (header + claims with cnf.jwk, base64url).
  const signingInput = Buffer.alloc(1500, 0x41);
  // DER, as libs/tokens signs (it then copies r and s out: 64 bytes); "ieee-p1363" would add the same ~20 µs.
  const es256 = () => new Uint8Array(sign("sha256", signingInput, signer));
  if (!verify("sha256", signingInput, createPublicKey(signer), es256())) throw new Error("the bare ES256 signature does not verify");
  const log = parseEventLog(f.log);
  const datas = log.events.map((e) => e.data);
  const pcr = new Uint8Array(64);
  const hashes = () => {
    // One-shot crypto.hash: the cheapest SHA-256 node:crypto offers for small inputs.
    for (const d of datas) {
      pcr.set(hash("sha256", d, "buffer"), 32);
      pcr.set(hash("sha256", pcr, "buffer"), 0);
    }
  };
  return { verify: verifyQuote, es256, hashes };
}

/**
 * A short in-process measurement of the ECC AK appraisal (appraise + JWK + issueEar), to run beside each API cell
 * (3 batches of 300 ms after 100 ms of warm-up).
 */
export async function inProcessProbe(f: AttestFixture): Promise<() => Promise<LatencyMeasurement>> {
  const key = await generateSigningKey();
  const ak = softAk("ecc");
  const nonce = new Uint8Array(32).fill(7);
  const evidence = hostEvidence(f, ak, nonce, softBindingKey(ak));
  return () =>
    measureAsync("ECC P-256 AK: appraise + binding key JWK + issueEar (in-process)", () => appraiseAndSign(evidence, f.policy, nonce, key), {
      warmupMs: 100,
      batches: 3,
    });
}

/** Options of {@link benchInProcess}. */
export interface InProcessOptions {
  /** AK kinds measured (default both). */
  readonly akKinds?: readonly ("rsa" | "ecc")[];
  readonly batchMs?: number;
}

/** Measures parts 2 and 3; one group of rows per AK kind. */
export async function benchInProcess(
  f: AttestFixture,
  options: InProcessOptions = {},
): Promise<{ rows: AttestRow[]; inProcess: Map<string, LatencyMeasurement> }> {
  const key = await generateSigningKey();
  const rows: AttestRow[] = [];
  const inProcess = new Map<string, LatencyMeasurement>();
  const opts = { batchMs: options.batchMs ?? 300 };
  for (const kind of options.akKinds ?? (["ecc", "rsa"] as const)) {
    const ak = softAk(kind);
    const binding = softBindingKey(ak);
    const nonce = new Uint8Array(32).fill(7);
    const evidence = hostEvidence(f, ak, nonce, binding);
    const label = kind === "rsa" ? "RSA 2048 AK" : "ECC P-256 AK";
    const full = await measureAsync(
      `${label}: appraise + binding key JWK + issueEar (in-process)`,
      () => appraiseAndSign(evidence, f.policy, nonce, key),
      opts,
    );
    const { bindingKey: _unused, ...withoutBinding } = evidence;
    const appraiseOnly = measure(`${label}: appraise only, no binding key, no token`, () => appraise(withoutBinding, f.policy, nonce), opts);
    const floor = cryptoFloor(f, ak, evidence, key);
    if (!floor.verify()) throw new Error("the bare quote signature check failed");
    const v = measure(`${label}: quote signature verify (node:crypto, bare)`, floor.verify, opts);
    const h = measure(`log hashes: SHA-256 of ${f.events} events' data + ${f.events} extends (node:crypto, bare)`, floor.hashes, opts);
    const s = measure("ES256 signature (node:crypto, bare)", floor.es256, opts);
    const floorUs = v.usPerOp + h.usPerOp + s.usPerOp;
    inProcess.set(kind, full);
    rows.push(
      {
        name: full.name,
        opsPerSec: full.opsPerSec,
        usPerOp: full.usPerOp,
        p50Ms: full.p50Ms,
        p99Ms: full.p99Ms,
        serverCpuUs: full.cpuUsPerOp,
        note: `${(full.usPerOp / floorUs).toFixed(1)}× the floor`,
      },
      { name: appraiseOnly.name, opsPerSec: appraiseOnly.opsPerSec, usPerOp: appraiseOnly.usPerOp },
      { name: v.name, opsPerSec: v.opsPerSec, usPerOp: v.usPerOp },
      { name: h.name, opsPerSec: h.opsPerSec, usPerOp: h.usPerOp },
      { name: s.name, opsPerSec: s.opsPerSec, usPerOp: s.usPerOp },
      { name: `${label}: the floor (the three above)`, opsPerSec: 1e6 / floorUs, usPerOp: floorUs },
    );
  }
  return { rows, inProcess };
}
