// The fleet suites, run tiny so that their code cannot rot: 2 real swtpm hosts with their kmxa all turn green; 50
// simulated hosts enrol and every attestation affirms, on two attestd nodes on a real PostgreSQL. No test here
// asserts a duration or whether a rate was held (both depend on the machine's load).
import test from "ava";
import { encodeCredentialFile, makeCredential } from "@tessera/tpm2";
import { softAk } from "./attest_host.ts";
import { benchFleet } from "./fleet.ts";
import { benchFleetSim } from "./fleet_sim.ts";
import { busyFraction, machineCpu } from "./_fleet_machine.ts";
import { softActivateCredentialEcc, softEccEk } from "./_fleet_sim_host.ts";

const quiet = () => undefined;

test("softActivateCredentialEcc recovers what MakeCredential protected to an ECC EK for the AK's Name, and nothing for another Name or EK", (t) => {
  const ek = softEccEk();
  const ak = softAk("ecc");
  const secret = new Uint8Array(32).fill(5);
  const file = encodeCredentialFile(makeCredential(ek.public, ak.name, secret));
  t.deepEqual(softActivateCredentialEcc(ek, ak.name, file), secret);
  t.throws(() => softActivateCredentialEcc(ek, softAk("ecc").name, file), { message: "integrity check failed" });
  t.throws(() => softActivateCredentialEcc(softEccEk(), ak.name, file));
});

test("machineCpu counts user, nice, system, irq, softirq and steal as busy; idle and iowait as not", (t) => {
  const a = machineCpu("cpu  100 10 50 1000 40 5 5 0 0 0\ncpu0 1 2 3 4\n");
  t.deepEqual(a, { busy: 170, total: 1210 });
  const b = machineCpu("cpu  200 10 100 1100 40 5 5 0 0 0\n");
  t.is(busyFraction(a, b), 150 / 250);
  t.throws(() => machineCpu("intr 1 2 3\n"), { message: /no cpu line/ });
});

test.serial("fleet-sim, 50 hosts on two nodes: all enrolled, every attestation affirmed, the table has every phase", async (t) => {
  const r = await benchFleetSim({ hosts: 50, intervalSeconds: 10, durationSeconds: 3, rates: [20], stepSeconds: 2, noPeer: true, progress: quiet });
  t.is(r.hosts, 50);
  t.is(r.nodes, 2);
  t.is(r.steady.attestations, 15);
  t.is(r.search.length, 1);
  t.is(r.search[0].attestations, 40);
  for (const p of [r.steady, ...r.search]) {
    t.is(p.failures, 0, p.firstFailure);
    t.is(p.attestdCpuUs.length, 2);
    t.true(p.dbConnectionsMax > 0, "attestd's connections are seen in pg_stat_activity");
    t.true(p.dbCommits > 0 && p.dbRowsWritten > 0, "attestd's transactions are seen in pg_stat_database");
  }
  // The steady phase attested hosts 0–14 once each: green; the others are enrolled and not attested yet.
  t.deepEqual(r.statuses, { green: 15, unknown: 35 });
  // Every attestation is a row of attestd's history; every EK was trusted by its certificate, none pinned.
  t.is(r.attestationsTotal, 55);
  t.is(r.tables.find((x) => x.table === "attestd_attestations")?.rows, 55);
  t.is(r.tables.find((x) => x.table === "attestd_ek_pins")?.rows, 0);
  t.is(r.tables.find((x) => x.table === "attestd_enrollments")?.rows, 50, "each host enrolled with its EK certificate");
  const rows = r.markdown.split("\n").filter((l) => /^\| (steady|search)/.test(l));
  t.is(rows.length, 2);
});

test.serial("fleet, 2 real swtpm hosts with kmxa: both turn green, each through an affirming attestation", async (t) => {
  const r = await benchFleet({ hosts: 2, noPeers: true, progress: quiet });
  t.deepEqual(
    r.hosts.map((h) => h.name),
    ["fleet-1", "fleet-2"],
  );
  for (const h of r.hosts) {
    t.true(h.affirming >= 1, `${h.name} affirmed`);
    t.true(h.greenAfterMs > 0, `${h.name} turned green after its agent started`);
    t.true(h.kmxaRssKiB > 0 && h.swtpmRssKiB > 0, `${h.name}'s processes were alive when measured`);
  }
  t.true(r.attestdCpuUsPerHost > 0);
  t.regex(r.markdown, /\| all 2 green, from the agents' start \|/);
});
