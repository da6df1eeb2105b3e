/**
 * @tessera/eventlog — TCG PC Client event logs (PFP 1.05/1.06): SHA-1 and crypto-agile formats, parse and
 * write (byte-identical round trip), replay to PCR values per bank and comparison with a quote, decoding of
 * event data (UEFI variables and signature databases, boot images and device paths, GPT, separators, strings),
 * digest checks of events whose data is what was measured, and the Secure Boot state. Pure: no I/O.
 * @module
 */
export * from "./errors.ts";
export * from "./types.ts";
export * from "./event_type.ts";
export * from "./efi_guid.ts";
export * from "./parse_event_log.ts";
export * from "./write_event_log.ts";
export * from "./new_crypto_agile_log.ts";
export * from "./append_event.ts";
export * from "./replay.ts";
export * from "./compare_pcrs.ts";
export * from "./decode_event.ts";
export * from "./device_path_to_text.ts";
export * from "./encode_efi_variable_data.ts";
export * from "./encode_efi_signature_list.ts";
export * from "./encode_efi_image_load_event.ts";
export * from "./encode_file_path_device_path.ts";
export * from "./encode_startup_locality.ts";
export * from "./check_event_digests.ts";
export * from "./secure_boot_state.ts";
export { ContentCache } from "./content_cache.ts";
