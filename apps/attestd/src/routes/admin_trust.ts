/**
 * TPM trust administration: manufacturer CAs (`/api/v1/tpm-cas`), their CRLs (`/api/v1/tpm-crls`) and
 * per-host EK pins (`/api/v1/ek-pins`).
 * @module
 */
import { createHash } from "node:crypto";
import { ProblemError, readJson, type ServiceEnv } from "@tessera/http";
import { ekFingerprint, parseCaBundle, type CaCertificate } from "@tessera/ek-trust";
import { parseEkCertificate } from "@tessera/pki";
import * as x509 from "@peculiar/x509";
import type { Hono } from "hono";
import type { CrlRecord, EkPinRecord, TpmCaRecord } from "../store/store.ts";
import { badField, compact, fromBase64, iso, notFound, principalOf, toBase64, type AdminContext } from "./admin_context.ts";
import { AddCrlRequest, AddTpmCasRequest, HostName, PutEkPinRequest } from "./admin_schemas.ts";

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * The DER of a PEM block of one of `types`, or of standard base64 text. Whitespace in base64 is allowed
 * (people paste wrapped lines).
 */
function pemOrBase64(text: string, types: readonly string[], field: string): Uint8Array {
  if (text.includes("-----BEGIN")) {
    const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
    for (const m of text.matchAll(re)) {
      if (!types.includes(m[1])) continue;
      const body = m[2].replace(/\s+/g, "");
      if (!BASE64.test(body)) throw badField(field, `the ${m[1]} PEM block is not base64`);
      return fromBase64(body);
    }
    throw badField(field, `no PEM block of type ${types.join(" or ")}`);
  }
  const body = text.replace(/\s+/g, "");
  if (body.length === 0 || !BASE64.test(body)) throw badField(field, "neither PEM nor base64 DER");
  return fromBase64(body);
}

function caView(r: TpmCaRecord, parsed: CaCertificate | undefined): Record<string, unknown> {
  return compact({
    id: r.id,
    subject: parsed?.subject ?? r.subject,
    issuer: parsed?.issuer,
    notBefore: parsed === undefined ? undefined : parsed.notBefore.toISOString(),
    notAfter: parsed === undefined ? undefined : parsed.notAfter.toISOString(),
    isRoot: parsed?.isRoot,
    addedAt: iso(r.addedAt),
  });
}

function parseStoredCa(r: TpmCaRecord): CaCertificate | undefined {
  try {
    return parseCaBundle(r.certificate)[0];
  } catch {
    // Stored before a stricter parser: list it by what the store knows rather than failing the whole list.
    return undefined;
  }
}

interface ParsedCrl {
  readonly der: Uint8Array;
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
}

function parseCrl(text: string): ParsedCrl {
  const der = pemOrBase64(text, ["X509 CRL", "CRL"], "crl");
  try {
    const crl = new x509.X509Crl(der.slice().buffer);
    return { der, issuer: crl.issuer, thisUpdate: crl.thisUpdate, ...(crl.nextUpdate === undefined ? {} : { nextUpdate: crl.nextUpdate }) };
  } catch (cause) {
    throw badField("crl", `not a certificate revocation list: ${(cause as Error).message}`, cause);
  }
}

function crlView(r: CrlRecord): Record<string, unknown> {
  let parsed: ParsedCrl | undefined;
  try {
    parsed = parseCrl(toBase64(r.crl));
  } catch {
    parsed = undefined;
  }
  return compact({
    id: r.id,
    issuer: r.issuer,
    thisUpdate: parsed?.thisUpdate.toISOString(),
    nextUpdate: parsed?.nextUpdate?.toISOString(),
    addedAt: iso(r.addedAt),
  });
}

function pinView(p: EkPinRecord): Record<string, unknown> {
  return compact({
    host: p.host,
    ekFingerprint: p.ekFingerprint,
    ekCertificate: p.certificate === undefined ? undefined : toBase64(p.certificate),
    ekPublic: p.ekPublic === undefined ? undefined : toBase64(p.ekPublic),
    addedAt: iso(p.addedAt),
  });
}

/** Registers the TPM trust routes on `app`. */
export function trustRoutes(app: Hono<ServiceEnv>, ctx: AdminContext): void {
  const { deps } = ctx;

  app.get("/api/v1/tpm-cas", ctx.read, async (c) => {
    const cas = await deps.store.listTpmCas();
    return c.json({ cas: cas.map((r) => caView(r, parseStoredCa(r))) });
  });

  app.post("/api/v1/tpm-cas", ctx.write, async (c) => {
    const body = await readJson(c, AddTpmCasRequest);
    let bundle: CaCertificate[];
    try {
      bundle = parseCaBundle(body.certificates);
    } catch (cause) {
      throw badField("certificates", (cause as Error).message, cause);
    }
    // Every certificate parsed before any is stored: a bad bundle adds nothing.
    const now = deps.clock.now();
    const added: Record<string, unknown>[] = [];
    const existing: string[] = [];
    for (const ca of bundle) {
      const record: TpmCaRecord = { id: sha256Hex(ca.certificate), certificate: ca.certificate, subject: ca.subject, addedAt: now };
      if (await deps.store.addTpmCa(record)) added.push(caView(record, ca));
      else existing.push(record.id);
    }
    if (added.length > 0) {
      await ctx.audit.record(principalOf(c), "tpm-ca.add", added.length === 1 ? String(added[0].id) : `${added.length} CAs`, {
        ids: added.map((a) => a.id),
        subjects: added.map((a) => a.subject),
      });
    }
    return c.json({ added, existing }, 201);
  });

  app.delete("/api/v1/tpm-cas/:id", ctx.write, async (c) => {
    const id = c.req.param("id").toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(id)) throw new ProblemError("bad-request", 400, "a TPM CA id is the SHA-256 of its DER (64 hex digits)");
    if (!(await deps.store.removeTpmCa(id))) throw notFound(`no trusted TPM CA ${id}`);
    await ctx.audit.record(principalOf(c), "tpm-ca.remove", id);
    return c.json({ removed: id });
  });

  app.get("/api/v1/tpm-crls", ctx.read, async (c) => {
    const crls = await deps.store.listCrls();
    return c.json({ crls: crls.map(crlView) });
  });

  app.post("/api/v1/tpm-crls", ctx.write, async (c) => {
    const body = await readJson(c, AddCrlRequest);
    const parsed = parseCrl(body.crl);
    const record: CrlRecord = { id: sha256Hex(parsed.der), crl: parsed.der, issuer: parsed.issuer, addedAt: deps.clock.now() };
    const added = await deps.store.addCrl(record);
    if (added) await ctx.audit.record(principalOf(c), "tpm-crl.add", record.id, { issuer: record.issuer });
    return c.json({ crl: crlView(record), added }, 201);
  });

  app.delete("/api/v1/tpm-crls/:id", ctx.write, async (c) => {
    const id = c.req.param("id").toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(id)) throw new ProblemError("bad-request", 400, "a CRL id is the SHA-256 of its DER (64 hex digits)");
    if (!(await deps.store.removeCrl(id))) throw notFound(`no CRL ${id}`);
    await ctx.audit.record(principalOf(c), "tpm-crl.remove", id);
    return c.json({ removed: id });
  });

  app.get("/api/v1/ek-pins", ctx.read, async (c) => {
    const pins = await deps.store.listEkPins();
    return c.json({ pins: pins.map(pinView) });
  });

  app.post("/api/v1/ek-pins", ctx.write, async (c) => {
    const body = await readJson(c, PutEkPinRequest);
    let certificate: Uint8Array | undefined;
    let certFingerprint: string | undefined;
    if (body.ekCertificate !== undefined) {
      certificate = pemOrBase64(body.ekCertificate, ["CERTIFICATE"], "ekCertificate");
      try {
        const cert = parseEkCertificate(certificate);
        if (cert.isCa) throw badField("ekCertificate", "is a CA certificate, not an EK certificate (add CAs with POST /api/v1/tpm-cas)");
        certFingerprint = sha256Hex(cert.publicKeyDer);
      } catch (cause) {
        if (cause instanceof ProblemError) throw cause;
        throw badField("ekCertificate", (cause as Error).message, cause);
      }
    }
    let ekPublic: Uint8Array | undefined;
    let keyFingerprint: string | undefined;
    if (body.ekPublic !== undefined) {
      ekPublic = fromBase64(body.ekPublic);
      try {
        keyFingerprint = ekFingerprint(ekPublic);
      } catch (cause) {
        throw badField("ekPublic", (cause as Error).message, cause);
      }
    }
    if (certFingerprint !== undefined && keyFingerprint !== undefined && certFingerprint !== keyFingerprint) {
      throw new ProblemError("ek-mismatch", 400, "ekCertificate and ekPublic are not the same key", { field: "ekPublic" });
    }
    const pin: EkPinRecord = {
      host: body.host,
      ...(certificate === undefined ? {} : { certificate }),
      ...(ekPublic === undefined ? {} : { ekPublic }),
      ekFingerprint: certFingerprint ?? keyFingerprint ?? "",
      addedAt: deps.clock.now(),
    };
    await deps.store.putEkPin(pin);
    await ctx.audit.record(principalOf(c), "ek-pin.put", pin.host, {
      ekFingerprint: pin.ekFingerprint,
      via: certificate === undefined ? "key" : "certificate",
    });
    return c.json({ pin: pinView(pin) }, 201);
  });

  app.delete("/api/v1/ek-pins/:host", ctx.write, async (c) => {
    const host = HostName.safeParse(c.req.param("host"));
    if (!host.success) throw new ProblemError("bad-request", 400, "a host name is 1-253 characters of a-z 0-9 . -");
    if (!(await deps.store.removeEkPin(host.data))) throw notFound(`no EK pin for host ${host.data}`);
    await ctx.audit.record(principalOf(c), "ek-pin.remove", host.data);
    return c.json({ removed: host.data });
  });
}
