/**
 * writeFileAtomic: the whole file or the old one, mode as asked, no temporary file left; pieces written in order
 * without joining them (an envelope's header, ciphertext and tag).
 */
import test from "ava";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { writeFileAtomic } from "./files.ts";

test("bytes, text and pieces land whole, with the mode asked, and nothing else is left in the folder", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tactl-files-"));
  try {
    const f = path.join(dir, "vm.nvram");
    await writeFile(f, "old");
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i & 0xff);
    const pieces = [new Uint8Array([1, 2, 3]), new Uint8Array(0), big, new Uint8Array([9])];
    await writeFileAtomic(f, pieces, 0o600);
    const got = new Uint8Array(await readFile(f));
    t.is(got.length, 3 + big.length + 1);
    t.deepEqual(got.subarray(0, 3), new Uint8Array([1, 2, 3]));
    t.deepEqual(got.subarray(3, 3 + big.length), big);
    t.is(got[got.length - 1], 9);
    t.is((await stat(f)).mode & 0o777, 0o600);
    await writeFileAtomic(f, "text");
    t.is(await readFile(f, "utf8"), "text");
    await writeFileAtomic(f, new Uint8Array([7]));
    t.deepEqual(new Uint8Array(await readFile(f)), new Uint8Array([7]));
    t.deepEqual(await readdir(dir), ["vm.nvram"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a write that fails leaves the old file and no temporary file", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tactl-files-"));
  try {
    const f = path.join(dir, "vm.nvram");
    await writeFile(f, "old");
    await t.throwsAsync(writeFileAtomic(f, [new Uint8Array(1), "not bytes" as unknown as Uint8Array]));
    t.is(await readFile(f, "utf8"), "old");
    t.deepEqual(await readdir(dir), ["vm.nvram"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
