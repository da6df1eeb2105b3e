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

test("after the ready line the output is kept whole but no longer matched, and characters split between chunks survive", async (t) => {
  // A RegExp that counts its exec calls: matching must stop once the child is ready.
  class Counting extends RegExp {
    calls = 0;
    override exec(s: string): RegExpExecArray | null {
      this.calls++;
      return super.exec(s);
    }
  }
  const ready = new Counting("ready on port (\\d+)");
  const script = [
    "console.log('ready on port 4243');",
    // 200 writes after ready, each its own chunk; one two-byte character written a byte at a time.
    "let n = 0; const t = setInterval(() => { process.stdout.write(`line ${n}\\n`); if (++n === 200) {",
    "  clearInterval(t); process.stdout.write(Buffer.from([0xc3])); setTimeout(() => { process.stdout.write(Buffer.from([0xa9, 0x0a])); console.log('done'); }, 20); } }, 1);",
    "setInterval(() => {}, 1000);",
  ].join("\n");
  const p = await spawnReady("chatty", node, ["-e", script], ready);
  const callsAtReady = ready.calls;
  const deadline = Date.now() + 10_000;
  while (!p.output().includes("done") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await p.stop();
  t.regex(p.output(), /line 0\n[^]*line 199\n/);
  t.true(p.output().includes("é\ndone"), "the split character is whole");
  t.is(ready.calls, callsAtReady, "the ready pattern is not matched again after the child is ready");
});
