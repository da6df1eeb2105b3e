import test from "ava";
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";

const MAIN = path.join(import.meta.dirname, "testdata", "run_service_main.ts");
const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", timeout: 60_000 });

test("--help prints the usage and exits 0; a bad configuration exits 2 naming the field; a failed start exits 1 with its error", (t) => {
  const help = run("--help");
  t.is(help.status, 0);
  t.is(help.stdout, "usage: demo-d --port N [--fail]\n");
  const bad = run("--port", "x");
  t.is(bad.status, 2);
  t.regex(bad.stderr, /^demo-d: bad configuration in flags: field port: is not a port number/);
  const failed = run("--port", "1", "--fail");
  t.is(failed.status, 1);
  t.is(failed.stderr, "demo-d: cannot bind 127.0.0.1:1: permission denied\n");
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`prints its ready line, and ${signal} closes the service and exits 0`, async (t) => {
    const child = spawn(process.execPath, [MAIN, "--port", "7"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("\n")) resolve();
      });
      child.once("exit", () => reject(new Error(`exited before its ready line: ${err}`)));
    });
    t.is(out, "demo-d: listening on 7\n");
    const code = new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    child.kill(signal);
    t.is(await code, 0);
    t.is(err, "closed\n");
  });
}
