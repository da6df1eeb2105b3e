/**
 * PROTOCOL.md §2 and §3: a host asks for a challenge (a single-use nonce and the PCRs to quote), then sends
 * its quote, PCR values, event log and optionally a binding key certified by its AK. attestd consumes the
 * nonce (once across every node), appraises the evidence with libs/appraisal against the accepted images and
 * settings, records the attempt, publishes status changes and, when the evidence holds, issues the EAR token.
 * @module
 */
import { appraise, type Failure } from "@tessera/appraisal";
import { ProblemError, readJson, type ServiceEnv } from "@tessera/http";
import { timeOrderedBytes, uuidV7 } from "@tessera/service";
import { fromHex, hashAlgByName, HASH_SIZE, type PcrBanks, toHex } from "@tessera/tpm2";
import type { Hono } from "hono";
import type { Logger } from "pino";
import { z } from "zod";
import type { AttestdDeps } from "../deps.ts";
import type { AttestationRecord, FailureRecord, HostStatus, NonceRecord } from "../store/store.ts";
import { issueAttestationToken } from "../token.ts";
import { base64Bytes, base64NonEmpty, hexString, hostParam, rfc3339 } from "../wire.ts";

const NONCE_BYTES = 32;
/** How often a challenge is built again when the settings changed meanwhile (each time, on another node or request). */
const MAX_CHALLENGE_ATTEMPTS = 5;

const AttestationRequest = z.object({
  nonce: hexString,
  quote: base64NonEmpty,
  signature: base64NonEmpty,
  pcrs: z.record(z.string().regex(/^[a-z0-9_-]{1,16}$/, "is not a bank name"), z.record(z.string().regex(/^(?:[0-9]|1[0-9]|2[0-3])$/, "is not a PCR index 0-23"), hexString)),
  eventLog: base64Bytes,
  bindingKey: z.object({ public: base64NonEmpty, certifyInfo: base64NonEmpty, signature: base64NonEmpty }).optional(),
});

/** `{"sha256": {"0": "<hex>"}}` → PcrBanks. @throws ProblemError 400 naming the bank or PCR whose value is wrong. */
function pcrBanks(pcrs: Record<string, Record<string, string>>): PcrBanks {
  const banks: PcrBanks = new Map();
  for (const [name, values] of Object.entries(pcrs)) {
    const alg = hashAlgByName(name);
    const size = alg === undefined ? undefined : HASH_SIZE[alg];
    if (alg === undefined || size === undefined) throw new ProblemError("bad-request", 400, `bad request body field pcrs.${name}: not a known hash algorithm`);
    const bank = new Map<number, Uint8Array>();
    for (const [index, hex] of Object.entries(values)) {
      const v = fromHex(hex);
      if (v.length !== size) throw new ProblemError("bad-request", 400, `bad request body field pcrs.${name}.${index}: ${v.length} bytes, a ${name} PCR has ${size}`);
      bank.set(Number(index), v);
    }
    banks.set(alg, bank);
  }
  return banks;
}


/**
 * The checks whose failure means the evidence need not be the host's: the quote is not signed by the host's enrolled
 * AK (`quote-signature`, `ak-attributes`), or it is an older quote of that TPM replayed on a new challenge
 * (`quote-nonce`). Challenges and attestations need no authentication, so anyone holding a fresh nonce can send such
 * evidence; it is refused and kept in the history, but it must not turn a green host red (kmxd would withdraw its
 * keys). Any other failure comes with a fresh quote signed by the host's AK, so it is the host's and sets its status.
 */
const NOT_THE_HOSTS: ReadonlySet<string> = new Set(["ak-attributes", "quote-signature", "quote-nonce"]);

/** Whether the failures leave the evidence unattributable to the host (see {@link NOT_THE_HOSTS}). */
export function isForeignEvidence(failures: readonly { readonly check: string }[]): boolean {
  return failures.some((f) => NOT_THE_HOSTS.has(f.check));
}

function failureRecord(f: Failure | FailureRecord): FailureRecord {
  // Drop undefined fields so the JSON and the stored record say the same thing.
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as unknown as FailureRecord;
}

function summarize(failures: readonly FailureRecord[]): string {
  const first = failures[0];
  if (first === undefined) return "affirming";
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more)` : "";
  return `${first.check}: ${first.detail}${more}`;
}

/**
 * Publishes the host's new status when it differs from the one before this attempt (which the store returned
 * while recording it). The new status follows from the attempt just recorded (green when affirming, red
 * otherwise), so it is not read back from the store.
 */
function publishChange(deps: AttestdDeps, host: string, previous: HostStatus["status"], status: "green" | "red", message: string, now: number): void {
  if (status !== previous) deps.events.publish({ host, status, previous, at: now, message });
}

/** The 403 for a nonce that is not a live challenge of `host` (unknown, another host's, used, expired). */
function nonceRefused(host: string, r: { readonly reason: "unknown" | "used" | "expired" | "other-host"; readonly value?: NonceRecord }, log: Logger): ProblemError {
  const check = r.reason === "used" ? "nonce-reused" : r.reason === "expired" ? "nonce-expired" : "nonce-unknown";
  const detail =
    check === "nonce-reused"
      ? "the nonce was used already: ask for a new challenge"
      : check === "nonce-expired"
        ? `the nonce expired at ${r.value ? rfc3339(r.value.expiresAt) : "an earlier time"}: ask for a new challenge`
        : `no challenge with this nonce was issued to ${host}`;
  log.info({ host, check }, "attestation refused");
  return new ProblemError("attestation-failed", 403, `${check}: ${detail}`, { failures: [{ check, detail }] });
}

/** Mounts `POST /api/v1/hosts/{host}/challenges` and `POST /api/v1/hosts/{host}/attestations`. */
export function attestationRoutes(app: Hono<ServiceEnv>, deps: AttestdDeps): void {
  app.post("/api/v1/hosts/:host/challenges", async (c) => {
    const host = hostParam(c.req.param("host"));
    // The time of the challenge, then 26 random bytes (208 bits: no nonce can be guessed or made twice): nonces made
    // close in time sort together, so storing one writes to the nonce index's last page instead of a random one.
    const nonce = toHex(timeOrderedBytes(NONCE_BYTES, deps.clock.now()));
    // Built from the settings of the last read; the store keeps the nonce only if they are still the stored ones
    // (checked in the transaction that stores it), else answers the current ones and the record is built again.
    // So a change of the settings on any node applies to the next challenge, without a read of its own per challenge.
    let s = await deps.challengeSettings();
    for (let attempt = 1; ; attempt++) {
      const now = deps.clock.now();
      const record: NonceRecord = {
        nonce,
        host,
        pcrSelection: s.settings.pcrSelection,
        createdAt: now,
        expiresAt: now + s.settings.nonceLifetimeSeconds * 1000,
      };
      const stored = await deps.store.putNonceIf(record, s.settingsJson);
      if (stored.ok) return c.json({ nonce: record.nonce, pcrSelection: record.pcrSelection, expiresAt: rfc3339(record.expiresAt) }, 201);
      if (attempt === MAX_CHALLENGE_ATTEMPTS) {
        throw new ProblemError("settings-changing", 503, `the settings changed ${attempt} times while this challenge was made: ask again`, { retryAfterSeconds: 1 });
      }
      s = await deps.challengeSettings(stored.stamp);
    }
  });

  app.post("/api/v1/hosts/:host/attestations", async (c) => {
    const host = hostParam(c.req.param("host"));
    const body = await readJson(c, AttestationRequest);
    const pcrs = pcrBanks(body.pcrs);
    const log = c.get("log");
    const now = deps.clock.now();

    // The nonce first: nothing is appraised without a live challenge of this host. It is only read here and spent
    // in the same transaction that records the attempt (one commit per attestation, not two); a request that
    // loses the race for it in between records nothing and gets the same refusal.
    // The nonce, the host's AK and the policy's stamp in one read.
    const inputs = await deps.store.attestationInputs(host, body.nonce, now);
    const live = inputs.nonce;
    if (!live.ok) throw nonceRefused(host, live, log);
    const enrolled = inputs.host;
    if (enrolled === undefined) {
      await deps.store.consumeNonce(host, body.nonce, now);
      const failures = [{ check: "ak-not-enrolled", detail: `${host} has no bound AK: enroll first` }];
      throw new ProblemError("attestation-failed", 403, `ak-not-enrolled: ${failures[0].detail}`, { failures });
    }

    const { settings, policy } = await deps.policyFor(live.value.pcrSelection, inputs.stamp);
    const verdict = appraise(
      {
        akPublic: enrolled.akPublic,
        quote: body.quote,
        signature: body.signature,
        pcrs,
        eventLog: body.eventLog,
        ...(body.bindingKey ? { bindingKey: body.bindingKey } : {}),
      },
      policy,
      fromHex(body.nonce),
    );
    // A UUIDv7: attempts' ids sort by time, like the rows they key (the id index grows at its end).
    const id = uuidV7(now);
    if (verdict.status !== "affirming") {
      const failures = verdict.failures.map(failureRecord);
      const foreign = isForeignEvidence(failures);
      const recorded = await deps.store.recordAttestation(
        {
          id,
          host,
          at: now,
          status: "contraindicated",
          failures,
          ...(verdict.image ? { image: verdict.image } : {}),
          ...(verdict.secureBoot !== undefined ? { secureBoot: verdict.secureBoot } : {}),
          ...(foreign ? { foreign: true } : {}),
        },
        body.nonce,
      );
      if (!recorded.ok) throw nonceRefused(host, recorded, log);
      if (!foreign) publishChange(deps, host, recorded.previous, "red", summarize(failures), now);
      log.info({ host, foreign, failures: failures.map((f) => f.check) }, foreign ? "attestation refused: the evidence is not the host's" : "attestation contraindicated");
      throw new ProblemError("attestation-failed", 403, summarize(failures), { failures });
    }

    const issued = await issueAttestationToken(deps, {
      host,
      nonce: body.nonce,
      enrolled,
      verdict,
      bindingKeyPublic: body.bindingKey?.public,
      lifetimeSeconds: settings.tokenLifetimeSeconds,
      now,
    });
    const record: AttestationRecord = {
      id,
      host,
      at: now,
      status: "affirming",
      failures: [],
      ...(verdict.image ? { image: verdict.image } : {}),
      ...(verdict.secureBoot !== undefined ? { secureBoot: verdict.secureBoot } : {}),
      tokenId: issued.jti,
      tokenExpiresAt: issued.expiresAt,
    };
    // The token is handed out only if this request spent the nonce.
    const recorded = await deps.store.recordAttestation(record, body.nonce);
    if (!recorded.ok) throw nonceRefused(host, recorded, log);
    publishChange(deps, host, recorded.previous, "green", `affirming${verdict.image ? ` (${verdict.image.name} ${verdict.image.version})` : ""}`, now);
    log.info({ host, image: verdict.image, jti: issued.jti }, "attestation affirming");
    return c.json({ status: "affirming", token: issued.token, expiresAt: rfc3339(issued.expiresAt) }, 200);
  });
}
