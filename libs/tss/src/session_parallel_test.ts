/**
 * One HMAC session shared by parallel commands: each command must be answered, its response HMAC
 * checked and the nonces rolled before the next command is authorized through the same session.
 */
import test from "ava";
import { randomBytes } from "node:crypto";
import { NV_Read, TPM_ALG, TPM_HT, TPM_SE, TPMA_NV } from "@tessera/tpm2";
import { createEk, type Ek } from "./ek.ts";
import { CommandAbortedError, CommandTimeoutError, TssError } from "./errors.ts";
import { swtpmForTests } from "./_test_support.ts";

let ek: Ek;
const sim = swtpmForTests({
  setUp: async ({ tpm }) => {
    ek = await createEk(tpm, "ecc-p256");
  },
});

const AUTH = new TextEncoder().encode("parallel-auth");
const INDEX = 0x01500200;

test.serial("20 parallel NV_Reads through one bound and salted HMAC session all succeed", async (t) => {
  t.timeout(60_000);
  await sim.tpm.nvDefine(
    { nvIndex: INDEX, nameAlg: TPM_ALG.SHA256, attributes: TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA, authPolicy: new Uint8Array(), dataSize: 32 },
    { authValue: AUTH },
  );
  try {
    const data = new Uint8Array(randomBytes(32));
    await sim.tpm.nvWrite(INDEX, data, { authHandle: { handle: INDEX, authValue: AUTH } });
    const name = (await sim.tpm.nvReadPublic(INDEX)).name;
    const s = await sim.tpm.startAuthSession({ tpmKey: ek, bind: { handle: INDEX, name, authValue: AUTH } });
    try {
      t.is(s.type, TPM_SE.HMAC);
      const auth = { handle: INDEX, name, authValue: AUTH, session: s };
      const reads = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => sim.tpm.nvRead(INDEX, { size: 32 - i, authHandle: auth })));
      const failed = reads.flatMap((r, i) => (r.status === "rejected" ? [`#${i}: ${String(r.reason)}`] : []));
      t.deepEqual(failed, [], "every read through the shared session succeeds");
      reads.forEach((r, i) => {
        if (r.status === "fulfilled") t.deepEqual(r.value, data.subarray(0, 32 - i));
      });
      // Reads and writes mixed, and the session still works afterwards.
      const more = await Promise.allSettled([
        ...Array.from({ length: 5 }, () => sim.tpm.nvWrite(INDEX, data, { authHandle: auth })),
        ...Array.from({ length: 5 }, () => sim.tpm.nvRead(INDEX, { size: 32, authHandle: auth })),
      ]);
      t.deepEqual(
        more.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : [])),
        [],
      );
      t.deepEqual(await sim.tpm.nvRead(INDEX, { size: 32, authHandle: auth }), data);
    } finally {
      await sim.tpm.flush(s.handle);
    }
  } finally {
    await sim.tpm.nvUndefine(INDEX);
  }
  t.deepEqual(await sim.tpm.handles(TPM_HT.HMAC_SESSION), []);
});

/** Stops swtpm (SIGSTOP) until the returned function is called: commands sent meanwhile are answered after. */
function freeze(): () => void {
  const pid = sim.sw.pid;
  if (pid === undefined) throw new Error("swtpm is not running");
  process.kill(pid, "SIGSTOP");
  return () => process.kill(pid, "SIGCONT");
}

for (const how of ["aborted", "timed out"] as const) {
  test.serial(
    `a command through the session ${how} after it was sent: its late answer still rolls the nonces, the next command through the session succeeds`,
    async (t) => {
      t.timeout(60_000);
      const index = INDEX + 1;
      await sim.tpm.nvDefine(
        {
          nvIndex: index,
          nameAlg: TPM_ALG.SHA256,
          attributes: TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA,
          authPolicy: new Uint8Array(),
          dataSize: 16,
        },
        { authValue: AUTH },
      );
      const data = new Uint8Array(randomBytes(16));
      const s = await sim.tpm.startAuthSession({ tpmKey: ek });
      try {
        await sim.tpm.nvWrite(index, data, { authHandle: { handle: index, authValue: AUTH, session: s } });
        // The Name after the first write (TPMA_NV_WRITTEN is part of it).
        const name = (await sim.tpm.nvReadPublic(index)).name;
        const auth = { handle: index, name, authValue: AUTH, session: s };
        const thaw = freeze();
        let after: Promise<Uint8Array>;
        try {
          const ac = new AbortController();
          const first = sim.tpm.execute(
            NV_Read,
            { authHandle: auth, nvIndex: { handle: index, name } },
            { size: 16, offset: 0 },
            { signal: ac.signal, timeoutMs: how === "timed out" ? 200 : 60_000 },
          );
          await new Promise((r) => setImmediate(r)); // the command is written
          if (how === "aborted") ac.abort();
          const e = await t.throwsAsync(first, { instanceOf: TssError });
          t.is(e?.code, how === "aborted" ? "TSS_ABORTED" : "TSS_TIMEOUT");
          t.true(e instanceof CommandAbortedError || e instanceof CommandTimeoutError);
          if (e instanceof CommandAbortedError || e instanceof CommandTimeoutError) t.not(e.lateResponse, undefined, "the command had been sent");
          after = sim.tpm.nvRead(index, { size: 16, authHandle: auth });
        } finally {
          thaw();
        }
        t.deepEqual(await after, data);
        t.deepEqual(await sim.tpm.nvRead(index, { size: 16, authHandle: auth }), data);
      } finally {
        await sim.tpm.flush(s.handle);
        await sim.tpm.nvUndefine(index);
      }
    },
  );
}
