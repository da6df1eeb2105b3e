/**
 * GetCapability paging. A real TPM only sets moreData when its response buffer is full, which swtpm never
 * reaches with the handles a test can create, so a scripted transport plays a TPM that pages.
 */
import test from "ava";
import { TPM_CAP, TPM_HT, TPM_ST } from "@tessera/tpm2";
import { Tpm } from "./tpm.ts";
import type { Transport } from "./transport.ts";

/** A TPM that holds `handles` and answers TPM2_GetCapability(HANDLES) at most `page` at a time. */
function pagingTpm(handles: number[], page: number): Transport & { requests: { property: number; count: number }[] } {
  const requests: { property: number; count: number }[] = [];
  return {
    description: "paging TPM",
    requests,
    async send(cmd: Uint8Array): Promise<Uint8Array> {
      const v = new DataView(cmd.buffer, cmd.byteOffset, cmd.byteLength);
      const capability = v.getUint32(10);
      const property = v.getUint32(14);
      const count = v.getUint32(18);
      requests.push({ property, count });
      if (capability !== TPM_CAP.HANDLES) throw new Error("only HANDLES is scripted");
      const from = handles.filter((h) => h >= property).sort((a, b) => a - b);
      const n = Math.min(page, count, from.length);
      const out = new Uint8Array(10 + 1 + 4 + 4 + 4 * n);
      const o = new DataView(out.buffer);
      o.setUint16(0, TPM_ST.NO_SESSIONS);
      o.setUint32(2, out.length);
      o.setUint32(6, 0);
      out[10] = from.length > n ? 1 : 0;
      o.setUint32(11, TPM_CAP.HANDLES);
      o.setUint32(15, n);
      for (let i = 0; i < n; i++) o.setUint32(19 + 4 * i, from[i]);
      return out;
    },
    async close() {},
  };
}

test("handles() follows moreData across pages of persistent handles (above 0x7fffffff)", async (t) => {
  const all = Array.from({ length: 250 }, (_, i) => 0x81000000 + i * 3);
  const transport = pagingTpm(all, 100);
  const tpm = new Tpm(transport);
  t.deepEqual(await tpm.handles(TPM_HT.PERSISTENT), all);
  t.deepEqual(
    transport.requests.map((r) => r.property),
    [0x81000000, all[99] + 1, all[199] + 1],
  );
});

test("getCapability asks for no more than the count still wanted, and stops when it has them", async (t) => {
  const all = Array.from({ length: 50 }, (_, i) => 0x01c00000 + i);
  const transport = pagingTpm(all, 20);
  const tpm = new Tpm(transport);
  const parts = await tpm.getCapability(TPM_CAP.HANDLES, 0x01c00000, 30);
  t.deepEqual(
    parts.flatMap((p) => p.data as number[]),
    all.slice(0, 30),
  );
  t.deepEqual(
    transport.requests.map((r) => r.count),
    [30, 10],
  );
});
