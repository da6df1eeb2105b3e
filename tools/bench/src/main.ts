#!/usr/bin/env node
/**
 * Tessera benchmarks. From the repository root: `npm run bench` (all suites), or
 * `npm run bench -- --suite tpm` / `--suite kmip` / `--suite eventlog`. Prints Markdown tables; BENCHMARKS.md records a run.
 * @module
 */
import { parseArgs } from "node:util";
import { benchKmip, kmipTable } from "./kmip.ts";
import { benchTpm } from "./tpm.ts";
import { benchEventlog } from "./eventlog.ts";

const { values } = parseArgs({
  options: {
    suite: { type: "string", default: "tpm,kmip,eventlog" },
    seconds: { type: "string", default: "3" },
    // KMIP suite only: a subset of operations, connection counts and servers, Node options and options for kmipd.
    ops: { type: "string" },
    connections: { type: "string" },
    servers: { type: "string" },
    "kmipd-node-args": { type: "string" },
    "kmipd-args": { type: "string" },
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
