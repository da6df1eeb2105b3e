/**
 * The StartupLocality EV_NO_ACTION event data.
 * @module
 */
import { encode } from "./_codec.ts";
import { STARTUP_LOCALITY, TCG_EfiStartupLocalityEvent } from "./_structures.ts";

/**
 * TCG_EfiStartupLocalityEvent ("StartupLocality\0" and the locality): log it as an EV_NO_ACTION event on PCR 0
 * before any PCR 0 measurement when TPM2_Startup ran at locality 3 (or 4 after an H-CRTM), so that
 * {@link replay} starts PCR 0 at 0…0‖locality.
 *
 * @example
 * ```ts
 * appendEvent(log, 0, EV.NO_ACTION, encodeStartupLocality(3));
 * ```
 */
export function encodeStartupLocality(locality: number): Uint8Array {
  return encode(TCG_EfiStartupLocalityEvent, { signature: STARTUP_LOCALITY, startupLocality: locality });
}
