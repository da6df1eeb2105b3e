/**
 * Discover Versions and Query.
 * @module
 */
import { children, enumName, enumValue, int, item, struct, type Ttlv } from "@tessera/kmip";
import type { Handler } from "../context.ts";

/** Protocol versions this server speaks, most preferred first. */
export const SUPPORTED_VERSIONS = [
  { major: 2, minor: 1 },
  { major: 2, minor: 0 },
  { major: 1, minor: 4 },
  { major: 1, minor: 3 },
  { major: 1, minor: 2 },
  { major: 1, minor: 1 },
  { major: 1, minor: 0 },
] as const;

/** Whether a version is spoken here. */
export function isSupported(v: { major: number; minor: number }): boolean {
  return SUPPORTED_VERSIONS.some((s) => s.major === v.major && s.minor === v.minor);
}

function versionItem(v: { major: number; minor: number }): Ttlv {
  return struct("ProtocolVersion", [item("ProtocolVersionMajor", v.major), item("ProtocolVersionMinor", v.minor)]);
}

/** Discover Versions: the client's versions this server supports, in the client's order; all when none given. */
export const discoverVersions: Handler = async (_ctx, payload) => {
  const asked = children(payload, "ProtocolVersion").map((p) => ({ major: int(p, "ProtocolVersionMajor") ?? -1, minor: int(p, "ProtocolVersionMinor") ?? -1 }));
  const list = asked.length === 0 ? [...SUPPORTED_VERSIONS] : asked.filter(isSupported);
  return list.map(versionItem);
};

/** Operations answered by this server (set by the dispatcher). */
let operations: number[] = [];
/** Records the operations the dispatcher implements, for Query. */
export function setQueryOperations(ops: number[]): void {
  operations = ops;
}

/** Query: operations, object types, server information. */
export const query: Handler = async (_ctx, payload) => {
  const fns = children(payload, "QueryFunction").map((f) => enumName("QueryFunction", f.value as number));
  const out: Ttlv[] = [];
  if (fns.includes("QueryOperations")) out.push(...operations.map((o) => item("Operation", o)));
  if (fns.includes("QueryObjects")) {
    for (const t of ["Certificate", "SymmetricKey", "PublicKey", "PrivateKey", "SecretData", "OpaqueObject"])
      out.push(item("ObjectType", enumValue("ObjectType", t)));
  }
  if (fns.includes("QueryServerInformation")) {
    out.push(item("VendorIdentification", "Tessera kmipd"));
    out.push(struct("ServerInformation", []));
  }
  return out;
};
