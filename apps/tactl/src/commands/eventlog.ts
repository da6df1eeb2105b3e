/**
 * `tactl eventlog …`: reading TCG event logs (kept free of the TSS so that it starts fast).
 * @module
 */
import {
  checkEventDigests,
  comparePcrs,
  decodeEvent,
  type DecodedEvent,
  eventTypeName,
  type EventLog,
  parseEventLog,
  replay,
  secureBootState,
} from "@tessera/eventlog";
import { algName, toHex } from "@tessera/tpm2";
import type { CommandSpec, Io } from "../cli.ts";
import { CliError, EXIT } from "../errors.ts";
import { readBytes } from "../files.ts";
import { pcrsToJson, readPcrValues } from "../public_file.ts";
import { str, type Values } from "../values.ts";


async function readLog(file: string): Promise<EventLog> {
  const bytes = await readBytes(file, "event log");
  try {
    return parseEventLog(bytes);
  } catch (e) {
    throw new CliError("TACTL_INPUT", `${file}: ${(e as Error).message}`, { cause: e });
  }
}

function json(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) => (typeof x === "bigint" ? x.toString() : x instanceof Uint8Array ? toHex(x) : x instanceof Map ? Object.fromEntries(x) : x),
    2,
  );
}

/** A one-line summary of decoded event data for the table. */
function summary(d: DecodedEvent): string {
  switch (d.kind) {
    case "efi-variable":
      return `${d.name}${"bool" in d && d.bool !== undefined ? ` = ${d.bool}` : ""}${d.signatureLists ? ` (${d.signatureLists.reduce((n, l) => n + l.signatures.length, 0)} signatures)` : ""}`;
    case "efi-image":
      return d.devicePath;
    case "separator":
      return d.error ? "error separator" : "separator";
    case "text":
      return d.text.length > 80 ? d.text.slice(0, 77) + "…" : d.text;
    case "startup-locality":
      return `locality ${d.locality}`;
    case "spec-id":
      return `Spec ID Event03, banks ${d.specId.algorithms.map((a) => algName(a.alg)).join(",")}`;
    case "efi-gpt":
      return `GPT ${d.diskGuid} (${d.partitions.length} partitions)`;
    case "firmware-blob":
      return `firmware blob ${d.description ?? ""} @0x${d.base.toString(16)} +${d.length}`;
    default:
      return "";
  }
}

async function show(v: Values, io: Io, [file]: string[]): Promise<number> {
  const log = await readLog(file);
  const pcrs = replay(log);
  const events = log.events.map((e) => ({
    index: e.index,
    pcr: e.pcr,
    type: eventTypeName(e.type),
    digests: Object.fromEntries([...e.digests].map(([alg, d]) => [algName(alg), toHex(d)])),
    data: decodeEvent(e, log),
  }));
  if (v.json) {
    io.stdout(json({ format: log.format, pcrs: pcrsToJson(pcrs), events, secureBoot: secureBootState(log), digestProblems: checkEventDigests(log) }) + "\n");
    return EXIT.OK;
  }
  const bank = [...(log.events[0]?.digests.keys() ?? [])].includes(11) ? 11 : [...(log.events[0]?.digests.keys() ?? [4])][0];
  const lines = [
    `format ${log.format}, ${log.events.length} events`,
    "",
    "  #  PCR  type                                digest (" + algName(bank) + ")    data",
  ];
  for (const e of log.events) {
    const d = e.digests.get(bank);
    lines.push(
      `${String(e.index).padStart(3)}  ${String(e.pcr).padStart(3)}  ${eventTypeName(e.type).padEnd(34)}  ${d ? toHex(d).slice(0, 16) + "…" : "-".padEnd(17)}  ${summary(decodeEvent(e, log))}`,
    );
  }
  lines.push("", "PCRs:");
  for (const [b, m] of pcrs) for (const [i, val] of [...m].sort((x, y) => x[0] - y[0])) lines.push(`  ${algName(b)}:${String(i).padEnd(2)} ${toHex(val)}`);
  const sb = secureBootState(log);
  lines.push(
    "",
    `Secure Boot: ${sb.enabled === undefined ? "not measured" : sb.enabled ? "enabled" : "disabled"}; PK ${sb.pk ? "✓" : "–"} KEK ${sb.kek ? "✓" : "–"} db ${sb.db ? "✓" : "–"} dbx ${sb.dbx ? "✓" : "–"}; ${sb.dbCertificates.length} db certificate(s)`,
  );
  const problems = checkEventDigests(log);
  if (problems.length)
    lines.push(
      "",
      `${problems.length} event(s) whose digest does not match their data:`,
      ...problems.map((p) => `  #${p.index} PCR ${p.pcr} ${p.type} ${p.bank}: ${p.reason}`),
    );
  io.stdout(lines.join("\n") + "\n");
  return EXIT.OK;
}

async function verify(v: Values, io: Io, [file]: string[]): Promise<number> {
  const log = await readLog(file);
  const quoted = await readPcrValues(str(v, "pcrs"));
  const r = comparePcrs(replay(log), quoted);
  if (r.ok) {
    io.stdout(json({ valid: true, pcrs: pcrsToJson(quoted) }) + "\n");
    return EXIT.OK;
  }
  const m = r.firstMismatch!;
  const msg = `PCR ${algName(m.bank)}:${m.pcr} replays to ${toHex(m.replayed)} but the PCR value is ${toHex(m.expected)}${m.lastEvent !== undefined ? ` (last event extending it: #${m.lastEvent})` : ""}`;
  io.stdout(json({ valid: false, bank: algName(m.bank), pcr: m.pcr, expected: toHex(m.expected), replayed: toHex(m.replayed), lastEvent: m.lastEvent }) + "\n");
  io.stderr(`tactl eventlog verify: ${msg}\n`);
  return EXIT.VERIFY_FAILED;
}

/** The `tactl eventlog` commands. */
export const EVENTLOG_COMMANDS: CommandSpec[] = [
  {
    path: ["eventlog", "show"],
    summary: "the events of a TCG event log, replayed PCRs and Secure Boot state (table, or --json)",
    usage: "FILE [--json]",
    options: { json: { type: "boolean" } },
    positionals: ["FILE"],
    run: show,
  },
  {
    path: ["eventlog", "verify"],
    summary: "replay a TCG event log and compare with PCR values; exit 1 naming the first differing PCR",
    usage: "FILE --pcrs pcrs.json",
    options: { pcrs: { type: "string" } },
    required: ["pcrs"],
    positionals: ["FILE"],
    run: verify,
  },
];
