/**
 * The appraisal: evidence + policy + nonce → a verdict listing every failed check.
 * @module
 */
import {
  comparePcrs,
  EV,
  parseEventLog,
  pcrResetValue,
  type EventLog,
  type PcrBanks as LogPcrBanks,
} from "@tessera/eventlog";
import {
  algName,
  formatPcrSelection,
  HASH_SIZE,
  hashAlgByName,
  pcrDigest,
  selectedPcrs,
  toHex,
  TPM_ALG,
  TPM_GENERATED_VALUE,
  TPM_ST,
  TPMA_OBJECT,
  TPMS_ATTEST,
  TPMT_SIGNATURE,
  unmarshal,
  type PcrBanks,
  type TpmsAttest,
  type TpmsQuoteInfo,
  type TpmtPublic,
} from "@tessera/tpm2";
import { checkBindingKey } from "./_binding_key.ts";
import { decodedAk } from "./_ak_cache.ts";
import { cachedFacts, cachedMatch, cachedReplay, logEntry } from "./_log_cache.ts";
import { message, sameBytes, signatureProblem } from "./_util.ts";
import type { AppraisalPolicy, Evidence, Failure, Verdict } from "./types.ts";

const AK_REQUIRED: [keyof typeof TPMA_OBJECT, boolean][] = [
  ["restricted", true],
  ["sign", true],
  ["decrypt", false],
  ["fixedTPM", true],
  ["fixedParent", true],
  ["sensitiveDataOrigin", true],
];

function attributeFailures(pub: TpmtPublic, required: readonly [keyof typeof TPMA_OBJECT, boolean][]): string[] {
  return required.filter(([bit, set]) => ((pub.objectAttributes & TPMA_OBJECT[bit]) !== 0) !== set).map(([bit, set]) => `${bit} ${set ? "clear" : "set"}`);
}

const BANK_IDS = new Map<string, number | undefined>();

/** The hash algorithm a policy's bank name means (remembered: hashAlgByName normalizes and searches per call). */
function bankId(name: string): number | undefined {
  if (BANK_IDS.has(name)) return BANK_IDS.get(name);
  const found = hashAlgByName(name);
  const id = found !== undefined && HASH_SIZE[found] !== undefined ? found : undefined;
  if (BANK_IDS.size < 64) BANK_IDS.set(name, id);
  return id;
}


function notChecked(check: Failure["check"], why: string): Failure {
  return { check, detail: `not checked: ${why}` };
}

/** The log restricted to the verified PCRs, each event keeping only the digests of banks verified for its PCR. */
function verifiedLog(log: EventLog, verified: Map<number, Set<number>>): EventLog {
  const anyBank = new Set<number>();
  for (const pcrs of verified.values()) for (const pcr of pcrs) anyBank.add(pcr);
  const events = log.events
    .filter((e) => anyBank.has(e.pcr))
    .map((e) => ({ ...e, digests: new Map([...e.digests].filter(([alg]) => verified.get(alg)?.has(e.pcr))) }));
  // A SHA-1 format log's header is an ordinary measurement: it counts only when its PCR was verified.
  const headerVerified = log.format === "crypto-agile" || verified.get(TPM_ALG.SHA1)?.has(log.header.pcr) === true;
  const header = headerVerified ? log.header : { ...log.header, type: EV.NO_ACTION, digests: new Map<number, Uint8Array>(), data: new Uint8Array(0) };
  return { ...log, header, events };
}

/**
 * Appraises a host's evidence against a policy and the nonce the verifier issued. Checks, reporting every one
 * that fails (a check that cannot run because an earlier one failed says so):
 *
 * - `ak-attributes`: the AK decodes and is a restricted signing key with fixedTPM, fixedParent, sensitiveDataOrigin;
 * - `quote-signature`: the signature decodes, uses an allowed scheme and hash, and verifies with the AK over the
 *   quote, which is a TPM-generated TPMS_ATTEST of type ATTEST_QUOTE;
 * - `quote-nonce`: extraData equals the nonce (constant-time);
 * - `pcr-selection`: the policy selects PCRs, the quote covers them, and a value is given for each quoted PCR;
 * - `quote-pcr-digest`: the values hash to the quote's PCR digest;
 * - `log-malformed` / `log-replay`: the log parses and replays to every quoted PCR value, per bank;
 * - `secure-boot-off`: with `secureBootRequired`, the verified PCR 7 events say Secure Boot is on;
 * - `image-unknown`: the components the verified log measured match an accepted image (else each difference
 *   from the closest image);
 * - `binding-key`: the binding key's TPM2_Certify by the AK (see PROTOCOL.md).
 *
 * Only events of quoted PCRs whose replay matched count for Secure Boot and the image. Never throws on bad
 * evidence: every problem is a failure.
 */
export function appraise(evidence: Evidence, policy: AppraisalPolicy, nonce: Uint8Array): Verdict {
  const failures: Failure[] = [];
  const out: { -readonly [K in keyof Verdict]?: Verdict[K] } = {};

  // The AK.
  let ak: TpmtPublic | undefined;
  try {
    const akPublic = evidence.akPublic;
    const decoded = decodedAk(akPublic);
    ak = decoded.ak;
    out.akName = decoded.name;
    const bad = attributeFailures(ak, AK_REQUIRED);
    if (bad.length > 0) failures.push({ check: "ak-attributes", detail: `the AK is not a restricted, fixed signing key: ${bad.join(", ")}` });
  } catch (e) {
    ak = undefined;
    failures.push({ check: "ak-attributes", detail: `the AK public area does not decode: ${message(e)}` });
  }

  // The quote's signature and structure.
  if (ak === undefined) failures.push(notChecked("quote-signature", "the AK does not decode"));
  else {
    const problem = signatureProblem(ak, evidence.quote, evidence.signature, policy, "quote");
    if (problem !== undefined) failures.push({ check: "quote-signature", detail: problem });
  }
  let attest: TpmsAttest | undefined;
  try {
    attest = unmarshal(TPMS_ATTEST, evidence.quote);
  } catch (e) {
    failures.push({ check: "quote-signature", detail: `the quote is not a TPMS_ATTEST: ${message(e)}` });
  }
  if (attest !== undefined && attest.magic !== TPM_GENERATED_VALUE) {
    failures.push({ check: "quote-signature", detail: `magic 0x${attest.magic.toString(16)} is not TPM_GENERATED_VALUE: not made by a TPM` });
    attest = undefined;
  } else if (attest !== undefined && attest.type !== TPM_ST.ATTEST_QUOTE) {
    failures.push({ check: "quote-signature", detail: `attestation type 0x${attest.type.toString(16)} is not TPM_ST_ATTEST_QUOTE` });
    attest = undefined;
  }
  const quote = attest?.attested as TpmsQuoteInfo | undefined;

  // Nonce.
  if (attest === undefined) failures.push(notChecked("quote-nonce", "the quote does not decode"));
  else if (!sameBytes(attest.extraData, nonce)) {
    failures.push({ check: "quote-nonce", detail: "the quote's extraData is not the nonce", expected: toHex(nonce), measured: toHex(attest.extraData) });
  }

  // PCR selection: the policy's, covered by the quote, with values for every quoted PCR.
  const quoted = new Map<number, Set<number>>();
  for (const s of quote?.pcrSelect ?? []) quoted.set(s.hash, new Set([...(quoted.get(s.hash) ?? []), ...selectedPcrs(s)]));
  if (quote !== undefined) out.quoted = { selection: formatPcrSelection(quote.pcrSelect), pcrDigest: toHex(quote.pcrDigest) };
  const required = Object.entries(policy.pcrs).flatMap(([bank, pcrs]) => pcrs.map((pcr) => ({ bank, pcr })));
  if (required.length === 0) failures.push({ check: "pcr-selection", detail: "the policy selects no PCR: it accepts nothing" });
  for (const bank of Object.keys(policy.pcrs)) {
    if (bankId(bank) === undefined) failures.push({ check: "pcr-selection", detail: `the policy names an unknown bank ${JSON.stringify(bank)}`, bank });
  }
  if (quote === undefined) failures.push(notChecked("pcr-selection", "the quote does not decode"));
  else {
    for (const { bank, pcr } of required) {
      const id = bankId(bank);
      if (id !== undefined && !quoted.get(id)?.has(pcr))
        failures.push({ check: "pcr-selection", detail: `the quote does not cover PCR ${bank}:${pcr}`, bank, pcr });
    }
    for (const [id, pcrs] of quoted) {
      for (const pcr of pcrs) {
        if (evidence.pcrs.get(id)?.get(pcr) === undefined) {
          failures.push({ check: "pcr-selection", detail: `the quote covers PCR ${algName(id)}:${pcr} but no value was given for it`, bank: algName(id), pcr });
        }
      }
    }
  }

  // The PCR digest.
  if (quote === undefined) failures.push(notChecked("quote-pcr-digest", "the quote does not decode"));
  else {
    const sig = (() => {
      try {
        return unmarshal(TPMT_SIGNATURE, evidence.signature);
      } catch {
        return undefined;
      }
    })();
    const hashAlg = (sig?.signature as { hash?: number } | undefined)?.hash;
    if (hashAlg === undefined || HASH_SIZE[hashAlg] === undefined) {
      failures.push(notChecked("quote-pcr-digest", "the signature does not name a hash algorithm"));
    } else {
      try {
        const values: PcrBanks = new Map(
          [...quoted].map(([id, pcrs]) => [id, new Map([...pcrs].map((p) => [p, evidence.pcrs.get(id)?.get(p) ?? new Uint8Array(0)]))]),
        );
        const expected = pcrDigest(hashAlg, quote.pcrSelect, values);
        if (!sameBytes(expected, quote.pcrDigest)) {
          failures.push({
            check: "quote-pcr-digest",
            detail: "the PCR values do not hash to the quote's PCR digest",
            expected: toHex(quote.pcrDigest),
            measured: toHex(expected),
          });
        }
      } catch (e) {
        failures.push({ check: "quote-pcr-digest", detail: `the PCR digest cannot be computed: ${message(e)}` });
      }
    }
  }

  // The log: parse and replay to every quoted PCR value. What depends only on the log's bytes (and on the banks and
  // PCRs involved) comes from _log_cache.ts when this log was appraised before; the log is parsed only on a miss.
  const entry = logEntry(evidence.eventLog);
  let parsed: EventLog | undefined;
  const log = (): EventLog => (parsed ??= parseEventLog(evidence.eventLog));
  let parses = entry.parseError === undefined;
  if (parses && entry.replays.size === 0 && entry.facts.size === 0) {
    try {
      log();
    } catch (e) {
      entry.parseError = message(e);
      parses = false;
    }
  }
  if (!parses) failures.push({ check: "log-malformed", detail: `the event log does not parse: ${entry.parseError ?? ""}` });
  const verified = new Map<number, Set<number>>();
  if (!parses) failures.push(notChecked("log-replay", "the event log does not parse"));
  else if (quote === undefined) failures.push(notChecked("log-replay", "the quote does not decode"));
  else {
    let replayed: LogPcrBanks | undefined;
    try {
      // Only the quoted banks are compared: the others need not be computed.
      replayed = cachedReplay(entry, [...quoted.keys()], log);
    } catch (e) {
      failures.push({ check: "log-malformed", detail: `the event log does not replay: ${message(e)}` });
    }
    if (replayed !== undefined) {
      for (const [id, pcrs] of quoted) {
        for (const pcr of [...pcrs].sort((a, b) => a - b)) {
          const value = evidence.pcrs.get(id)?.get(pcr);
          if (value === undefined) continue;
          const c = comparePcrs(replayed, new Map([[id, new Map([[pcr, value]])]]));
          if (c.ok) {
            verified.set(id, (verified.get(id) ?? new Set()).add(pcr));
            continue;
          }
          const m = c.firstMismatch;
          failures.push({
            check: "log-replay",
            detail: `the log replays PCR ${algName(id)}:${pcr} to another value than the quoted one`,
            bank: algName(id),
            pcr,
            ...(m?.lastEvent === undefined ? {} : { event: m.lastEvent }),
            expected: toHex(value),
            measured: toHex(m?.replayed ?? pcrResetValue(pcr, value.length)),
          });
        }
      }
    }
  }
  const pcr7 = [...verified.values()].some((s) => s.has(7));
  // The verified log's facts: its events' digests, Secure Boot, the image it measured.
  const facts = parses ? cachedFacts(entry, verified, pcr7, () => verifiedLog(log(), verified)) : undefined;
  // Events whose digest is the hash of their data must say what was measured: else the replay proves nothing about
  // the data that Secure Boot and image matching read.
  if (facts !== undefined) {
    for (const c of facts.digestProblems) {
      failures.push({
        check: "log-replay",
        detail: `event ${c.index} (${c.type}) on PCR ${c.pcr}: its data is not what its ${c.bank} digest measured (${c.reason})`,
        event: c.index,
        pcr: c.pcr,
        bank: c.bank,
      });
    }
  }

  // Secure Boot.
  if (facts === undefined) {
    if (policy.secureBootRequired) failures.push(notChecked("secure-boot-off", "the event log does not parse"));
  } else {
    const state = pcr7 ? facts.secureBoot : undefined;
    if (state !== undefined) out.secureBoot = state;
    if (policy.secureBootRequired && state !== true) {
      failures.push({
        check: "secure-boot-off",
        detail: !pcr7
          ? "PCR 7 is not quoted and replayed, so Secure Boot cannot be verified"
          : state === false
            ? "the log says Secure Boot is off"
            : "the log does not measure the SecureBoot variable",
        pcr: 7,
      });
    }
  }

  // The image.
  if (policy.images.length === 0) failures.push({ check: "image-unknown", detail: "the policy accepts no image" });
  else if (facts === undefined) failures.push(notChecked("image-unknown", "the event log does not parse"));
  else {
    const m = cachedMatch(facts.measured, policy.images);
    if (m.matched) out.image = { name: m.image.name, version: m.image.version };
    else if (m.closest !== undefined) {
      const image = `${m.closest.image.name} ${m.closest.image.version}`;
      for (const d of m.closest.differences) {
        failures.push({
          check: "image-unknown",
          detail: `${d.component}: ${d.detail} (closest accepted image: ${image})`,
          image,
          component: d.component,
          ...(d.bank === undefined ? {} : { bank: d.bank }),
          ...(d.expected === undefined ? {} : { expected: d.expected }),
          ...(d.measured === undefined ? {} : { measured: d.measured }),
        });
      }
    }
  }

  // The binding key.
  if (evidence.bindingKey !== undefined) {
    const r = checkBindingKey(evidence.bindingKey, ak, nonce, policy, evidence.akPublic instanceof Uint8Array);
    failures.push(...r.failures);
    if (r.key !== undefined && r.failures.length === 0) out.bindingKey = r.key;
  }

  return { status: failures.length === 0 ? "affirming" : "contraindicated", failures, ...out };
}
