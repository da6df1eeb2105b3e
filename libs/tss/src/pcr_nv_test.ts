/**
 * PCRs and NV: PCR_Extend against the software extend, PCR_Read of whole banks (the TPM returns at most
 * 8 digests per call), NV indexes larger than one NV buffer written and read in chunks with password and
 * HMAC sessions, reads at an offset, NV Names, undefine.
 */
import test from "ava";
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { extendPcr, nvName, pcrSelection, TPM_ALG, TPM_CC, TPM_HT, TPM_PT, TPMA_NV, type TpmsNvPublic } from "@tessera/tpm2";
import { TssError } from "./errors.ts";
import { Tpm } from "./tpm.ts";
import type { Transport } from "./transport.ts";
import { rejectsRc, swtpmForTests } from "./_test_support.ts";

/** Command codes sent, in order (see counting()). */
let sent: number[] = [];

function counting(inner: Transport): Transport {
  return {
    description: inner.description,
    send(command) {
      sent.push(new DataView(command.buffer, command.byteOffset).getUint32(6));
      return inner.send(command);
    },
    close: () => inner.close(),
  };
}

const sim = swtpmForTests({ swtpm: { pcrBanks: ["sha1", "sha256"] }, open: (sw) => new Tpm(counting(Tpm.open(sw.tcti).transport)) });

const SHA1 = TPM_ALG.SHA1;
const SHA256 = TPM_ALG.SHA256;
const ALL = Array.from({ length: 24 }, (_, i) => i);

function sha(alg: "sha1" | "sha256", s: string): Uint8Array {
  return new Uint8Array(createHash(alg).update(s).digest());
}

function count(cc: number): number {
  return sent.filter((c) => c === cc).length;
}

// ---- PCRs ----

test.serial("pcrExtend on PCR 16 (sha256) equals extendPcr computed in software", async (t) => {
  const sel = [pcrSelection(SHA256, [16])];
  let expected = (await sim.tpm.pcrRead(sel)).get(SHA256)?.get(16);
  if (!expected) return t.fail("no PCR 16");
  t.deepEqual(expected, new Uint8Array(32));
  for (const event of ["one", "two", "three"]) {
    const digest = sha("sha256", event);
    await sim.tpm.pcrExtend(16, [{ hashAlg: SHA256, digest }]);
    expected = extendPcr(SHA256, expected, digest);
    t.deepEqual((await sim.tpm.pcrRead(sel)).get(SHA256)?.get(16), expected, `after extending "${event}"`);
  }
});

test.serial("pcrExtend with one digest per bank updates both banks", async (t) => {
  const sel = [pcrSelection(SHA1, [16]), pcrSelection(SHA256, [16])];
  const before = await sim.tpm.pcrRead(sel);
  const d1 = sha("sha1", "both");
  const d256 = sha("sha256", "both");
  await sim.tpm.pcrExtend(16, [
    { hashAlg: SHA1, digest: d1 },
    { hashAlg: SHA256, digest: d256 },
  ]);
  const after = await sim.tpm.pcrRead(sel);
  const old1 = before.get(SHA1)?.get(16);
  const old256 = before.get(SHA256)?.get(16);
  if (!old1 || !old256) return t.fail("missing PCR values");
  t.deepEqual(after.get(SHA1)?.get(16), extendPcr(SHA1, old1, d1));
  t.deepEqual(after.get(SHA256)?.get(16), extendPcr(SHA256, old256, d256));
});

test.serial("pcrRead of all 24 sha256 PCRs in one call (several TPM2_PCR_Read rounds)", async (t) => {
  sent = [];
  const banks = await sim.tpm.pcrRead([pcrSelection(SHA256, ALL)]);
  t.true(count(TPM_CC.PCR_Read) >= 3, `only ${count(TPM_CC.PCR_Read)} PCR_Read commands for 24 PCRs`);
  const bank = banks.get(SHA256);
  if (!bank) return t.fail("no sha256 bank");
  t.deepEqual(
    [...bank.keys()].sort((a, b) => a - b),
    ALL,
  );
  for (const i of ALL) {
    const v = bank.get(i);
    t.is(v?.length, 32);
    if (i === 16) t.notDeepEqual(v, new Uint8Array(32));
    else if (i >= 17 && i <= 22) t.deepEqual(v, new Uint8Array(32).fill(0xff), `PCR ${i}`);
    else t.deepEqual(v, new Uint8Array(32), `PCR ${i}`);
  }
});

test.serial("pcrRead of both banks (48 PCRs) in one call agrees with tpm2_pcrread", async (t) => {
  t.timeout(20_000);
  sent = [];
  const banks = await sim.tpm.pcrRead([pcrSelection(SHA1, ALL), pcrSelection(SHA256, ALL)]);
  t.true(count(TPM_CC.PCR_Read) >= 6, `only ${count(TPM_CC.PCR_Read)} PCR_Read commands for 48 PCRs`);
  t.is(banks.get(SHA1)?.size, 24);
  t.is(banks.get(SHA256)?.size, 24);

  // tpm2-tools on the same swtpm: close our connection first (one client at a time).
  await sim.tpm.close();
  const out = path.join(sim.sw.dir, "pcrs.bin");
  const r = spawnSync("tpm2_pcrread", ["-T", sim.sw.tcti, "sha1:all+sha256:all", "-o", out], { encoding: "utf8", timeout: 15_000 });
  sim.tpm = new Tpm(counting(Tpm.open(sim.sw.tcti).transport));
  if (r.error) throw new Error(`tpm2_pcrread: ${r.error.message} (is tpm2-tools installed?)`);
  t.is(r.status, 0, r.stderr);
  const theirs = new Uint8Array(await readFile(out));
  t.is(theirs.length, 24 * 20 + 24 * 32);
  for (const i of ALL) {
    t.deepEqual(banks.get(SHA1)?.get(i), theirs.subarray(i * 20, i * 20 + 20), `sha1:${i}`);
    t.deepEqual(banks.get(SHA256)?.get(i), theirs.subarray(480 + i * 32, 480 + i * 32 + 32), `sha256:${i}`);
  }
});

test.serial("pcrRead of a bank the TPM does not have → TSS_IO naming it", async (t) => {
  const e = await t.throwsAsync(sim.tpm.pcrRead([pcrSelection(TPM_ALG.SHA384, [0, 1])]), { instanceOf: TssError });
  if (e instanceof TssError) {
    t.is(e.code, "TSS_IO");
    t.true(e.message.includes(`${TPM_ALG.SHA384}:0,1`), e.message);
  }
  // Mixed with an allocated bank: the allocated PCRs are read, the missing ones still reported.
  const e2 = await t.throwsAsync(sim.tpm.pcrRead([pcrSelection(SHA256, [0]), pcrSelection(TPM_ALG.SHA384, [0])]), { instanceOf: TssError });
  if (e2 instanceof TssError) t.is(e2.code, "TSS_IO");
});

// ---- NV ----

const NV_INDEX = 0x01500010;
const AUTH = new TextEncoder().encode("nv-secret");
let nvSize = 0;
let data = new Uint8Array();

function nvPublic(dataSize: number, index = NV_INDEX): TpmsNvPublic {
  return {
    nvIndex: index,
    nameAlg: SHA256,
    attributes: TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA,
    authPolicy: new Uint8Array(),
    dataSize,
  };
}

test.serial("an NV index one byte larger than TPM_PT_NV_INDEX_MAX is refused with TPM_RC_SIZE", async (t) => {
  const props = await sim.tpm.properties(TPM_PT.NV_INDEX_MAX, 1);
  const max = props.get(TPM_PT.NV_INDEX_MAX) ?? 0;
  t.true(max >= 2048, `NV_INDEX_MAX ${max}`);
  await rejectsRc(t, sim.tpm.nvDefine(nvPublic(max + 1), { authValue: AUTH }), "TPM_RC_SIZE");
  t.false((await sim.tpm.handles(TPM_HT.NV_INDEX)).includes(NV_INDEX));
});

test.serial("NV define/write/read of the largest index (> one NV buffer) with an authValue via password session", async (t) => {
  const bufferMax = await sim.tpm.nvBufferMax();
  t.is(bufferMax, 1024);
  const indexMax = (await sim.tpm.properties(TPM_PT.NV_INDEX_MAX, 1)).get(TPM_PT.NV_INDEX_MAX) ?? 0;
  nvSize = Math.min(3000, indexMax);
  t.true(nvSize > bufferMax);
  data = new Uint8Array(randomBytes(nvSize));

  await sim.tpm.nvDefine(nvPublic(nvSize), { authValue: AUTH });
  t.true((await sim.tpm.handles(TPM_HT.NV_INDEX)).includes(NV_INDEX));

  sent = [];
  await sim.tpm.nvWrite(NV_INDEX, data, { authHandle: { handle: NV_INDEX, authValue: AUTH } });
  t.is(count(TPM_CC.NV_Write), Math.ceil(nvSize / bufferMax));
  sent = [];
  const back = await sim.tpm.nvRead(NV_INDEX, { authHandle: { handle: NV_INDEX, authValue: AUTH } });
  t.is(count(TPM_CC.NV_Read), Math.ceil(nvSize / bufferMax));
  t.deepEqual(back, data);
});

test.serial("NV write/read of the same index via an HMAC session (several chunks on one session)", async (t) => {
  const session = await sim.tpm.startAuthSession();
  try {
    const fresh = new Uint8Array(randomBytes(nvSize));
    await sim.tpm.nvWrite(NV_INDEX, fresh, { authHandle: { handle: NV_INDEX, authValue: AUTH, session } });
    const back = await sim.tpm.nvRead(NV_INDEX, { authHandle: { handle: NV_INDEX, authValue: AUTH, session } });
    t.deepEqual(back, fresh);
    data = fresh;
  } finally {
    await sim.tpm.flush(session.handle);
  }
  t.deepEqual(await sim.tpm.handles(TPM_HT.HMAC_SESSION), []);
});

test.serial("NV read and write at an offset, across a chunk boundary", async (t) => {
  const auth = { handle: NV_INDEX, authValue: AUTH };
  // Read 1100 bytes from offset 900: spans the 1024 boundary.
  t.deepEqual(await sim.tpm.nvRead(NV_INDEX, { offset: 900, size: 1100, authHandle: auth }), data.subarray(900, 2000));
  // From an offset to the end (size defaults to the rest of the index).
  t.deepEqual(await sim.tpm.nvRead(NV_INDEX, { offset: nvSize - 10, authHandle: auth }), data.subarray(nvSize - 10));
  // A small read at an odd offset.
  t.deepEqual(await sim.tpm.nvRead(NV_INDEX, { offset: 1023, size: 2, authHandle: auth }), data.subarray(1023, 1025));
  // Write 1500 bytes at offset 300 and read the whole index back.
  const patch = new Uint8Array(1500).fill(0x3c);
  await sim.tpm.nvWrite(NV_INDEX, patch, { offset: 300, authHandle: auth });
  const expected = Uint8Array.from(data);
  expected.set(patch, 300);
  t.deepEqual(await sim.tpm.nvRead(NV_INDEX, { authHandle: auth }), expected);
  // Past the end: TPM_RC_NV_RANGE.
  await rejectsRc(t, sim.tpm.nvRead(NV_INDEX, { offset: nvSize - 4, size: 8, authHandle: auth }), "TPM_RC_NV_RANGE");
});

test.serial("a wrong authValue on a NO_DA index fails with TPM_RC_BAD_AUTH (session 1)", async (t) => {
  // NO_DA: no dictionary-attack implications, hence BAD_AUTH rather than AUTH_FAIL (see session_test.ts).
  const wrong = new TextEncoder().encode("wrong");
  const e = await rejectsRc(t, sim.tpm.nvRead(NV_INDEX, { size: 4, authHandle: { handle: NV_INDEX, authValue: wrong } }), "TPM_RC_BAD_AUTH");
  t.is(e?.decoded.session, 1);
  const session = await sim.tpm.startAuthSession();
  try {
    const e2 = await rejectsRc(
      t,
      sim.tpm.nvWrite(NV_INDEX, new Uint8Array(4), { authHandle: { handle: NV_INDEX, authValue: wrong, session } }),
      "TPM_RC_BAD_AUTH",
    );
    t.is(e2?.decoded.session, 1);
  } finally {
    await sim.tpm.flush(session.handle);
  }
});

test.serial("nvReadPublic: the Name is nvName(public), before and after the first write", async (t) => {
  const index = 0x01500011;
  await sim.tpm.nvDefine(nvPublic(8, index));
  try {
    const before = await sim.tpm.nvReadPublic(index);
    t.deepEqual(before.name, nvName(before.public));
    t.deepEqual(before.public, nvPublic(8, index));
    t.is(before.public.attributes & TPMA_NV.WRITTEN, 0);
    await sim.tpm.nvWrite(index, new Uint8Array(8).fill(1));
    const after = await sim.tpm.nvReadPublic(index);
    t.not(after.public.attributes & TPMA_NV.WRITTEN, 0);
    t.deepEqual(after.name, nvName(after.public));
    t.notDeepEqual(after.name, before.name);
    t.deepEqual(await sim.tpm.nvRead(index), new Uint8Array(8).fill(1));
  } finally {
    await sim.tpm.nvUndefine(index);
  }
  const big = await sim.tpm.nvReadPublic(NV_INDEX);
  t.deepEqual(big.name, nvName(big.public));
  t.is(big.public.dataSize, nvSize);
});

test.serial("nvUndefine removes the index", async (t) => {
  await sim.tpm.nvUndefine(NV_INDEX);
  t.false((await sim.tpm.handles(TPM_HT.NV_INDEX)).includes(NV_INDEX));
  await rejectsRc(t, sim.tpm.nvReadPublic(NV_INDEX), "TPM_RC_HANDLE");
  await rejectsRc(t, sim.tpm.nvUndefine(NV_INDEX), "TPM_RC_HANDLE");
});
