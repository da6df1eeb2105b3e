/**
 * PROTOCOL.md §1: enrollment binds a host's AK to its trusted EK. The host sends its EK (certificate and/or
 * public area) and its AK's public area; attestd checks the EK, answers MakeCredential(EK, AK Name, secret)
 * in tpm2-tools' credential file format, and binds the AK once the host shows the secret it recovered with
 * ActivateCredential (which only the TPM holding both keys can do).
 * @module
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { checkEk, type EkRefused } from "@tessera/ek-trust";
import { ProblemError, readJson, type ServiceEnv } from "@tessera/http";
import { encodeCredentialFile, makeCredential, objectName, TPMA_OBJECT, toHex, unmarshalPublic, type TpmtPublic } from "@tessera/tpm2";
import type { Hono } from "hono";
import { z } from "zod";
import type { AttestdDeps } from "../deps.ts";
import { base64Bytes, base64NonEmpty, hostParam, rfc3339, toBase64 } from "../wire.ts";

const EnrollmentRequest = z.object({
  ekCertificate: base64NonEmpty.optional(),
  ekPublic: base64NonEmpty.optional(),
  akPublic: base64NonEmpty,
});

const ActivationRequest = z.object({ secret: base64Bytes });

/** PROTOCOL.md: a restricted signing key with fixedTPM, fixedParent and sensitiveDataOrigin (and not a decryption key). */
const AK_REQUIRED: readonly [keyof typeof TPMA_OBJECT, boolean][] = [
  ["restricted", true],
  ["sign", true],
  ["decrypt", false],
  ["fixedTPM", true],
  ["fixedParent", true],
  ["sensitiveDataOrigin", true],
];

/** The credential secret's size: 32 random bytes (the EK's SHA-256 nameAlg digest size bounds it). */
const SECRET_BYTES = 32;

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(b).digest());
}

/**
 * Decodes the AK and checks its attributes.
 * @throws ProblemError 400 `ak-attributes` naming each wrong attribute, or why the public area does not decode.
 */
function checkAk(bytes: Uint8Array): TpmtPublic {
  let ak: TpmtPublic;
  try {
    ak = unmarshalPublic(bytes);
  } catch (e) {
    throw new ProblemError("ak-attributes", 400, `akPublic does not decode as a TPM2B_PUBLIC: ${(e as Error).message}`, undefined, { cause: e });
  }
  const bad = AK_REQUIRED.filter(([bit, set]) => ((ak.objectAttributes & TPMA_OBJECT[bit]) !== 0) !== set).map(([bit, set]) => `${bit} ${set ? "clear" : "set"}`);
  if (bad.length > 0) throw new ProblemError("ak-attributes", 400, `the AK is not a restricted, fixed signing key: ${bad.join(", ")}`);
  return ak;
}

/** The HTTP status of each EK refusal: untrusted or unpinned EKs are forbidden, inconsistent input is a bad request. */
export function ekProblem(v: EkRefused): ProblemError {
  const status = v.code === "ek-untrusted" || v.code === "ek-not-pinned" ? 403 : 400;
  return new ProblemError(v.code, status, v.detail, { reason: v.reason });
}

/** Mounts `POST /api/v1/hosts/{host}/enrollments` and `…/enrollments/{id}/activation`. */
export function enrollmentRoutes(app: Hono<ServiceEnv>, deps: AttestdDeps): void {
  app.post("/api/v1/hosts/:host/enrollments", async (c) => {
    const host = hostParam(c.req.param("host"));
    const body = await readJson(c, EnrollmentRequest);
    if (body.ekCertificate === undefined && body.ekPublic === undefined) {
      throw new ProblemError("bad-request", 400, "send ekCertificate, ekPublic or both");
    }
    const ak = checkAk(body.akPublic);
    const [settings, cas, crls, pin] = await Promise.all([deps.settings(), deps.store.listTpmCas(), deps.store.listCrls(), deps.store.getEkPin(host)]);
    const now = deps.clock.now();
    const verdict = await checkEk(
      { host, ...(body.ekCertificate ? { ekCertificate: body.ekCertificate } : {}), ...(body.ekPublic ? { ekPublic: body.ekPublic } : {}) },
      {
        mode: settings.ekTrustMode,
        cas: cas.map((x) => x.certificate),
        crls: crls.map((x) => x.crl),
        ...(pin ? { pin: { ...(pin.certificate ? { certificate: pin.certificate } : {}), ...(pin.ekPublic ? { ekPublic: pin.ekPublic } : {}) } } : {}),
      },
      new Date(now),
    );
    if (!verdict.ok) {
      c.get("log").info({ host, code: verdict.code, reason: verdict.reason }, "enrollment refused");
      throw ekProblem(verdict);
    }
    const akNameBytes = objectName(ak);
    const secret = new Uint8Array(randomBytes(SECRET_BYTES));
    let credential: Uint8Array;
    try {
      credential = encodeCredentialFile(makeCredential(verdict.ekPublic, akNameBytes, secret));
    } catch (e) {
      // An EK the TPM could not use for ActivateCredential (e.g. a symmetric scheme other than AES-CFB).
      throw new ProblemError("ek-malformed", 400, `no credential can be made to this EK: ${(e as Error).message}`, undefined, { cause: e });
    }
    const id = randomUUID();
    const expiresAt = now + settings.enrollmentLifetimeSeconds * 1000;
    await deps.store.putEnrollment({
      id,
      host,
      akPublic: body.akPublic,
      akName: toHex(akNameBytes),
      ekPublic: verdict.ekPublicBytes,
      ekFingerprint: verdict.fingerprint,
      ...(body.ekCertificate ? { ekCertificate: body.ekCertificate } : {}),
      ...(verdict.anchorFingerprint !== undefined ? { ekCa: verdict.anchorFingerprint } : {}),
      secretHash: sha256(secret),
      createdAt: now,
      expiresAt,
    });
    c.get("log").info({ host, enrollment: id, via: verdict.via, ekFingerprint: verdict.fingerprint }, "enrollment challenge issued");
    return c.json({ enrollment: id, credential: toBase64(credential), expiresAt: rfc3339(expiresAt) }, 201);
  });

  app.post("/api/v1/hosts/:host/enrollments/:id/activation", async (c) => {
    const host = hostParam(c.req.param("host"));
    const id = c.req.param("id");
    const { secret } = await readJson(c, ActivationRequest);
    const now = deps.clock.now();
    // Consumed before the comparison: a wrong answer spends the enrollment, so the secret cannot be guessed at.
    const r = await deps.store.consumeEnrollment(host, id, now);
    if (!r.ok) {
      if (r.reason === "expired") throw new ProblemError("enrollment-expired", 410, `enrollment ${id} of ${host} expired at ${r.value ? rfc3339(r.value.expiresAt) : "an earlier time"}`);
      if (r.reason === "used") throw new ProblemError("enrollment-used", 409, `enrollment ${id} of ${host} was answered already; start a new enrollment`);
      throw new ProblemError("enrollment-unknown", 404, `no enrollment ${id} for host ${host}`);
    }
    const e = r.value;
    const given = sha256(secret);
    if (given.length !== e.secretHash.length || !timingSafeEqual(given, e.secretHash)) {
      c.get("log").warn({ host, enrollment: id }, "credential mismatch");
      throw new ProblemError("credential-mismatch", 403, `the secret is not the one protected to ${host}'s EK for its AK: the AK and the EK are not in one TPM`);
    }
    const before = await deps.store.getHostStatus(host, now);
    await deps.store.putHost({
      host,
      akPublic: e.akPublic,
      akName: e.akName,
      ekPublic: e.ekPublic,
      ekFingerprint: e.ekFingerprint,
      ...(e.ekCertificate ? { ekCertificate: e.ekCertificate } : {}),
      ...(e.ekCa !== undefined ? { ekCa: e.ekCa } : {}),
      enrolledAt: now,
    });
    const after = await deps.store.getHostStatus(host, now);
    if (after && after.status !== (before?.status ?? "unknown")) {
      deps.events.publish({ host, status: after.status, previous: before?.status ?? "unknown", at: now, message: after.message });
    }
    c.get("log").info({ host, akName: e.akName }, "AK bound");
    return c.json({ akName: e.akName }, 200);
  });
}
