/**
 * Shared helpers of the tss tests: a swtpm (and a connection to it) for the whole test file, tpm2-tools
 * runs next to that connection, and checks of TssError and TPM response codes.
 * @module
 */
import { spawnSync } from "node:child_process";
import test, { type ExecutionContext } from "ava";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { TpmResponseError } from "@tessera/tpm2";
import { TssError, type TssErrorCode } from "./errors.ts";
import { Tpm } from "./tpm.ts";

/** A swtpm started for a test file and our connection to it; both are set by the `test.before` hook. */
export interface SwtpmForTests {
  sw: SwtpmInstance;
  /** The connection; a test may replace it (the `test.after.always` hook closes the current one). */
  tpm: Tpm;
}

/** Options of {@link swtpmForTests}. */
export interface SwtpmForTestsOptions {
  /** Options of startSwtpm. */
  swtpm?: Parameters<typeof startSwtpm>[0];
  /** Opens the connection (default `Tpm.open(sw.tcti)`), or `false` for none (swtpm serves one client). */
  open?: ((sw: SwtpmInstance) => Tpm | Promise<Tpm>) | false;
  /** More set-up, run in the same hook once the connection is open. */
  setUp?: (fixture: SwtpmForTests) => Promise<void>;
}

/**
 * Registers hooks that start a swtpm and connect to it before the file's tests, and close the connection and
 * stop swtpm after them (always). Returns the object the `test.before` hook fills in.
 */
export function swtpmForTests(options: SwtpmForTestsOptions & { open: false }): Omit<SwtpmForTests, "tpm">;
export function swtpmForTests(options?: SwtpmForTestsOptions): SwtpmForTests;
export function swtpmForTests(options: SwtpmForTestsOptions = {}): SwtpmForTests {
  const fixture = {} as SwtpmForTests;
  test.before(async () => {
    fixture.sw = await startSwtpm(options.swtpm);
    const open = options.open ?? ((sw: SwtpmInstance) => Tpm.open(sw.tcti));
    if (open !== false) fixture.tpm = await open(fixture.sw);
    await options.setUp?.(fixture);
  });
  test.after.always(async () => {
    await fixture.tpm?.close();
    await fixture.sw?.stop();
  });
  return fixture;
}

/**
 * Closes the shared connection (swtpm serves one client), runs `fn` (typically tpm2-tools), and reconnects
 * with `Tpm.open(sw.tcti)`.
 */
export async function withoutConnection<R>(fixture: SwtpmForTests, fn: () => Promise<R> | R): Promise<R> {
  await fixture.tpm.close();
  try {
    return await fn();
  } finally {
    fixture.tpm = Tpm.open(fixture.sw.tcti);
  }
}

/** Runs a tpm2-tools program and returns its stdout; fails the test loudly when it is missing or fails. */
export function tpm2Tool(t: ExecutionContext, tool: string, args: readonly string[]): string {
  const r = spawnSync(tool, [...args], { encoding: "utf8", timeout: 20_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new Error(code === "ENOENT" ? `${tool} is not installed: install tpm2-tools (apt-get install tpm2-tools)` : `${tool}: ${r.error.message}`);
  }
  if (r.status !== 0) throw new Error(`${tool} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  t.pass();
  return r.stdout;
}

/** Awaits `p` and checks that it failed with a TssError of code `code`; returns the error. */
export async function rejectsTss(t: ExecutionContext, p: Promise<unknown>, code: TssErrorCode): Promise<TssError> {
  const e = await t.throwsAsync(p, { instanceOf: TssError });
  if (!(e instanceof TssError)) throw new Error("unreachable");
  t.is(e.code, code, e.message);
  return e;
}

/** Awaits `p` and checks that it failed with a TpmResponseError of code `code`; returns the error. */
export async function rejectsRc(t: ExecutionContext, p: Promise<unknown>, code: string): Promise<TpmResponseError | undefined> {
  const e = await t.throwsAsync(p, { instanceOf: TpmResponseError });
  if (e instanceof TpmResponseError) {
    t.is(e.code, code, e.message);
    return e;
  }
  return undefined;
}
