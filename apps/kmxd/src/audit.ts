/**
 * The audit trail: every key operation (host, provider, key version, operation, result, time) and every change
 * made through the admin API (actor, what, result), in the store (so every node sees the same trail) and in the
 * log. A row is committed before the answer that it records is sent.
 * @module
 */
import type { Principal } from "@tessera/http";
import type { Logger } from "pino";
import type { AuditEntry, Auditor } from "./deps.ts";
import type { KmxdStore } from "./store/store.ts";

/** The admin operations kmxd audits (stable names; tactl and the console show them). */
export const ADMIN_OPERATIONS = [
  "trust-setup.create",
  "provider.create",
  "provider.remove",
  "provider.rotate",
  "provider.rewrap",
  "grant.add",
  "grant.remove",
  "cluster.put",
  "cluster.remove",
] as const;

/**
 * How an administrator is named in the trail: the subject alone for attestd's own accounts (issuer
 * `attestdIssuer`), `subject (issuer)` for an external OIDC issuer's, so the two `admin`s are never confused.
 */
export function actorName(principal: Principal, attestdIssuer: string): string {
  return principal.issuer === attestdIssuer ? principal.subject : `${principal.subject} (${principal.issuer})`;
}

/**
 * An auditor writing to `store` (and the log), stamping each entry with `clock.now()`.
 * @example
 * ```ts
 * const audit = createAuditor({ store, clock, logger });
 * await audit.record({ host: "esx-01", provider: "kms-1", keyVersion: 2, operation: "unwrap", result: "ok" });
 * ```
 */
export function createAuditor(options: { readonly store: KmxdStore; readonly clock: { now(): number }; readonly logger: Logger }): Auditor {
  return {
    async record(entry: AuditEntry): Promise<void> {
      const row = { at: options.clock.now(), ...entry };
      await options.store.addAudit(row);
      options.logger.info({ audit: row }, "audit");
    },
  };
}
