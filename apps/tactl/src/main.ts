#!/usr/bin/env node
/**
 * tactl process entry: runs the CLI with the process's arguments and exits with its code.
 * @module
 */
import { run } from "./cli.ts";

const code = await run(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
});
process.exitCode = code;
