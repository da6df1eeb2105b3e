import test from "ava";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const APP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// Records every file the process loads, on stderr.
const HOOK = `data:text/javascript,import{registerHooks}from"node:module";registerHooks({load(u,c,n){if(u.startsWith("file:"))process.stderr.write("LOADED "+u+"\\n");return n(u,c)}})`;

function loads(args: string[]): { status: number | null; files: string[]; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", HOOK, path.join(APP, "src/main.ts"), ...args], { encoding: "utf8", timeout: 60_000 });
  const files = [...r.stderr.matchAll(/^LOADED file:\/\/(.*)$/gm)].map((m) => m[1]);
  return { status: r.status, files, stderr: r.stderr };
}

test("kmipd --help and a bad flag load neither the server, the store nor the logger", (t) => {
  for (const [args, status] of [
    [["--help"], 0],
    [["--threads", "zero"], 2],
  ] as const) {
    const r = loads([...args]);
    t.is(r.status, status, r.stderr);
    const ours = r.files.filter((f) => f.startsWith(APP)).map((f) => path.relative(APP, f));
    t.deepEqual(ours.sort(), ["src/config.ts", "src/limits.ts", "src/main.ts"], args.join(" "));
    t.false(
      r.files.some((f) => /node_modules\/(pino|pg)\//.test(f) || f.includes("/libs/")),
      r.files.join("\n"),
    );
  }
});
