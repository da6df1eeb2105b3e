/**
 * How long a transport waits for a TPM's answer, by command class. Real TPMs answer capability and
 * random-number queries in milliseconds but can take tens of seconds to generate an RSA key, so one
 * timeout for all commands is either too long to notice a hung TPM or too short for key creation.
 * @module
 */
import { TPM_CC } from "@tessera/tpm2";

/**
 * Command classes: `short` queries (GetCapability, GetRandom, PCR_Read, ReadPublic, NV_ReadPublic,
 * FlushContext, …), `long` key generation and self tests (CreatePrimary, Create, CreateLoaded, SelfTest,
 * Startup), and `standard` for everything else (signing, quotes, NV, sessions, policy).
 */
export type CommandClass = "short" | "standard" | "long";

/** Default timeouts in milliseconds: short 10 000, standard 60 000, long 300 000. */
export const DEFAULT_TIMEOUTS: Readonly<Record<CommandClass, number>> = Object.freeze({ short: 10_000, standard: 60_000, long: 300_000 });

const SHORT: ReadonlySet<number> = new Set([
  TPM_CC.GetCapability,
  TPM_CC.GetRandom,
  TPM_CC.PCR_Read,
  TPM_CC.ReadPublic,
  TPM_CC.NV_ReadPublic,
  TPM_CC.FlushContext,
  TPM_CC.GetTestResult,
  TPM_CC.ReadClock,
  TPM_CC.ContextSave,
  TPM_CC.ContextLoad,
  TPM_CC.PolicyGetDigest,
  TPM_CC.PolicyRestart,
  TPM_CC.TestParms,
]);
const LONG: ReadonlySet<number> = new Set([
  TPM_CC.CreatePrimary,
  TPM_CC.Create,
  TPM_CC.CreateLoaded,
  TPM_CC.SelfTest,
  TPM_CC.Startup,
  TPM_CC.IncrementalSelfTest,
]);

/** The class of a command code. */
export function commandClass(code: number): CommandClass {
  if (SHORT.has(code)) return "short";
  if (LONG.has(code)) return "long";
  return "standard";
}

/** The command code of a framed command (bytes 6..9), or -1 when the command is shorter than a header. */
export function commandCode(command: Uint8Array): number {
  if (command.length < 10) return -1;
  return new DataView(command.buffer, command.byteOffset, command.byteLength).getUint32(6);
}

/**
 * The timeout for a framed command: an explicit per-call value wins, then `timeoutMs` (one value for
 * every class, as before classes existed), then `timeouts[class]`, then {@link DEFAULT_TIMEOUTS}.
 */
export function timeoutFor(command: Uint8Array, options: { timeoutMs?: number; timeouts?: Partial<Record<CommandClass, number>> }, perCall?: number): number {
  if (perCall !== undefined) return perCall;
  if (options.timeoutMs !== undefined) return options.timeoutMs;
  const cls = commandClass(commandCode(command));
  return options.timeouts?.[cls] ?? DEFAULT_TIMEOUTS[cls];
}
