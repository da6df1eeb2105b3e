#!/usr/bin/env node
/**
 * Tessera benchmarks. From the repository root: `npm run bench` (all suites), or
 * `npm run bench -- --suite tpm` / `--suite kmip` / `--suite eventlog` / `--suite startup` (whole-process start-up
 * of tactl and kmipd; `--runs N`, `--npx` to include `npx tactl`, `--tactl-before F` to compare an earlier
 * tactl's src/main.ts) / `--suite attest` (attestd's API against in-process and the crypto floor; `--connections`,
 * `--seconds`, `--attestd-node-args=--cpu-prof,--cpu-prof-dir=D`, `--attestd-main OTHER/apps/attestd/src/main.ts`,
 * `--attestd-profile DIR` for one more cell under --cpu-prof and where attestd's time went, `--attestd-workers N` for
 * attestd's `--workers N`) / `--suite kmx` (kmxd's unwrap end to end against KMIP Decrypt alone plus the JWE;
 * `--concurrency 16`, `--seconds`, `--kmxd-node-args=--cpu-prof,--cpu-prof-dir=D`) / `--suite fleet` (`--hosts N` swtpm hosts with
 * their kmxa, fleet.ts) / `--suite fleet-sim` (`--hosts`, `--interval`, `--duration`, `--rates`, `--attestd-profile DIR`, fleet_sim.ts) / `--suite vtpm` (the envelope against
 * bare AES-256-GCM and vTPM start/stop with a warm agent, `--cycles N`, vtpm.ts). Prints Markdown tables; BENCHMARKS.md records a run.
 * @module
 */
import { parseArgs } from "node:util";
import { benchKmip, kmipTable } from "./kmip.ts";
import { benchTpm } from "./tpm.ts";
import { benchEventlog } from "./eventlog.ts";
import { benchStartup } from "./startup.ts";
import { benchAttest } from "./attest.ts";
import { benchKmx } from "./kmx.ts";
import { benchFleet } from "./fleet.ts";
import { benchFleetSim } from "./fleet_sim.ts";
import { benchVtpm } from "./vtpm.ts";

const { values } = parseArgs({
  options: {
    suite: { type: "string", default: "tpm,kmip,eventlog,startup,attest,kmx" },
    seconds: { type: "string", default: "3" },
    // KMIP suite only: a subset of operations, connection counts and servers, Node options and options for kmipd.
    ops: { type: "string" },
    connections: { type: "string" },
    servers: { type: "string" },
    "kmipd-node-args": { type: "string" },
    "kmipd-args": { type: "string" },
    // Attestation suite only: Node options for attestd (e.g. a CPU profile).
    "attestd-node-args": { type: "string" },
    "attestd-main": { type: "string" },
    "attestd-profile": { type: "string" },
    "attestd-workers": { type: "string" },
    // Key-provider suite only: concurrent callers (default 16).
    concurrency: { type: "string" },
    "kmxd-node-args": { type: "string" },
    // Start-up suite only.
    runs: { type: "string", default: "15" },
    npx: { type: "boolean" },
    "tactl-before": { type: "string" },
    // Fleet suites only (`--suite fleet` / `--suite fleet-sim`, not in the default set): hosts, and for fleet-sim the
    // re-attestation interval, the steady state's duration and the capacity search's rates (comma-separated).
    hosts: { type: "string" },
    interval: { type: "string" },
    duration: { type: "string" },
    rates: { type: "string" },
    // vTPM suite only (`--suite vtpm`, not in the default set): start/stop cycles per key provider (default 20).
    cycles: { type: "string" },
  },
});
const list = (v: string | undefined) => (v ? v.split(",").filter(Boolean) : undefined);
const suites = new Set((values.suite ?? "").split(","));
const ms = Number(values.seconds) * 1000;
if (suites.has("tpm")) process.stdout.write(`## TPM\n\n${await benchTpm()}\n\n`);
if (suites.has("kmip"))
  process.stdout.write(
    `## KMIP servers\n\n${kmipTable(
      await benchKmip({
        durationMs: ms,
        pykmipDurationMs: ms,
        operations: list(values.ops),
        connections: list(values.connections)?.map(Number),
        servers: list(values.servers),
        kmipdNodeArgs: list(values["kmipd-node-args"]),
        kmipdArgs: list(values["kmipd-args"]),
      }),
    )}\n`,
  );
if (suites.has("eventlog")) process.stdout.write(`\n## Event logs\n\n${benchEventlog()}\n`);
if (suites.has("startup"))
  process.stdout.write(`\n## Start-up\n\n${await benchStartup({ runs: Number(values.runs), npx: values.npx, tactlBefore: values["tactl-before"] })}\n`);
if (suites.has("attest"))
  process.stdout.write(
    `\n## Attestation\n\n${await benchAttest({ durationMs: ms, connections: list(values.connections)?.map(Number), nodeArgs: list(values["attestd-node-args"]), attestdMain: values["attestd-main"], profileDir: values["attestd-profile"], ...(values["attestd-workers"] !== undefined ? { workers: Number(values["attestd-workers"]) } : {}) })}\n`,
  );
if (suites.has("kmx"))
  process.stdout.write(
    `\n## Key provider (kmxd)\n\n${await benchKmx({ durationMs: ms, kmxdNodeArgs: list(values["kmxd-node-args"]), ...(values.concurrency !== undefined ? { concurrency: Number(values.concurrency) } : {}) })}\n`,
  );
if (suites.has("fleet"))
  process.stdout.write(`\n## The fleet on this machine\n\n${(await benchFleet({ ...(values.hosts !== undefined ? { hosts: Number(values.hosts) } : {}) })).markdown}\n`);
if (suites.has("fleet-sim"))
  process.stdout.write(
    `\n## Past one machine, by simulation\n\n${
      (
        await benchFleetSim({
          ...(values.hosts !== undefined ? { hosts: Number(values.hosts) } : {}),
          ...(values.interval !== undefined ? { intervalSeconds: Number(values.interval) } : {}),
          ...(values.duration !== undefined ? { durationSeconds: Number(values.duration) } : {}),
          ...(values.rates !== undefined ? { rates: list(values.rates)!.map(Number) } : {}),
          ...(values["attestd-profile"] !== undefined ? { profileDir: values["attestd-profile"] } : {}),
        })
      ).markdown
    }\n`,
  );
if (suites.has("vtpm"))
  process.stdout.write(
    `\n## vTPM: envelope and start/stop\n\n${(await benchVtpm({ ...(values.cycles !== undefined ? { cycles: Number(values.cycles) } : {}) })).markdown}\n`,
  );
