#!/usr/bin/env node
/**
 * tactl process entry: turns on Node's compile cache, then runs the
 * CLI with the process's arguments and exits with its code. The CLI is imported only after the cache is on, so
 * that its modules are read from the cache.
 * @module
 */
import module from "node:module";

// In the OS temporary directory (or NODE_COMPILE_CACHE), never in the repository, so that a read-only checkout
// works; a cache that cannot be written is skipped silently. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
module.enableCompileCache?.();
const { run } = await import("./cli.ts");
const code = await run(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  // Colour (host status) only on a terminal, and never with NO_COLOR (https://no-color.org).
  colour: process.stdout.isTTY === true && (process.env.NO_COLOR ?? "") === "",
});
process.exitCode = code;
