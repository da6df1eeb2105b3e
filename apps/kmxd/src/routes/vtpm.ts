/**
 * The Trust Authority's vTPM CA: the vTPMs of attested hosts get their EK certificate from it (issue #13: "signed
 * by the vTPM CA: the Trust Authority cluster's, or an imported third-party CA"). kmxd holds it because kmxd already
 * checks a host's attestation token for every secret it releases; the CA is made on first use, kept in kmxd's store
 * (its key wrapped by the master key, so every node of a cluster certifies with the same CA).
 *
 * - `GET /api/v1/vtpm/ca` → `{certificate}`: public, for whoever verifies a vTPM's EK certificate.
 * - `POST /api/v1/vtpm/ek-certificates` `{ekPublicKey, vm: {name, uuid}}` with the host's token → 201
 *   `{certificate, ca}`: a TCG EK certificate for that key (manufacturer `id:54455353`, "TESS"; model
 *   "Tessera vTPM"), for a host that is attested and not red; audited under the host's name.
 * Refusals as the host API's: 401 `token-invalid`/`token-expired`, 403 `host-untrusted`, 429 `rate-limited`, 400
 * `bad-request` naming the field.
 * @module
 */
import { createCa, issueEkCertificate, PkiError, type IssuingCa } from "@tessera/pki";
import { ProblemError, readJson, type ServiceEnv } from "@tessera/http";
import { tokenBucket } from "@tessera/key-provider";
import { Hono } from "hono";
import { z } from "zod";
import type { KmxdDeps } from "../deps.ts";
import { checkHostStatus, hostProblemResponse, takeHostRate, verifyHostToken, VerifiedTokens, type HostCaller } from "../host_auth.ts";

/** The TCG vendor id written into the vTPMs' EK certificates: "TESS". */
export const VTPM_MANUFACTURER = "id:54455353";
/** The model written into them. */
export const VTPM_MODEL = "Tessera vTPM";
/** The firmware version written into them. */
export const VTPM_VERSION = "id:00010000";
const KEYRING_ID = "vtpm-ca";

const EkBody = z.strictObject({
  ekPublicKey: z.string().startsWith("-----BEGIN PUBLIC KEY-----", "is not a SubjectPublicKeyInfo PEM").max(8192, "is over 8 KiB"),
  vm: z.strictObject({ name: z.string().min(1).max(63), uuid: z.string().uuid("is not a UUID") }),
});

/** The vTPM CA: read from the store, or made (by whichever node is first) and kept there. */
function vtpmCa(deps: KmxdDeps): () => Promise<IssuingCa> {
  let cached: Promise<IssuingCa> | undefined;
  const load = async (): Promise<IssuingCa> => {
    let rec = await deps.store.getVtpmCa();
    if (rec === undefined) {
      const made = await createCa({
        commonName: "Tessera vTPM CA",
        organization: "Tessera Trust Authority",
        keyAlgorithm: "ecdsa-p256",
        validityDays: 3650 * 3,
      });
      rec = await deps.store.putVtpmCaIfAbsent({
        certificate: made.certificatePem,
        keyWrapped: deps.keyring.wrap(KEYRING_ID, new TextEncoder().encode(made.privateKeyPem)),
        createdAt: deps.clock.now(),
      });
    }
    return { certificatePem: rec.certificate, privateKeyPem: new TextDecoder().decode(deps.keyring.unwrap(KEYRING_ID, rec.keyWrapped)) };
  };
  return () => {
    cached ??= load().catch((e: unknown) => {
      cached = undefined;
      throw e;
    });
    return cached;
  };
}

/** The vTPM routes, mounted on kmxd's service. */
export function vtpmRoutes(deps: KmxdDeps): Hono<ServiceEnv> {
  const app = new Hono<ServiceEnv>();
  const ca = vtpmCa(deps);
  const hostBucket = tokenBucket({ ratePerSecond: deps.config.hostRate, burst: Math.max(1, Math.ceil(deps.config.hostRate)) });
  const verified = new VerifiedTokens();

  app.get("/api/v1/vtpm/ca", async (c) => c.json({ certificate: (await ca()).certificatePem }));

  app.post("/api/v1/vtpm/ek-certificates", async (c) => {
    let caller: HostCaller | undefined;
    const audit = async (result: string, detail?: Record<string, unknown>): Promise<void> => {
      if (caller !== undefined) await deps.audit.record({ host: caller.host, operation: "vtpm.ek-certificate", result, ...(detail ? { detail } : {}) });
    };
    try {
      caller = await verifyHostToken(c.req.header("authorization"), {
        jwks: deps.attestdJwks,
        issuer: deps.config.attestd.issuer,
        now: deps.clock.now(),
        verified,
      });
      takeHostRate(hostBucket, caller.host, deps.config.hostRate, deps.clock.now());
      checkHostStatus(caller, deps.hostStatus);
      const body = await readJson(c, EkBody);
      let issued;
      try {
        issued = await issueEkCertificate(await ca(), {
          ekPublicKeyPem: body.ekPublicKey,
          manufacturer: VTPM_MANUFACTURER,
          model: VTPM_MODEL,
          version: VTPM_VERSION,
        });
      } catch (e) {
        // The key the host sent is at fault (the lib names the field); anything else is kmxd's own failure (500, logged).
        if (e instanceof PkiError && /ekPublicKeyPem/.test(e.message)) {
          throw new ProblemError("bad-request", 400, `bad request body field ekPublicKey: ${(e as Error).message}`, { field: "ekPublicKey" }, { cause: e });
        }
        throw e;
      }
      // Durable before it is answered, as every release to a host.
      await audit("ok", { vm: body.vm.name, uuid: body.vm.uuid });
      return c.json({ certificate: issued.certificatePem, ca: (await ca()).certificatePem }, 201);
    } catch (e) {
      if (!(e instanceof ProblemError)) throw e;
      if (caller !== undefined && e.code !== "rate-limited")
        await audit(e.code).catch((err: unknown) => c.get("log").error({ err }, "the audit row of a refused vTPM certificate could not be written"));
      return hostProblemResponse(e);
    }
  });
  return app;
}
