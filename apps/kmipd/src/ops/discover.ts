/**
 * Discover Versions and Query.
 * @module
 */
import { children, childrenOf, enumName, enumValue, hasEnumValue, int, item, type KmipVersion, struct, type Ttlv } from "@tessera/kmip";
import type { Handler } from "../context.ts";
import { serverRngAttribute } from "../random.ts";

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

/**
 * The KMIP profiles this server claims in Query (Query Profiles), each with the prefix of its OASIS test cases:
 * exactly the profiles whose mandatory cases all pass. The kmip-conformance acceptance test asks kmipd for its
 * profiles and runs every mandatory case of each, so a claim cannot outlive its cases.
 */
export const CLAIMED_PROFILES: readonly { cases: string; kmip1_3: string; kmip1_4: string; kmip2: string }[] = [
  { cases: "BL-M", kmip1_3: "BaselineServerTLSV1_2KMIPV1_3", kmip1_4: "BaselineServerTLSV1_2KMIPV1_4", kmip2: "BaselineServer" },
  { cases: "SKLC-M", kmip1_3: "SymmetricKeyLifecycleServerKMIPV1_3", kmip1_4: "SymmetricKeyLifecycleServerKMIPV1_4", kmip2: "SymmetricKeyLifecycleServer" },
  { cases: "AKLC-M", kmip1_3: "AsymmetricKeyLifecycleServerKMIPV1_3", kmip1_4: "AsymmetricKeyLifecycleServerKMIPV1_4", kmip2: "AsymmetricKeyLifecycleServer" },
  { cases: "CS-BC-M", kmip1_3: "BasicCryptographicServerKMIPV1_3", kmip1_4: "BasicCryptographicServerKMIPV1_4", kmip2: "BasicCryptographicServer" },
  { cases: "CS-AC-M", kmip1_3: "AdvancedCryptographicServerKMIPV1_3", kmip1_4: "AdvancedCryptographicServerKMIPV1_4", kmip2: "AdvancedCryptographicServer" },
  { cases: "CS-RNG-M", kmip1_3: "RNGCryptographicServerKMIPV1_3", kmip1_4: "RNGCryptographicServerKMIPV1_4", kmip2: "RNGCryptographicServer" },
  {
    cases: "OMOS-M",
    kmip1_3: "OpaqueManagedObjectStoreServerKMIPV1_3",
    kmip1_4: "OpaqueManagedObjectStoreServerKMIPV1_4",
    kmip2: "OpaqueManagedObjectStoreServer",
  },
];

/** The Profile Name of a claimed profile in `version` (none before KMIP 1.3, which has no Query Profiles). */
export function profileName(p: (typeof CLAIMED_PROFILES)[number], version: KmipVersion): string | undefined {
  if (version.major >= 2) return p.kmip2;
  if (version.minor >= 4) return p.kmip1_4;
  return version.minor === 3 ? p.kmip1_3 : undefined;
}

/**
 * Query Capabilities (1.3+): Encrypt and Decrypt can be streamed; no asynchronous or attested operations; batches may be undone or
 * continued after a failure (1.4+); Destroy deletes the key material and keeps the metadata; keys come from
 * OpenSSL's one process-wide DRBG.
 */
function capabilities(version: KmipVersion): Ttlv {
  const since14 = version.major >= 2 || version.minor >= 4;
  return struct("CapabilityInformation", [
    item("StreamingCapability", true),
    item("AsynchronousCapability", false),
    item("AttestationCapability", false),
    since14 && item("BatchUndoCapability", true),
    since14 && item("BatchContinueCapability", true),
    item("UnwrapMode", "Unspecified"),
    item("DestroyAction", "KeyMaterialDeleted"),
    item("ShreddingAlgorithm", "Unspecified"),
    item("RNGMode", "SharedInstantiation"),
  ]);
}

/** Query: operations, object types, server information, profiles, capabilities and random number generators. */
export const query: Handler = async (ctx, payload) => {
  const fns = children(payload, "QueryFunction")
    .map((f) => f.value as number)
    .filter((v) => hasEnumValue("QueryFunction", v))
    .map((v) => enumName("QueryFunction", v));
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
  const v13 = ctx.version.major >= 2 || ctx.version.minor >= 3;
  if (fns.includes("QueryRNGs") && v13) out.push(struct("RNGParameters", childrenOf(serverRngAttribute())));
  if (fns.includes("QueryProfiles") && v13) {
    for (const p of CLAIMED_PROFILES) {
      const name = profileName(p, ctx.version);
      if (name) out.push(struct("ProfileInformation", [item("ProfileName", enumValue("ProfileName", name))]));
    }
  }
  if (fns.includes("QueryCapabilities") && v13) out.push(capabilities(ctx.version));
  return out;
};
