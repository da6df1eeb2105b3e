/**
 * Names (Part 1, 16): an object's Name is nameAlg || H_nameAlg(TPMT_PUBLIC); an NV index's is
 * nameAlg || H_nameAlg(TPMS_NV_PUBLIC); a permanent handle, PCR or session is named by its handle.
 * @module
 */
import { hash, u16be, u32be, concat } from "./digest.ts";
import { marshal } from "./schema.ts";
import { TPMS_NV_PUBLIC, TPMT_PUBLIC, type TpmsNvPublic, type TpmtPublic } from "./structures.ts";
import { TPM_ALG } from "./constants.ts";

/** The Name of an object from its public area. A TPM_ALG_NULL nameAlg gives the empty name. */
export function objectName(pub: TpmtPublic): Uint8Array {
  if (pub.nameAlg === TPM_ALG.NULL) return new Uint8Array();
  return concat(u16be(pub.nameAlg), hash(pub.nameAlg, marshal(TPMT_PUBLIC, pub)));
}

/** The Name of an NV index from its public area. */
export function nvName(pub: TpmsNvPublic): Uint8Array {
  return concat(u16be(pub.nameAlg), hash(pub.nameAlg, marshal(TPMS_NV_PUBLIC, pub)));
}

/** The Name of a handle that is its own name (permanent handles, PCRs, sessions): the 4 handle bytes. */
export function handleName(handle: number): Uint8Array {
  return u32be(handle);
}
