/**
 * UEFI_VARIABLE_DATA for EV_EFI_VARIABLE_* events.
 * @module
 */
import { encode } from "./_codec.ts";
import { UEFI_VARIABLE_DATA } from "./_structures.ts";

/**
 * The UEFI_VARIABLE_DATA firmware logs (and hashes) for a measured variable: vendor GUID, name length in CHAR16,
 * data length, the name in UCS-2 (no terminator) and the data.
 *
 * @example
 * ```ts
 * const data = encodeEfiVariableData(EFI_GUID.GLOBAL_VARIABLE, "SecureBoot", new Uint8Array([1]));
 * appendEvent(log, 7, EV.EFI_VARIABLE_DRIVER_CONFIG, data);
 * ```
 * Throws EventLogEncodeError for a malformed GUID.
 */
export function encodeEfiVariableData(guid: string, name: string, data: Uint8Array): Uint8Array {
  return encode(UEFI_VARIABLE_DATA, { variableName: guid, unicodeName: name, variableData: data });
}
