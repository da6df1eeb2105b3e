/**
 * Text output of `tactl kp`: the providers as a table, one provider as a listing with its key versions, the
 * trusted clusters and their rules. `--json` prints kmxd's documents as they came; these read only the members
 * they show, and print "-" for one that is absent.
 * @module
 */
import { X509Certificate } from "node:crypto";
import { plain, shortTime, table } from "./ta_format.ts";
import { arr, type Json } from "./values.ts";


/** kmxd's client certificate (PEM) of a provider: its subject on one line and its expiry; undefined when absent or unreadable. */
export function certificateSummary(pem: unknown): { subject: string; notAfter: string } | undefined {
  if (typeof pem !== "string") return undefined;
  try {
    const c = new X509Certificate(pem);
    return { subject: c.subject.split("\n").join(", "), notAfter: new Date(c.validTo).toISOString() };
  } catch {
    return undefined;
  }
}

/** A time as kmxd gives it (RFC 3339, or epoch milliseconds) as `YYYY-MM-DD HH:MM:SSZ`; "-" when absent. */
export function kpTime(v: unknown): string {
  return shortTime(typeof v === "number" && Number.isFinite(v) ? new Date(v).toISOString() : v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}

/** A provider's key versions, oldest first. */
export function versionsOf(p: Json): Json[] {
  return arr(p.versions).sort((a, b) => Number(a.version) - Number(b.version));
}

/** The provider's current key version: its `currentVersion`, else its highest version. */
export function currentVersion(p: Json): Json | undefined {
  const versions = versionsOf(p);
  const n = p.currentVersion ?? p.version;
  return versions.find((v) => v.version === n) ?? versions[versions.length - 1];
}

/** The wrap mode of new wrapped keys: the provider's `mode`/`wrapMode`, else its current version's. */
export function modeOf(p: Json): string {
  const m = p.mode ?? p.wrapMode ?? currentVersion(p)?.mode;
  return m === undefined ? "-" : String(m);
}

/** The providers: name, current key version and key id, mode, KMIP servers (in order), granted clusters. */
export function providerTable(providers: readonly Json[]): string {
  if (providers.length === 0) return "no key provider\n";
  return table(
    ["NAME", "VERSION", "KEY ID", "MODE", "KMIP SERVERS", "CLUSTERS"],
    providers.map((p) => {
      const cur = currentVersion(p);
      const grants = strings(p.grants);
      return [
        plain(p.name),
        cur === undefined ? "-" : plain(cur.version),
        cur === undefined ? "-" : plain(cur.keyId),
        modeOf(p),
        strings(p.kmipServers).join(",") || "-",
        grants.length === 0 ? "(none)" : grants.join(", "),
      ];
    }),
  );
}

/** One provider: its servers, mode, grants and times, then each key version (the current one marked). */
export function providerListing(p: Json): string {
  const cur = currentVersion(p);
  const grants = strings(p.grants);
  const lines = [
    `provider ${plain(p.name)}`,
    `  kmip servers  ${strings(p.kmipServers).join(", ") || "-"}`,
    `  mode          ${modeOf(p)}`,
    `  clusters      ${grants.length === 0 ? "(none: it serves no host until granted)" : grants.join(", ")}`,
  ];
  const cert = certificateSummary(p.clientCertificate);
  if (cert !== undefined) lines.push(`  client cert   ${cert.subject} (expires ${kpTime(cert.notAfter)})`);
  lines.push(`  created       ${kpTime(p.createdAt)}`, `  updated       ${kpTime(p.updatedAt)}`, "");
  const versions = versionsOf(p);
  if (versions.length === 0) return lines.join("\n") + "\n  no key version\n";
  return (
    lines.join("\n") +
    "\n" +
    table(
      ["VERSION", "MODE", "CREATED", "KEY ID"],
      versions.map((v) => [`${plain(v.version)}${v === cur ? " (current)" : ""}`, plain(v.mode), kpTime(v.createdAt), plain(v.keyId)]),
    )
  );
}

/** One cluster rule in words: `host GLOB`, `ek FINGERPRINT`, `tpm-ca SHA256` (AND-ed when a rule has several). */
export function ruleText(r: Json): string {
  const parts: string[] = [];
  if (r.host !== undefined) parts.push(`host ${plain(r.host)}`);
  if (r.ekFingerprint !== undefined) parts.push(`ek ${plain(r.ekFingerprint)}`);
  if (r.tpmCa !== undefined) parts.push(`tpm-ca ${plain(r.tpmCa)}`);
  return parts.length === 0 ? JSON.stringify(r) : parts.join(" and ");
}

/** The trusted clusters: one line per rule (a host in a cluster when any of its rules matches). */
export function clusterTable(clusters: readonly Json[]): string {
  if (clusters.length === 0) return "no trusted cluster besides default\n";
  const rows: string[][] = [];
  for (const c of clusters) {
    const rules = arr(c.rules);
    if (rules.length === 0) rows.push([plain(c.name), c.name === "default" || c.implicit === true ? "(every host no other cluster claims)" : "(no rule)"]);
    rules.forEach((r, i) => rows.push([i === 0 ? plain(c.name) : "", ruleText(r)]));
  }
  return table(["CLUSTER", "RULES (ANY MATCHES)"], rows);
}

/** `s` cut to `max` characters with an ellipsis: a table line stays readable (`--json` has everything). */
function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** kmxd's audit trail, newest first: when, who (administrator or host), provider and key version, operation, result, details. */
export function auditTable(entries: readonly Json[]): string {
  if (entries.length === 0) return "no audit entry\n";
  return table(
    ["AT", "WHO", "PROVIDER", "KV", "OPERATION", "RESULT", "DETAILS"],
    entries.map((e) => [
      kpTime(e.at),
      e.host !== undefined ? `host ${plain(e.host)}` : plain(e.actor),
      plain(e.provider),
      plain(e.keyVersion),
      plain(e.operation),
      plain(e.result),
      e.detail === undefined ? "" : clip(JSON.stringify(e.detail), 100),
    ]),
  );
}
