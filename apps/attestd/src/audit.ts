/**
 * The audit trail: every change made through the admin API is recorded with who made it, what, when and on
 * what, in the store (so every node sees the same trail) and in the log.
 * @module
 */
import type { Principal } from "@tessera/http";
import type { Logger } from "pino";
import type { AttestdStore, AuditRecord } from "./store/store.ts";

/** The actions the admin API audits (stable names; tactl and the console show them). */
export const AUDIT_ACTIONS = [
  "account.add",
  "account.remove",
  "tpm-ca.add",
  "tpm-ca.remove",
  "tpm-crl.add",
  "tpm-crl.remove",
  "ek-pin.put",
  "ek-pin.remove",
  "image.add",
  "image.remove",
  "host.remove",
  "settings.update",
  "signing-key.rotate",
] as const;

/** One of {@link AUDIT_ACTIONS}. */
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * How a principal is named in the trail: the subject alone for attestd's own accounts (issuer `localIssuer`),
 * `subject (issuer)` for an external OIDC issuer's, so that `admin` of attestd and `admin` of an identity
 * provider are never confused.
 */
export function actorName(principal: Principal, localIssuer: string): string {
  return principal.issuer === localIssuer ? principal.subject : `${principal.subject} (${principal.issuer})`;
}

/** What {@link createAuditor} returns. */
export interface Auditor {
  /** Records one change, after it was made. */
  record(principal: Principal, action: AuditAction, target: string, details?: Readonly<Record<string, unknown>>): Promise<void>;
}

/**
 * An auditor writing to `store` (and the log), stamping each entry with `clock.now()`.
 * @example
 * ```ts
 * const audit = createAuditor({ store, clock, logger, localIssuer: config.publicUrl });
 * await audit.record(principal, "image.add", "debian-12@3", { source: "eventLog" });
 * ```
 */
export function createAuditor(options: {
  readonly store: AttestdStore;
  readonly clock: { now(): number };
  readonly logger: Logger;
  readonly localIssuer: string;
}): Auditor {
  return {
    async record(principal, action, target, details): Promise<void> {
      const entry: Omit<AuditRecord, "id"> = {
        at: options.clock.now(),
        actor: actorName(principal, options.localIssuer),
        action,
        target,
        ...(details === undefined ? {} : { details }),
      };
      await options.store.addAudit(entry);
      options.logger.info({ audit: entry }, "audit");
    },
  };
}
