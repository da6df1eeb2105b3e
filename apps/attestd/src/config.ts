/**
 * attestd's configuration: command-line flags, optionally an environment and a JSON file, validated once
 * and frozen. (The parser follows; the type is what every other module reads.)
 * @module
 */

/** The validated, frozen configuration. */
export interface AttestdConfig {
  /** Where to listen for HTTPS. */
  readonly listen: { readonly host: string; readonly port: number };
  /** The data directory (TLS, master key, SQLite database, admin password). */
  readonly dataDir: string;
  /** A PostgreSQL URL for several nodes; absent: SQLite in the data directory. */
  readonly database?: string;
  /** The cluster's public URL: the tokens' `iss`. Default `https://<listen>`. */
  readonly publicUrl: string;
  /** The master key file (default `<dataDir>/master.key`). */
  readonly masterKeyFile: string;
  /** pino level. */
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
}
