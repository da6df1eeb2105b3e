/**
 * Release policy: which trusted cluster a host belongs to, and whether a cluster may use a provider. Pure
 * functions over the administrator's cluster definitions and a provider's grants.
 * @module
 */

/** Every host that no cluster's rule places elsewhere is in this cluster. */
export const DEFAULT_CLUSTER = "default";

/**
 * One way to recognise a cluster's hosts. Every field given must match (a rule with no field matches no host):
 * `host` against the token's `sub` (a glob where `*` is any run of characters, case-insensitive as host names are),
 * `ekFingerprint` the host's EK fingerprint, `tpmCa` the SHA-256 (hex) of the DER of the CA that issued its EK
 * certificate. Hex compares ignoring case and `:` separators.
 */
export interface ClusterRule {
  host?: string;
  ekFingerprint?: string;
  tpmCa?: string;
}

/** A trusted cluster: a name and the rules that recognise its hosts. */
export interface TrustedCluster {
  name: string;
  rules: ClusterRule[];
}

/** What of a host's attestation the rules look at. */
export interface ClusterClaims {
  /** The token's subject: the host's name. */
  sub: string;
  /** SHA-256 (hex) of the host's EK public key (SPKI DER). */
  ekFingerprint: string;
  /** SHA-256 (hex) of the DER of the CA that issued the host's EK certificate, when it has one. */
  ekCa?: string;
}

/**
 * The cluster of a host: the first cluster, in name order, with a rule that matches it, else `"default"`.
 * @example clusterOf({ sub: "esx-7.lab", ekFingerprint: "ab…" }, [{ name: "lab", rules: [{ host: "*.lab" }] }]) // "lab"
 */
export function clusterOf(claims: ClusterClaims, clusters: readonly TrustedCluster[]): string {
  const sorted = [...clusters].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const c of sorted) if (c.rules.some((r) => ruleMatches(r, claims))) return c.name;
  return DEFAULT_CLUSTER;
}

/** Whether a provider whose grants are `grants` (cluster names) may serve `cluster`. */
export function mayUse(grants: readonly string[], cluster: string): boolean {
  return grants.includes(cluster);
}

function ruleMatches(r: ClusterRule, c: ClusterClaims): boolean {
  if (r.host === undefined && r.ekFingerprint === undefined && r.tpmCa === undefined) return false;
  if (r.host !== undefined && !globMatch(r.host.toLowerCase(), c.sub.toLowerCase())) return false;
  if (r.ekFingerprint !== undefined && hex(r.ekFingerprint) !== hex(c.ekFingerprint)) return false;
  if (r.tpmCa !== undefined && (c.ekCa === undefined || hex(r.tpmCa) !== hex(c.ekCa))) return false;
  return true;
}

function hex(s: string): string {
  return s.replace(/[:\s]/g, "").toLowerCase();
}

/** `*` matches any run of characters; nothing else is special. Linear backtracking, no regular expression. */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== "*" && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}
