// The attestation suite's helpers: the software TPM model makes what attestd accepts (and only that), the
// measuring and formatting helpers compute what they say. No test here times anything.
import test from "ava";
import { appraise } from "@tessera/appraisal";
import { encodeCredentialFile, makeCredential, objectName, TPMS_ATTEST, TPM_ST, unmarshal, unmarshalPublic, type TpmsAttest } from "@tessera/tpm2";
import { attestSummary } from "./attest.ts";
import { benchApi } from "./attest_api.ts";
import { softActivateCredential, softAk, softBindingKey, softEk, softQuote } from "./attest_host.ts";
import { attestFixture, hostEvidence } from "./attest_inprocess.ts";
import { attestTable, measureAsync, parseProcStatCpuUs, percentile, ratio } from "./attest_measure.ts";
import { type CpuProfile, profileBuckets } from "./attest_profile.ts";

const fixture = attestFixture();

test("percentile is the nearest rank", (t) => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  t.is(percentile(v, 50), 50);
  t.is(percentile(v, 99), 99);
  t.is(percentile(v, 100), 100);
  t.is(percentile([3], 99), 3);
  t.true(Number.isNaN(percentile([], 50)));
});

test("parseProcStatCpuUs adds utime and stime (ticks of 10 ms), whatever the command name holds", (t) => {
  const line = "4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 100 0 0";
  t.is(parseProcStatCpuUs(line), 3_000_000);
  t.throws(() => parseProcStatCpuUs("garbage"), { message: /not a \/proc/ });
});

test("ratio and the table format what they are given", (t) => {
  t.is(ratio(300, 100), "3.00×");
  t.is(ratio(3000, 100), "30×");
  t.is(ratio(1, 0), "–");
  const table = attestTable([
    { name: "a", opsPerSec: 1234.4, usPerOp: 810.1, p50Ms: 0.5, p99Ms: 12.34, serverCpuUs: 700, clientCpuUs: 55.55, note: "n" },
    { name: "b", opsPerSec: 9.5, usPerOp: 105263 },
  ]);
  const lines = table.split("\n");
  t.is(lines.length, 4);
  t.is(lines[2], "| a | 1234 | 810 | 0.50 / 12.3 | 700 / 55.5 | n |");
  t.is(lines[3], "| b | 9.50 | 105263 | – | – |  |");
});

test("measureAsync counts timed calls only and keeps their latencies", async (t) => {
  let calls = 0;
  const m = await measureAsync(
    "tick",
    async () => {
      calls++;
      await new Promise((r) => setImmediate(r));
    },
    { warmupMs: 10, batchMs: 15, batches: 3 },
  );
  t.true(calls > m.ops);
  t.true(m.p50Ms <= m.p99Ms);
  t.true(m.opsPerSec > 0);
});

test("softActivateCredential recovers what MakeCredential protected for the AK's Name, and nothing for another Name", (t) => {
  const ek = softEk();
  const ak = softAk("ecc");
  const secret = new Uint8Array(32).fill(9);
  const file = encodeCredentialFile(makeCredential(ek.public, ak.name, secret));
  t.deepEqual(softActivateCredential(ek, ak.name, file), secret);
  t.throws(() => softActivateCredential(ek, softAk("ecc").name, file), { message: "integrity check failed" });
  t.throws(() => softActivateCredential(softEk(), ak.name, file));
});

test("the software AK has a TPM AK's public area: attributes, Name", (t) => {
  for (const kind of ["rsa", "ecc"] as const) {
    const ak = softAk(kind);
    const pub = unmarshalPublic(ak.publicBytes);
    t.deepEqual(objectName(pub), ak.name);
    t.is(pub.objectAttributes, ak.public.objectAttributes);
  }
});

for (const kind of ["rsa", "ecc"] as const) {
  test(`a software quote (${kind} AK) with a certified binding key is affirming on the suite's log, and only for its nonce`, (t) => {
    const ak = softAk(kind);
    const nonce = new Uint8Array(32).fill(1);
    const evidence = hostEvidence(fixture, ak, nonce, softBindingKey(ak));
    const v = appraise(evidence, fixture.policy, nonce);
    t.deepEqual(v.failures, []);
    t.is(v.status, "affirming");
    t.is(v.secureBoot, true);
    t.truthy(v.bindingKey);
    const other = appraise(evidence, fixture.policy, new Uint8Array(32).fill(2));
    t.deepEqual(
      other.failures.map((f) => f.check),
      ["quote-nonce"],
    );
    const wrongKey = appraise({ ...evidence, akPublic: softAk(kind).publicBytes }, fixture.policy, nonce);
    t.true(wrongKey.failures.some((f) => f.check === "quote-signature"));
  });
}

test("softQuote writes a TPMS_ATTEST quote over the nonce with a new clock each time", (t) => {
  const ak = softAk("ecc");
  const a = unmarshal(TPMS_ATTEST, softQuote(ak, new Uint8Array([1, 2]), fixture.quoted.selection, fixture.quoted.pcrs).quote) as TpmsAttest;
  const b = unmarshal(TPMS_ATTEST, softQuote(ak, new Uint8Array([1, 2]), fixture.quoted.selection, fixture.quoted.pcrs).quote) as TpmsAttest;
  t.is(a.type, TPM_ST.ATTEST_QUOTE);
  t.deepEqual(a.extraData, new Uint8Array([1, 2]));
  t.deepEqual(a.qualifiedSigner, ak.name);
  t.true(b.clockInfo.clock > a.clockInfo.clock);
});

test("attestSummary says which goals are met, with the peers' figures", (t) => {
  const inProcess = { name: "x", opsPerSec: 1000, usPerOp: 1000, ops: 1, p50Ms: 1, p99Ms: 1, cpuUsPerOp: 1000 };
  const slow = attestSummary(
    [{ connections: 8, attestations: 100, opsPerSec: 400, p50Ms: 20, p99Ms: 40, serverCpuUs: 2500, clientCpuUs: 100, failures: 0 }],
    inProcess,
    2,
  );
  t.regex(slow.join("\n"), /attestd 2500 µs vs 1000 µs in-process = 2\.50× — NOT met/);
  t.regex(slow.join("\n"), /3000\/s on 2 cores: 400\/s = 0\.13× of it — NOT met \(7\.50× short\)/);
  t.regex(slow.join("\n"), /Keylime.*1250\/s.*: 0\.32×/);
  const fast = attestSummary(
    [
      { connections: 1, attestations: 100, opsPerSec: 2000, p50Ms: 1, p99Ms: 2, serverCpuUs: 600, clientCpuUs: 100, failures: 0 },
      { connections: 8, attestations: 100, opsPerSec: 3500, p50Ms: 2, p99Ms: 4, serverCpuUs: 550, clientCpuUs: 100, failures: 0 },
    ],
    inProcess,
    2,
  );
  t.regex(fast[0], /3500 attestations\/s at 8 connection/);
  const paired = attestSummary(
    [
      {
        connections: 8,
        attestations: 100,
        opsPerSec: 400,
        p50Ms: 20,
        p99Ms: 40,
        serverCpuUs: 2500,
        clientCpuUs: 100,
        failures: 0,
        inProcess: { ...inProcess, cpuUsPerOp: 5000 },
      },
    ],
    inProcess,
    2,
  );
  t.regex(paired.join("\n"), /attestd 2500 µs vs 5000 µs in-process \(measured right after that cell\) = 0\.50× — met/);
  t.regex(fast.join("\n"), /attestd 550 µs vs 1000 µs in-process = 0\.55× — met/);
  t.regex(fast.join("\n"), /3000\/s on 2 cores: 3500\/s = 1\.17× of it — met/);
  t.notRegex(slow.join("\n"), /HTTPS floor/, "no floor line without a floor");
  const floored = attestSummary(
    [{ connections: 8, attestations: 100, opsPerSec: 400, p50Ms: 20, p99Ms: 40, serverCpuUs: 2500, clientCpuUs: 100, failures: 0 }],
    inProcess,
    2,
    { connections: 8, requests: 1000, perSec: 5000, serverCpuUs: 250, clientCpuUs: 90, failures: 0 },
  );
  t.regex(
    floored.join("\n"),
    /HTTPS floor \(GET \/\.well-known\/jwks\.json, 8 connections\): 250 µs of CPU per request; an attestation's two requests: 500 µs of its 2500 µs \(20%\)\. The rest, 2000 µs .* is 2\.00× the in-process appraisal/,
  );
  t.notRegex(floored.join("\n"), /The bound/, "no bound line without a bound cell");
  const bounded = attestSummary(
    [{ connections: 8, attestations: 100, opsPerSec: 400, p50Ms: 20, p99Ms: 40, serverCpuUs: 2500, clientCpuUs: 100, failures: 0 }],
    inProcess,
    2,
    undefined,
    { connections: 8, attestations: 300, opsPerSec: 1200, p50Ms: 7, p99Ms: 20, serverCpuUs: 1250, clientCpuUs: 400, failures: 0 },
  );
  t.regex(
    bounded.join("\n"),
    /The bound .*: 1200\/s at 8 connections, 1250 µs of CPU per attestation = 1\.25× the in-process appraisal measured right after it \(1000 µs\), the client 400 µs; 0\.40× of 3000\/s\. attestd against the bound: CPU 2\.00×, rate 0\.33×\./,
  );
});

test("profileBuckets sums the window's busy samples into the first bucket matching their stack", (t) => {
  const frame = (id: number, functionName: string, children: number[] = []) => ({
    id,
    callFrame: { functionName, url: "file:///x/src/f.ts", lineNumber: 0 },
    children,
  });
  // root → handler → appraise → secureBootState; root → (idle); root → handler → query (the store)
  const profile: CpuProfile = {
    nodes: [
      frame(1, "(root)", [2, 5, 6]),
      frame(2, "handler", [3, 7]),
      frame(3, "appraise", [4]),
      frame(4, "secureBootState"),
      frame(5, "(idle)"),
      frame(6, "(garbage collector)"),
      frame(7, "query"),
    ],
    startTime: 0,
    endTime: 10_000,
    // Sample times 1000, 2000, … 9000 µs; each stands for 1000 µs (the time to the next sample).
    samples: [4, 4, 3, 7, 5, 6, 4, 2, 4],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
  };
  const buckets = [
    { name: "sb", frames: /^secureBootState / },
    { name: "appraise", frames: /^appraise / },
    { name: "store", frames: /^query / },
  ];
  const all = Object.fromEntries(profileBuckets(profile, buckets, 10, 0).map((r) => [r.name, r.us]));
  t.deepEqual(all, { sb: 3000, appraise: 1000, store: 1000, other: 2000 });
  // The last 3 ms only: samples at 7000 (sb), 8000 (handler → other), 9000 (sb, the last one, whose span is unknown: 0).
  const tail = Object.fromEntries(profileBuckets(profile, buckets, 3, 0).map((r) => [r.name, r.us]));
  t.deepEqual(tail, { sb: 1000, appraise: 0, store: 0, other: 1000 });
});

test("the API part enrolls hosts through attestd and every attestation of a short cell is affirming with a token", async (t) => {
  const r = await benchApi(fixture, { connections: [2], durationMs: 300 });
  t.is(r.cells.length, 1);
  const cell = r.cells[0];
  t.true(cell.attestations > 0);
  t.is(cell.failures, 0);
  t.not(cell.serverCpuUs, undefined, "attestd's CPU time is read from /proc");
  t.regex(r.rows[0].note ?? "", /all affirming with a token/);
  const floor = r.floor;
  if (floor === undefined) return t.fail("no HTTPS floor measured");
  t.is(floor.connections, 2);
  t.true(floor.requests > 0);
  t.is(floor.failures, 0, "every GET /.well-known/jwks.json answered 200");
  t.not(floor.serverCpuUs, undefined);
  t.regex(r.rows.at(-2)?.name ?? "", /HTTPS floor: GET \/\.well-known\/jwks\.json, 2 connections/);
  // The bound server answers the same hosts' requests: every attestation affirming, with its own process's CPU.
  const bound = r.bound;
  if (bound === undefined) return t.fail("no bound cell measured");
  t.is(bound.connections, 2);
  t.true(bound.attestations > 0);
  t.is(bound.failures, 0);
  t.not(bound.serverCpuUs, undefined, "the bound server's CPU time is read from /proc");
  t.regex(r.rows.at(-1)?.name ?? "", /^bound: .*, 2 connections/);
  t.regex(r.rows.at(-1)?.note ?? "", /all affirming with a token/);
});
