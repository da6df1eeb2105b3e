import test from "ava";
import { TpmDecodeError } from "./errors.ts";
import { marshal } from "./schema.ts";
import { TPM2B_PUBLIC, TPMT_PUBLIC } from "./structures.ts";
import { akTemplate } from "./templates.ts";
import { unmarshalPublic } from "./unmarshal_public.ts";

const AK = akTemplate("rsa");

test("unmarshalPublic reads TPM2B_PUBLIC and a bare TPMT_PUBLIC alike", (t) => {
  t.deepEqual(unmarshalPublic(marshal(TPM2B_PUBLIC, AK)), AK);
  t.deepEqual(unmarshalPublic(marshal(TPMT_PUBLIC, AK)), AK);
});

test("unmarshalPublic of neither form is the TPM2B_PUBLIC reading's decode error", (t) => {
  const e = t.throws(() => unmarshalPublic(Uint8Array.of(0, 9, 1)), { instanceOf: TpmDecodeError });
  t.regex(e?.message ?? "", /TPM2B_PUBLIC/);
});
