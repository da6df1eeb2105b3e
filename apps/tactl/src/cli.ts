/**
 * tactl — the Trust Authority administrator's tool. `run(argv, io)` parses and dispatches; `main.ts` is the
 * process entry. Commands print JSON, or (the `tactl ta` reads) a table with `--json` for the JSON; errors are
 * one line on stderr with the exit codes of `errors.ts` (0 ok, 1 verification failed or attestd/kmxd refused,
 * 2 usage/input, 3 TPM/transport).
 * @module
 */
import { parseArgs } from "node:util";
import { COMMAND_INDEX } from "./command_index.ts";
import { EXIT } from "./errors.ts";

/** Where a command writes. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether stdout is a terminal that takes colour (main.ts: a TTY and no NO_COLOR); default no colour. */
  colour?: boolean;
  /** The environment commands read ($TESSERA_HOME); default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** One subcommand: its option spec, usage text and handler. */
export interface CommandSpec {
  /** Words after `tactl`, e.g. ["tpm", "quote"]. */
  path: string[];
  /** One-line summary. */
  summary: string;
  /** Usage line(s) for the options. */
  usage: string;
  /** Options in node:util parseArgs form (a `multiple` option's value is a string[]: read it through `unknown`). */
  options: Record<string, { type: "string" | "boolean"; short?: string; default?: string | boolean; multiple?: boolean }>;
  /** Options that must be given. */
  required?: string[];
  /** Names of positional arguments, all required (e.g. ["ID"]). */
  positionals?: string[];
  /** The last positional may be given more than once (at least once). */
  variadic?: boolean;
  /** Runs the command; returns the exit code. */
  run(values: Record<string, string | boolean | undefined>, io: Io, positionals: string[]): Promise<number>;
}

// Command groups load on demand, and only to run one of their commands or print its usage: `tactl --help` and
// `tactl eventlog show` do not pay for loading the TSS or KMIP stacks.
const GROUPS: Record<string, () => Promise<CommandSpec[]>> = {
  tpm: async () => (await import("./commands/tpm.ts")).TPM_COMMANDS,
  kmip: async () => (await import("./commands/kmip.ts")).KMIP_COMMANDS,
  eventlog: async () => (await import("./commands/eventlog.ts")).EVENTLOG_COMMANDS,
  host: async () => [...(await import("./commands/host.ts")).HOST_COMMANDS, ...(await import("./commands/workflow.ts")).WF_HOST_COMMANDS],
  ta: async () => [...(await import("./commands/ta.ts")).TA_COMMANDS, ...(await import("./commands/workflow.ts")).WF_TA_COMMANDS],
  kp: async () => (await import("./commands/kp.ts")).KP_COMMANDS,
  cluster: async () => (await import("./commands/workflow.ts")).WF_CLUSTER_COMMANDS,
  status: async () => (await import("./commands/workflow.ts")).WF_STATUS_COMMANDS,
  dev: async () => (await import("./commands/dev.ts")).DEV_COMMANDS,
  vm: async () => (await import("./commands/vm.ts")).VM_COMMANDS,
};

/** Every command's spec, from all groups (for tests: the index must list exactly these). */
export async function loadAllCommands(): Promise<CommandSpec[]> {
  return (await Promise.all(Object.values(GROUPS).map((l) => l()))).flat();
}

function help(prefix: string[]): string {
  const lines = [`usage: tactl ${prefix.join(" ")}${prefix.length ? " " : ""}<command> [options]`, "", "commands:"];
  for (const c of COMMAND_INDEX.filter((c) => prefix.every((p, i) => c.path[i] === p))) {
    lines.push(`  tactl ${c.path.join(" ").padEnd(28)} ${c.summary}`);
  }
  lines.push(
    "",
    "Run `tactl <command> --help` for its options. Exit codes: 0 ok, 1 verification failed or attestd/kmxd refused, 2 usage or input, 3 TPM or transport, 4 the KMIP server refused the operation.",
  );
  return lines.join("\n") + "\n";
}

/** Runs tactl with `argv` (without node and script). Resolves with the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  const words: string[] = [];
  for (const a of argv) {
    if (a.startsWith("-")) break;
    words.push(a);
  }
  const entry = COMMAND_INDEX.filter((c) => c.path.every((p, i) => words[i] === p)).sort((a, b) => b.path.length - a.path.length)[0];
  const cmd = entry && (await GROUPS[entry.path[0]]()).find((c) => c.path.join(" ") === entry.path.join(" "));
  if (!cmd) {
    const wantsHelp = argv.length === 0 || argv.includes("--help") || argv.includes("-h") || words[words.length - 1] === "help";
    const known = COMMAND_INDEX.some((c) => words.filter((w) => w !== "help").every((w, i) => c.path[i] === w));
    if (wantsHelp && known) {
      io.stdout(help(words.filter((w) => w !== "help")));
      return EXIT.OK;
    }
    io.stderr(`tactl: unknown command "${words.join(" ")}"\n${help([])}`);
    return EXIT.USAGE;
  }
  const rest = argv.slice(cmd.path.length);
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout(`usage: tactl ${cmd.path.join(" ")} ${cmd.usage}\n\n${cmd.summary}\n`);
    return EXIT.OK;
  }
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: rest, options: cmd.options, strict: true, allowPositionals: (cmd.positionals ?? []).length > 0 });
    values = parsed.values as Record<string, string | boolean | undefined>;
    positionals = parsed.positionals;
    const want = cmd.positionals ?? [];
    const countOk = cmd.variadic === true ? positionals.length >= want.length : positionals.length === want.length;
    if (!countOk) {
      throw new Error(want.length === 0 ? `unexpected argument "${positionals[0]}"` : `expected ${want.join(" ")}, got ${positionals.length} argument(s)`);
    }
  } catch (e) {
    io.stderr(`tactl ${cmd.path.join(" ")}: ${(e as Error).message}\nusage: tactl ${cmd.path.join(" ")} ${cmd.usage}\n`);
    return EXIT.USAGE;
  }
  const missing = (cmd.required ?? []).filter((r) => values[r] === undefined || values[r] === "");
  if (missing.length > 0) {
    io.stderr(`tactl ${cmd.path.join(" ")}: missing ${missing.map((m) => `--${m}`).join(", ")}\nusage: tactl ${cmd.path.join(" ")} ${cmd.usage}\n`);
    return EXIT.USAGE;
  }
  try {
    return await cmd.run(values, io, positionals);
  } catch (e) {
    return report(e, cmd, io);
  }
}

/** `tactl ta`'s errors about the server, its answer or the session, by class name (see `ta_client.ts`, `ta_session.ts`). */
function reportTa(err: Error & { code?: string; title?: string; detail?: string }, io: Io): number | undefined {
  if (err.name === "TaProblemError") {
    // The server's RFC 9457 problem, as it titled and detailed it.
    io.stderr(`tactl: ${err.title}${err.detail ? `: ${err.detail}` : ""}\n`);
    return EXIT.REFUSED;
  }
  if (err.name === "TaSessionError") {
    io.stderr(`tactl: ${err.message}\n`);
    return EXIT.REFUSED;
  }
  if (err.name === "TaTransportError") {
    io.stderr(`tactl: ${err.message}\n`);
    return EXIT.TPM;
  }
  return undefined;
}

// Errors are told apart by their class name (each lib's errors carry a stable name and code), so that the CLI
// core does not load every lib just to report a failure.
const VERIFY = new Set(["TpmVerifyError"]);
const INPUT = new Set(["CliError", "TpmDecodeError", "TpmEncodeError", "TpmUnsupportedError", "RangeError", "EventLogError", "BootError", "PkiError"]);
const REFUSED = new Set(["KmipResultError"]);
const TRANSPORT = new Set(["TpmResponseError", "TssError", "KmipTransportError", "KmipOutcomeUnknownError"]);

function report(e: unknown, cmd: CommandSpec, io: Io): number {
  const where = `tactl ${cmd.path.join(" ")}`;
  const err: Error & { code?: string; reason?: string } = e instanceof Error ? e : new Error(String(e));
  const ta = reportTa(err, io);
  if (ta !== undefined) return ta;
  if (VERIFY.has(err.name)) {
    io.stdout(JSON.stringify({ valid: false, check: err.code, error: err.message }, null, 2) + "\n");
    io.stderr(`${where}: ${err.code}: ${err.message}\n`);
    return EXIT.VERIFY_FAILED;
  }
  if (INPUT.has(err.name)) {
    io.stderr(`${where}: ${err.message}\n`);
    return EXIT.USAGE;
  }
  if (REFUSED.has(err.name)) {
    io.stderr(`${where}: ${err.reason}: ${err.message}\n`);
    return EXIT.KMIP_FAILED;
  }
  if (TRANSPORT.has(err.name)) {
    io.stderr(`${where}: ${err.code}: ${err.message}\n`);
    return EXIT.TPM;
  }
  io.stderr(`${where}: unexpected error: ${err.stack ?? err.message}\n`);
  return EXIT.TPM;
}
