/**
 * One HMAC session shared by parallel commands: each command must be answered, its response HMAC
 * checked and the nonces rolled before the next command is authorized through the same session.
 */
import test from "ava";
import { randomBytes } from "node:crypto";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { TPM_ALG, TPM_HT, TPM_SE, TPMA_NV } from "@tessera/tpm2";
import { createEk, type Ek } from "./ek.ts";
import { Tpm } from "./tpm.ts";

let sw: SwtpmInstance;
let tpm: Tpm;
let ek: Ek;

test.before(async () => {
  sw = await startSwtpm();
  tpm = Tpm.open(sw.tcti);
  ek = await createEk(tpm, "ecc-p256");
});

test.after.always(async () => {
  await tpm?.close();
  await sw?.stop();
});

const AUTH = new TextEncoder().encode("parallel-auth");
const INDEX = 0x01500200;

test.serial("20 parallel NV_Reads through one bound and salted HMAC session all succeed", async (t) => {
  t.timeout(60_000);
  await tpm.nvDefine(
    { nvIndex: INDEX, nameAlg: TPM_ALG.SHA256, attributes: TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA, authPolicy: new Uint8Array(), dataSize: 32 },
    { authValue: AUTH },
  );
  try {
    const data = new Uint8Array(randomBytes(32));
    await tpm.nvWrite(INDEX, data, { authHandle: { handle: INDEX, authValue: AUTH } });
    const name = (await tpm.nvReadPublic(INDEX)).name;
    const s = await tpm.startAuthSession({ tpmKey: ek, bind: { handle: INDEX, name, authValue: AUTH } });
    try {
      t.is(s.type, TPM_SE.HMAC);
      const auth = { handle: INDEX, name, authValue: AUTH, session: s };
      const reads = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => tpm.nvRead(INDEX, { size: 32 - i, authHandle: auth })));
      const failed = reads.flatMap((r, i) => (r.status === "rejected" ? [`#${i}: ${String(r.reason)}`] : []));
      t.deepEqual(failed, [], "every read through the shared session succeeds");
      reads.forEach((r, i) => {
        if (r.status === "fulfilled") t.deepEqual(r.value, data.subarray(0, 32 - i));
      });
      // Reads and writes mixed, and the session still works afterwards.
      const more = await Promise.allSettled([
        ...Array.from({ length: 5 }, () => tpm.nvWrite(INDEX, data, { authHandle: auth })),
        ...Array.from({ length: 5 }, () => tpm.nvRead(INDEX, { size: 32, authHandle: auth })),
      ]);
      t.deepEqual(
        more.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : [])),
        [],
      );
      t.deepEqual(await tpm.nvRead(INDEX, { size: 32, authHandle: auth }), data);
    } finally {
      await tpm.flush(s.handle);
    }
  } finally {
    await tpm.nvUndefine(INDEX);
  }
  t.deepEqual(await tpm.handles(TPM_HT.HMAC_SESSION), []);
});
