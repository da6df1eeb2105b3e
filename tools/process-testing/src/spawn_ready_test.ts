import test from "ava";
import { spawnReady } from "./spawn_ready.ts";

const node = process.execPath;

test("resolves with the ready line's match; stop ends the process", async (t) => {
  const p = await spawnReady("echo server", node, ["-e", "console.error('warming'); setTimeout(() => console.log('ready on port 4242'), 50); setInterval(() => {}, 1000)"], /ready on port (\d+)/);
  t.is(p.match[1], "4242");
  t.regex(p.output(), /warming/);
  await p.stop();
  t.not(p.child.exitCode === null && p.child.signalCode === null, true);
  await p.stop();
});

test("rejects with the output when the process exits before it is ready", async (t) => {
  const e = await t.throwsAsync(spawnReady("crasher", node, ["-e", "console.error('bind failed'); process.exit(3)"], /ready/));
  t.regex(e?.message ?? "", /crasher exited \(code 3\) before it was ready:\nbind failed/);
});

test("rejects and kills the process when it is not ready in time; a missing command is named", async (t) => {
  const e = await t.throwsAsync(spawnReady("sleeper", node, ["-e", "setInterval(() => {}, 1000)"], /never/, { timeoutMs: 300 }));
  t.regex(e?.message ?? "", /sleeper did not say it was ready within 0.3 s/);
  const m = await t.throwsAsync(spawnReady("ghost", "/nonexistent/ghost", [], /x/));
  t.regex(m?.message ?? "", /ghost could not be started \(\/nonexistent\/ghost\)/);
});
