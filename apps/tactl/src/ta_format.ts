/**
 * Text output of `tactl ta`: aligned tables, the host status colours (only on a terminal: a pipe or a file gets
 * plain text), and the failed checks of a red host as PROTOCOL.md reports them.
 * @module
 */

/** ANSI colours for host statuses; none when the output is not a terminal or NO_COLOR is set. */
const COLOURS: Record<string, string> = { green: "\x1b[32m", red: "\x1b[31m", stale: "\x1b[33m" };
const RESET = "\x1b[0m";

/** A status word, coloured when `colour` is on (green, red, stale; unknown stays plain). */
export function statusWord(status: string, colour: boolean): string {
  const c = COLOURS[status];
  return colour && c !== undefined ? `${c}${status}${RESET}` : status;
}

/** The printed width of `s`: its characters without ANSI colour sequences. */
export function visibleLength(s: string): number {
  return [...s.replace(/\x1b\[[0-9;]*m/g, "")].length;
}

/**
 * An aligned table: a header row, then the rows, columns separated by two spaces; the last column is not padded
 * (it holds the free text: a message, a summary). Cells may carry colour: widths count visible characters.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ""))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat(widths[i] - visibleLength(c))))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** An RFC 3339 time as `YYYY-MM-DD HH:MM:SSZ` (UTC), or "-" when absent. */
export function shortTime(iso: unknown): string {
  if (typeof iso !== "string") return "-";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

/** A failed check as attestd reports it (libs/appraisal's Failure, or an EK/protocol failure). */
export interface FailureLike {
  readonly check?: unknown;
  readonly detail?: unknown;
  readonly pcr?: unknown;
  readonly bank?: unknown;
  readonly event?: unknown;
  readonly expected?: unknown;
  readonly measured?: unknown;
  readonly image?: unknown;
  readonly component?: unknown;
}

/** The lines of one failed check: `check: detail [PCR bank:n, event e]`, then expected/measured, closest image. */
export function failureLines(f: FailureLike, indent = "  "): string[] {
  const where = [
    f.pcr !== undefined ? `PCR ${f.bank !== undefined ? `${String(f.bank)}:` : ""}${String(f.pcr)}` : "",
    f.event !== undefined ? `event ${String(f.event)}` : "",
  ]
    .filter((x) => x !== "")
    .join(", ");
  const lines = [`${indent}${String(f.check ?? "?")}: ${String(f.detail ?? "")}${where ? ` [${where}]` : ""}`];
  if (f.component !== undefined) lines.push(`${indent}  component ${String(f.component)}`);
  if (f.image !== undefined) lines.push(`${indent}  closest image ${String(f.image)}`);
  if (f.expected !== undefined || f.measured !== undefined) {
    lines.push(
      `${indent}  expected ${f.expected === undefined ? "-" : String(f.expected)}`,
      `${indent}  measured ${f.measured === undefined ? "-" : String(f.measured)}`,
    );
  }
  return lines;
}

/** A value for a `key: value` listing (arrays comma-separated, objects as JSON). */
export function plain(v: unknown): string {
  if (v === undefined || v === null) return "-";
  if (Array.isArray(v)) return v.map(plain).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
