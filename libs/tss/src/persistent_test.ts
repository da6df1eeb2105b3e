/**
 * Persistent objects against swtpm: EvictControl at a chosen or a picked free handle, refusal of a taken
 * or out-of-range handle, finding an object again by Name or public area, eviction, and interop with
 * tpm2-tools (tpm2_readpublic reads what we made persistent; we find what tpm2_evictcontrol made persistent).
 */
import test, { type ExecutionContext } from "ava";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { akTemplate, srkTemplate, TPM_HT, TPM_RH } from "@tessera/tpm2";
import { TssError } from "./errors.ts";
import { evictPersistent, findPersistent, listPersistent, makePersistent } from "./persistent.ts";
import { swtpmForTests, tpm2Tool, withoutConnection } from "./_test_support.ts";

const sim = swtpmForTests();

/** Persistent handles in the owner's storage range (swtpm_setup leaves its EKs at 0x8101xxxx). */
async function storageHandles(): Promise<number[]> {
  return (await listPersistent(sim.tpm)).filter((h) => h <= 0x8100ffff);
}

async function rejectsPersistent(t: ExecutionContext, p: Promise<unknown>, message: RegExp): Promise<void> {
  const e = await t.throwsAsync(p, { instanceOf: TssError });
  if (e instanceof TssError) {
    t.is(e.code, "TSS_PERSISTENT", e.message);
    t.regex(e.message, message);
  }
}

test.serial("listPersistent lists swtpm_setup's EKs at 0x81010001 and 0x81010016", async (t) => {
  const all = await listPersistent(sim.tpm);
  t.true(all.includes(0x81010001) && all.includes(0x81010016), all.map((h) => h.toString(16)).join(" "));
});

test.serial("makePersistent at 0x81000010: tpm2_readpublic reads it back with the same Name; found by Name and by public area; evicted", async (t) => {
  t.timeout(60_000);
  t.deepEqual(await storageHandles(), []);
  const key = await sim.tpm.createPrimary(TPM_RH.OWNER, srkTemplate());
  const persisted = await makePersistent(sim.tpm, key, 0x81000010);
  t.is(persisted.handle, 0x81000010);
  t.deepEqual(persisted.name, key.name);
  await sim.tpm.flush(key.handle);
  t.deepEqual(await sim.tpm.handles(TPM_HT.TRANSIENT), []);
  t.deepEqual(await storageHandles(), [0x81000010]);

  const nameFile = path.join(sim.sw.dir, "persistent.name");
  const out = await withoutConnection(sim, () => tpm2Tool(t, "tpm2_readpublic", ["-T", sim.sw.tcti, "-c", "0x81000010", "-n", nameFile]));
  t.regex(out, new RegExp(`name: ${Buffer.from(key.name).toString("hex")}`));
  t.deepEqual(new Uint8Array(await readFile(nameFile)), key.name);

  t.is((await findPersistent(sim.tpm, { name: key.name }))?.handle, 0x81000010);
  t.is((await findPersistent(sim.tpm, { public: key.public }))?.handle, 0x81000010);
  t.deepEqual((await findPersistent(sim.tpm, { public: key.public }))?.publicBytes, key.publicBytes);

  await evictPersistent(sim.tpm, 0x81000010);
  t.deepEqual(await storageHandles(), []);
  t.is(await findPersistent(sim.tpm, { name: key.name }), undefined);
  await rejectsPersistent(t, evictPersistent(sim.tpm, 0x81000010), /no persistent object at 0x81000010/);
});

test.serial("a taken handle is refused naming its holder; without a handle the lowest free one of the range is picked", async (t) => {
  t.timeout(60_000);
  const srk = await sim.tpm.createPrimary(TPM_RH.OWNER, srkTemplate());
  const ak = await sim.tpm.createPrimary(TPM_RH.OWNER, akTemplate("ecc"));
  try {
    await makePersistent(sim.tpm, srk, 0x81000010);
    await rejectsPersistent(t, makePersistent(sim.tpm, srk, 0x81000010), /0x81000010 is taken by this very object \(already persistent\)/);
    await rejectsPersistent(
      t,
      makePersistent(sim.tpm, ak, 0x81000010),
      new RegExp(`0x81000010 is taken by the object with Name ${Buffer.from(srk.name).toString("hex")}`),
    );
    // Picked: the lowest free handle of the default range, 0x81000011; then 0x81000012 in a range of its own.
    const picked = await makePersistent(sim.tpm, ak);
    t.is(picked.handle, 0x81000011);
    const again = await makePersistent(sim.tpm, ak, undefined, { range: [0x81000010, 0x81000012] });
    t.is(again.handle, 0x81000012);
    await rejectsPersistent(
      t,
      makePersistent(sim.tpm, ak, undefined, { range: [0x81000010, 0x81000012] }),
      /no free persistent handle in 0x81000010–0x81000012/,
    );
    t.deepEqual(await storageHandles(), [0x81000010, 0x81000011, 0x81000012]);
    // findPersistent returns the first match.
    t.is((await findPersistent(sim.tpm, { name: ak.name }))?.handle, 0x81000011);
    for (const h of [0x81000010, 0x81000011, 0x81000012]) await evictPersistent(sim.tpm, h);
  } finally {
    await sim.tpm.flush(srk.handle);
    await sim.tpm.flush(ak.handle);
  }
  t.deepEqual(await storageHandles(), []);
});

test.serial("handles outside 0x81000000–0x81ffffff are refused before anything is sent", async (t) => {
  const fake = { handle: 0x80000000, public: srkTemplate(), publicBytes: new Uint8Array(), name: new Uint8Array(34) };
  await rejectsPersistent(t, makePersistent(sim.tpm, fake, 0x80000001), /0x80000001 is not a persistent handle/);
  await rejectsPersistent(t, makePersistent(sim.tpm, fake, 0x1500000), /0x01500000 is not a persistent handle/);
  await rejectsPersistent(t, makePersistent(sim.tpm, fake, undefined, { range: [0x81000020, 0x81000010] }), /range 0x81000020–0x81000010 is empty/);
  await rejectsPersistent(t, evictPersistent(sim.tpm, 0x40000001), /0x40000001 is not a persistent handle/);
});

test.serial("an object tpm2_evictcontrol made persistent is found by its Name", async (t) => {
  t.timeout(60_000);
  const ctx = path.join(sim.sw.dir, "primary.ctx");
  await withoutConnection(sim, () => {
    tpm2Tool(t, "tpm2_createprimary", ["-T", sim.sw.tcti, "-C", "o", "-c", ctx]);
    tpm2Tool(t, "tpm2_evictcontrol", ["-T", sim.sw.tcti, "-C", "o", "-c", ctx, "0x81000020"]);
    tpm2Tool(t, "tpm2_flushcontext", ["-T", sim.sw.tcti, "-t"]);
  });
  const [h] = await storageHandles();
  t.is(h, 0x81000020);
  const pub = await sim.tpm.readPublic(h);
  const found = await findPersistent(sim.tpm, { name: pub.name });
  t.is(found?.handle, 0x81000020);
  await evictPersistent(sim.tpm, 0x81000020);
  t.deepEqual(await storageHandles(), []);
});
