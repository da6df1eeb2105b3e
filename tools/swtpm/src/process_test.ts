import test from "ava";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SwtpmError } from "./errors.ts";
import { isRunning, makeTrackedTempDir, OutputTail, removeTrackedTempDir, spawnManaged, terminate, waitUntilReady } from "./_process.ts";

const exec = promisify(execFile);

function alive(pid: number | undefined): boolean {
  try {
    process.kill(pid ?? 0, 0);
    return true;
  } catch {
    return false;
  }
}

test("OutputTail keeps the last characters", (t) => {
  const tail = new OutputTail(5);
  tail.append("abc");
  tail.append(Buffer.from("defg"));
  t.is(tail.text, "cdefg");
});

test("a managed child is ready once its check passes, and terminate() ends it", async (t) => {
  const managed = spawnManaged("/bin/sh", ["-c", "echo listening; exec sleep 60"]);
  await waitUntilReady(managed, "listening", () => managed.output.text.includes("listening"), { timeoutMs: 10000 });
  t.true(isRunning(managed));
  const pid = managed.child.pid;
  t.true(alive(pid));
  await terminate(managed);
  t.false(isRunning(managed));
  t.false(alive(pid));
  t.is((await managed.closed).signal, "SIGTERM");
  await terminate(managed); // idempotent
});

test("waitUntilReady names the program, its exit and its output when the child exits first", async (t) => {
  const managed = spawnManaged("/bin/sh", ["-c", "echo boom >&2; exit 3"]);
  const e = await t.throwsAsync(() => waitUntilReady(managed, "accepting connections", () => false, { timeoutMs: 10000 }), { instanceOf: SwtpmError });
  t.is(e?.code, "SWTPM_START");
  t.regex(e?.message ?? "", /^sh exited before accepting connections \(exit 3\): \/bin\/sh -c/);
  t.regex(e?.message ?? "", /boom/);
});

test("waitUntilReady gives up after its timeout, leaving the child to the caller", async (t) => {
  const managed = spawnManaged("/bin/sleep", ["60"]);
  t.teardown(() => terminate(managed, 100));
  await t.throwsAsync(() => waitUntilReady(managed, "ready", () => false, { timeoutMs: 50 }), {
    instanceOf: SwtpmError,
    message: /^sleep not ready within 50 ms/,
  });
  t.true(isRunning(managed));
});

test("a program that cannot be spawned is reported, not thrown", async (t) => {
  const managed = spawnManaged("/nonexistent/tessera-program", []);
  const e = await t.throwsAsync(() => waitUntilReady(managed, "ready", () => false, { timeoutMs: 10000 }), { instanceOf: SwtpmError });
  // Under setpriv it is setpriv that exits, saying why; without it the spawn error is the reason.
  t.regex(e?.message ?? "", /exited before ready \((exit \d+|spawn \/nonexistent\/tessera-program ENOENT)\): \/nonexistent\/tessera-program\n/);
  t.regex(e?.message ?? "", /ENOENT|No such file/);
  await terminate(managed);
});

test("tracked temp folders are removed by removeTrackedTempDir", async (t) => {
  const dir = await makeTrackedTempDir("tessera-process-test-");
  t.true(existsSync(dir));
  await removeTrackedTempDir(dir);
  t.false(existsSync(dir));
});

test("the exit hook kills managed children and removes tracked folders when the process exits", async (t) => {
  const module = path.join(path.dirname(fileURLToPath(import.meta.url)), "_process.ts");
  const script = `
    const { makeTrackedTempDir, spawnManaged } = await import(${JSON.stringify(module)});
    const dir = await makeTrackedTempDir("tessera-exit-hook-");
    const child = spawnManaged("/bin/sleep", ["60"]);
    await new Promise((resolve) => child.child.once("spawn", resolve));
    console.log(JSON.stringify({ dir, pid: child.child.pid }));
    process.exit(0);
  `;
  const { stdout } = await exec(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 30000 });
  const { dir, pid } = JSON.parse(stdout) as { dir: string; pid: number };
  t.false(existsSync(dir), dir);
  // setpriv exec()s the program, so the pid is sleep's; it is SIGKILLed, give the kernel a moment to reap it.
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  t.false(alive(pid));
});
