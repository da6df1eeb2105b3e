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

const { values } = parseArgs({ options: { suite: { type: "string", default: "tpm,kmip,eventlog" }, seconds: { type: "string", default: "3" } } });
const suites = new Set((values.suite ?? "").split(","));
const ms = Number(values.seconds) * 1000;
if (suites.has("tpm")) process.stdout.write(`## TPM\n\n${await benchTpm()}\n\n`);
if (suites.has("kmip")) process.stdout.write(`## KMIP servers\n\n${kmipTable(await benchKmip({ durationMs: ms, pykmipDurationMs: ms }))}\n`);
if (suites.has("eventlog")) process.stdout.write(`\n## Event logs\n\n${benchEventlog()}\n`);
