/**
 * kmxd's configuration: command-line flags over `KMXD_*` environment variables over an optional JSON file
 * (`--config F`), validated once into a frozen object. A bad value fails the start naming the field and where it
 * came from.
 * @module
 */

/** The validated, frozen configuration. */
export interface KmxdConfig {
  /** Where to listen for HTTPS. */
  readonly listen: { readonly host: string; readonly port: number };
  /** The data directory (TLS, master key, SQLite database). */
  readonly dataDir: string;
  /** A PostgreSQL URL for several nodes; absent: SQLite in the data directory. */
  readonly database?: string;
  /** kmxd's public URL. Default `https://<listen>`. */
  readonly publicUrl: string;
  /** The master key file (default `<dataDir>/master.key`). */
  readonly masterKeyFile: string;
  /** pino level. */
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** attestd: its URL, the CA of its TLS (PEM, read from `--attestd-ca`), the tokens' issuer and kmxd's account. */
  readonly attestd: {
    readonly url: string;
    readonly ca: string;
    /** The `iss` of attestd's tokens (EARs and admin tokens). Default: `url`. */
    readonly issuer: string;
    /** The account kmxd signs in with to read attestd's events. */
    readonly user?: string;
    /** Its password (read from `--attestd-password-file`). */
    readonly password?: string;
  };
  /** Requests per second per host (token bucket, burst 2×). */
  readonly hostRate: number;
  /** Requests per second per provider (token bucket, burst 2×). */
  readonly providerRate: number;
  /** An external OIDC issuer whose tokens the admin API accepts too. */
  readonly oidc?: { readonly issuer: string; readonly audience?: string; readonly ca?: string };
}
