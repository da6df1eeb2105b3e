// Names (Part 1 §16): objects, NV indexes and handles, computed independently here with node:crypto.
import test from "ava";
import { createHash } from "node:crypto";
import { TPM_ALG, TPM_RH } from "./constants.ts";
import { TpmUnsupportedError } from "./errors.ts";
import { fromHex, toHex } from "./hex.ts";
import { handleName, nvName, objectName } from "./name.ts";
import { marshal } from "./schema.ts";
import { TPMS_NV_PUBLIC, TPMT_PUBLIC } from "./structures.ts";
import { akTemplate, ekTemplate } from "./templates.ts";

test("an object's Name is nameAlg || H_nameAlg(TPMT_PUBLIC)", (t) => {
  for (const [alg, name] of [
    [TPM_ALG.SHA1, "sha1"],
    [TPM_ALG.SHA256, "sha256"],
    [TPM_ALG.SHA384, "sha384"],
    [TPM_ALG.SHA512, "sha512"],
  ] as const) {
    const pub = { ...ekTemplate("rsa2048"), nameAlg: alg };
    const expected = alg.toString(16).padStart(4, "0") + createHash(name).update(marshal(TPMT_PUBLIC, pub)).digest("hex");
    t.is(toHex(objectName(pub)), expected, name);
  }
});

test("a TPM_ALG_NULL nameAlg gives the empty Name; an unknown one is unsupported", (t) => {
  t.is(objectName({ ...akTemplate("rsa"), nameAlg: TPM_ALG.NULL }).length, 0);
  t.throws(() => objectName({ ...akTemplate("rsa"), nameAlg: 0x0099 }), { instanceOf: TpmUnsupportedError, message: "hash algorithm 0x0099 is not supported" });
});

test("an NV index's Name is nameAlg || H_nameAlg(TPMS_NV_PUBLIC)", (t) => {
  const pub = { nvIndex: 0x01c00002, nameAlg: TPM_ALG.SHA256, attributes: 0x420f0002, authPolicy: new Uint8Array(), dataSize: 1000 };
  t.is(toHex(nvName(pub)), "000b" + createHash("sha256").update(fromHex("01c00002000b420f0002000003e8")).digest("hex"));
  t.is(toHex(marshal(TPMS_NV_PUBLIC, pub)), "01c00002000b420f0002000003e8");
});

test("permanent handles, PCRs and sessions are named by their handle", (t) => {
  t.is(toHex(handleName(TPM_RH.OWNER)), "40000001");
  t.is(toHex(handleName(TPM_RH.ENDORSEMENT)), "4000000b");
  t.is(toHex(handleName(16)), "00000010");
  t.is(toHex(handleName(0x03000000)), "03000000");
});
