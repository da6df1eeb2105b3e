/**
 * state.json: written 0600 and read back unchanged; absent is a first start; anything else that does not fit is
 * STATE_INVALID naming the file and the field — for any input (property tests), never another error.
 */
import test from "ava";
import fc from "fast-check";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AgentError } from "./agent_types.ts";
import { type AgentStateFile, handleNumber, handleText, loadState, parseState, saveState, statePath } from "./state.ts";

let dir: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxa-state-"));
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const FULL: AgentStateFile = {
  version: 1,
  ek: { kind: "rsa2048", fingerprint: "ab".repeat(32) },
  ak: { kind: "rsa", handle: "0x81000010", name: "000b" + "cd".repeat(32), public: "AAEC" },
  bindingKey: { handle: "0x81000011", name: "000b" + "ef".repeat(32), public: "AAEC", certifiedBy: "000b" + "cd".repeat(32), certifyInfo: "/0NH", signature: "ABQ=" },
  enrollment: { host: "h.example.test", attestd: "https://ta.example:7889", akName: "000b" + "cd".repeat(32), enrolledAt: "2026-12-03T09:00:00.000Z" },
};

test("saved 0600 and loaded back unchanged; absent is undefined", async (t) => {
  const d = path.join(dir, "roundtrip");
  t.is(await loadState(d), undefined);
  await mkdir(d, { recursive: true });
  await saveState(d, FULL);
  t.is((await stat(statePath(d))).mode & 0o777, 0o600);
  t.deepEqual(await loadState(d), FULL);
  const minimal: AgentStateFile = { version: 1, ek: FULL.ek };
  await saveState(d, minimal);
  t.deepEqual(await loadState(d), minimal);
});

test("a file that does not fit names the file and the field", async (t) => {
  const d = path.join(dir, "bad");
  await mkdir(d, { recursive: true });
  const cases: [unknown, RegExp][] = [
    [{ ...FULL, version: 2 }, /field version: .*another kmxa version/],
    [{ ...FULL, ak: { ...FULL.ak, handle: "0x80000001" } }, /field ak\.handle: is not a persistent handle/],
    [{ ...FULL, ak: { ...FULL.ak, name: "ZZ" } }, /field ak\.name: is not lowercase hex/],
    [{ ...FULL, ek: { ...FULL.ek, fingerprint: "ab" } }, /field ek\.fingerprint: /],
    [{ ...FULL, enrollment: { ...FULL.enrollment, enrolledAt: "yesterday" } }, /field enrollment\.enrolledAt: is not an RFC 3339 time/],
    [{ ...FULL, privateKey: "x" }, /field \(root\): /],
    [[], /field \(root\): /],
  ];
  for (const [content, re] of cases) {
    await writeFile(statePath(d), JSON.stringify(content));
    const e = await t.throwsAsync(loadState(d), { instanceOf: AgentError });
    t.is(e.code, "STATE_INVALID");
    t.true(e.message.startsWith(statePath(d)), e.message);
    t.regex(e.message, re);
  }
  await writeFile(statePath(d), "{not json");
  const e = await t.throwsAsync(loadState(d), { instanceOf: AgentError });
  t.regex(e.message, /not JSON/);
  t.throws(() => parseState("x".repeat(300 * 1024), "big"), { message: /larger than/ });
});

test("saveState refuses to write a state the next start would refuse", async (t) => {
  await t.throwsAsync(saveState(dir, { ...FULL, ak: { ...FULL.ak!, handle: "0x1" } }));
  t.false(await readFile(statePath(dir)).then(() => true, () => false));
});

test("handles as text and back", (t) => {
  t.is(handleText(0x81000010), "0x81000010");
  t.is(handleNumber("0x81000010"), 0x81000010);
  fc.assert(fc.property(fc.integer({ min: 0x81000000, max: 0x81ffffff }), (h) => handleNumber(handleText(h)) === h));
});

test("property: any text is a state or STATE_INVALID, never another error", (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ ...FULL, ak: v }))), (text) => {
      try {
        parseState(text, "f");
      } catch (e) {
        return e instanceof AgentError && e.code === "STATE_INVALID";
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test("property: a valid state with one field replaced by any JSON value parses or names that field", (t) => {
  const fields = ["version", "ek", "ak", "bindingKey", "enrollment"] as const;
  fc.assert(
    fc.property(fc.constantFrom(...fields), fc.jsonValue(), (field, value) => {
      const text = JSON.stringify({ ...FULL, [field]: value });
      try {
        parseState(text, "f");
        return true;
      } catch (e) {
        return e instanceof AgentError && e.code === "STATE_INVALID" && e.message.includes(`field ${field}`);
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
