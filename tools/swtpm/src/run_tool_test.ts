import test from "ava";
import { SwtpmError } from "./errors.ts";
import { runTool } from "./_run_tool.ts";

test("runTool returns what the program printed", async (t) => {
  const r = await runTool("/bin/sh", ["-c", "echo out; echo err >&2"], 10000);
  t.is(r.stdout, "out\n");
  t.is(r.stderr, "err\n");
});

test("runTool passes the environment it is given", async (t) => {
  const r = await runTool("/bin/sh", ["-c", 'echo "$TESSERA_X"'], 10000, { TESSERA_X: "42" });
  t.is(r.stdout, "42\n");
});

test("a failing program is a SWTPM_TOOL error with its command line, exit code and output", async (t) => {
  const e = await t.throwsAsync(() => runTool("/bin/sh", ["-c", "echo out; echo err >&2; exit 7"], 10000), { instanceOf: SwtpmError });
  t.is(e?.code, "SWTPM_TOOL");
  t.regex(e?.message ?? "", /^\/bin\/sh -c .* exited with 7\n--- stdout ---\nout\n--- stderr ---\nerr$/s);
});

test("a program that runs too long is killed and reported", async (t) => {
  await t.throwsAsync(() => runTool("/bin/sleep", ["60"], 100), { instanceOf: SwtpmError, message: /^\/bin\/sleep 60 timed out after 100 ms/ });
});

test("a program that does not exist is reported", async (t) => {
  await t.throwsAsync(() => runTool("/nonexistent/tessera-tool", [], 1000), {
    instanceOf: SwtpmError,
    message: /^Could not run \/nonexistent\/tessera-tool: .*ENOENT/,
  });
});
