/**
 * Shared by parsing and writing: the Spec ID event's model mapping and the event codecs of a log.
 * @module
 */
import { HASH_SIZE } from "@tessera/tpm2";
import { type Codec, decode, encode, malformed, reader } from "./_codec.ts";
import { SPEC_ID_EVENT03, TCG_EfiSpecIdEvent } from "./_structures.ts";
import type { SpecIdEvent } from "./types.ts";

/** Default bound on the number of events of a log. */
export const DEFAULT_MAX_EVENTS = 100_000;
/** Default bound on the data of one event. */
export const DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024;

/** Whether event data begins with the crypto-agile Spec ID signature. */
export function isSpecIdData(data: Uint8Array): boolean {
  if (data.length < 16) return false;
  for (let i = 0; i < 16; i++) if (data[i] !== SPEC_ID_EVENT03.charCodeAt(i)) return false;
  return true;
}

/**
 * Decodes and checks TCG_EfiSpecIdEvent: at least one algorithm, no duplicates, and the digest size of every
 * algorithm this library knows must be its real size (unknown algorithms keep whatever size the header gives).
 * Throws a DecodeFault (offsets relative to `data`).
 */
export function decodeSpecId(data: Uint8Array): SpecIdEvent {
  const v = decode(TCG_EfiSpecIdEvent, data, true);
  const r = reader(data);
  if (v.digestSizes.length === 0) malformed(r, "the Spec ID event declares no algorithms", 24);
  const seen = new Set<number>();
  v.digestSizes.forEach(({ algorithmId, digestSize }, i) => {
    const at = 28 + 4 * i;
    const hex = `0x${algorithmId.toString(16).padStart(4, "0")}`;
    if (seen.has(algorithmId)) malformed(r, `algorithm ${hex} is listed twice`, at);
    seen.add(algorithmId);
    const known = HASH_SIZE[algorithmId];
    if (known !== undefined && known !== digestSize) malformed(r, `algorithm ${hex} has digest size ${digestSize}, not ${known}`, at);
    if (digestSize === 0) malformed(r, `algorithm ${hex} has digest size 0`, at);
  });
  return {
    platformClass: v.platformClass,
    specVersion: { major: v.specVersionMajor, minor: v.specVersionMinor, errata: v.specErrata },
    uintnSize: v.uintnSize,
    algorithms: v.digestSizes.map((a) => ({ alg: a.algorithmId, digestSize: a.digestSize })),
    vendorInfo: v.vendorInfo,
  };
}

/** The TCG_EfiSpecIdEvent bytes of a SpecIdEvent. Throws EventLogEncodeError. */
export function encodeSpecId(s: SpecIdEvent): Uint8Array {
  return encode(TCG_EfiSpecIdEvent, {
    signature: SPEC_ID_EVENT03,
    platformClass: s.platformClass,
    specVersionMinor: s.specVersion.minor,
    specVersionMajor: s.specVersion.major,
    specErrata: s.specVersion.errata,
    uintnSize: s.uintnSize,
    digestSizes: s.algorithms.map((a) => ({ algorithmId: a.alg, digestSize: a.digestSize })),
    vendorInfo: s.vendorInfo,
  });
}

/** Digest size by algorithm, as the Spec ID event declares them. */
export function digestSizes(s: SpecIdEvent): Map<number, number> {
  return new Map(s.algorithms.map((a) => [a.alg, a.digestSize]));
}

/** Codecs built per log are cached by their parameters (a log's sizes rarely vary). */
const cache = new Map<string, Codec<unknown>>();
/** Returns the cached codec for `key`, building it once. */
export function cached<T>(key: string, build: () => Codec<T>): Codec<T> {
  let c = cache.get(key) as Codec<T> | undefined;
  if (!c) {
    if (cache.size > 256) cache.clear();
    c = build();
    cache.set(key, c as Codec<unknown>);
  }
  return c;
}
