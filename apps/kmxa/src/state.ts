/**
 * The agent's state file, `<data dir>/state.json` (0600): what the agent must find again after a restart to reuse
 * its TPM set-up — which EK, the persistent AK and binding key (handle, Name, public area), the binding key's
 * certification by the AK, and which AK attestd has enrolled. Never a secret: every private key stays in the TPM.
 * Read with a schema (the file is input like any other); a file that does not fit stops the agent, naming the
 * field, rather than silently making new keys and leaving the old ones in the TPM.
 * @module
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { writeSecretFile } from "@tessera/service";
import { z } from "zod";
import { AgentError } from "./agent_types.ts";

/** The state file's name in the data directory. */
export const STATE_FILE = "state.json";

/** The largest state file read (a few KiB in practice). */
const MAX_STATE_BYTES = 256 * 1024;

const Hex = z.string().regex(/^(?:[0-9a-f]{2})+$/, "is not lowercase hex");
const B64 = z.string().regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, "is not base64").min(4, "is empty");
/** A persistent handle, 0x81000000–0x81ffffff, written as 8 hex digits. */
const PersistentHandle = z.string().regex(/^0x81[0-9a-f]{6}$/, "is not a persistent handle 0x81xxxxxx");
const Time = z.iso.datetime({ offset: true, error: "is not an RFC 3339 time" });

const StateSchema = z.strictObject({
  version: z.literal(1, { error: "is not 1 (a state file of another kmxa version)" }),
  ek: z.strictObject({
    kind: z.enum(["rsa2048", "ecc-p256", "rsa2048-high", "ecc-p256-high"]),
    /** SHA-256 hex of the EK's SPKI DER: tells a replaced (or cleared) TPM. */
    fingerprint: Hex.length(64, "is not a SHA-256 (64 hex digits)"),
  }),
  ak: z
    .strictObject({
      kind: z.enum(["rsa", "ecc"]),
      handle: PersistentHandle,
      name: Hex,
      /** TPM2B_PUBLIC, base64. */
      public: B64,
    })
    .optional(),
  bindingKey: z
    .strictObject({
      handle: PersistentHandle,
      name: Hex,
      public: B64,
      /** The AK Name that certified it, and the certification (TPMS_ATTEST and TPMT_SIGNATURE, base64). */
      certifiedBy: Hex,
      certifyInfo: B64,
      signature: B64,
    })
    .optional(),
  /** The Trust Authority imported through the local API (PUT /api/v1/ta-identity): it wins over the configuration. */
  trustAuthority: z
    .strictObject({
      attestd: z.strictObject({ url: z.url(), ca: z.string().includes("-----BEGIN CERTIFICATE-----") }),
      kmxd: z.strictObject({ url: z.url(), ca: z.string().includes("-----BEGIN CERTIFICATE-----") }),
      cluster: z.string().min(1).max(253).optional(),
      importedAt: Time,
    })
    .optional(),
  /** The default key provider (PUT /api/v1/key-provider). */
  keyProvider: z
    .strictObject({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/), setAt: Time })
    .optional(),
  enrollment: z
    .strictObject({
      /** The host name, attestd URL and AK that enrollment was for: any change needs a new one. */
      host: z.string().min(1),
      attestd: z.string().min(1),
      akName: Hex,
      enrolledAt: Time,
    })
    .optional(),
});

/** The state file's content. */
export type AgentStateFile = z.infer<typeof StateSchema>;

/** The state file's path in `dataDir`. */
export function statePath(dataDir: string): string {
  return path.join(dataDir, STATE_FILE);
}

/**
 * Parses a state file's text.
 * @param where the file, named in errors
 * @throws AgentError STATE_INVALID naming the file and the first field that does not fit.
 */
export function parseState(text: string, where: string): AgentStateFile {
  if (text.length > MAX_STATE_BYTES) throw new AgentError("STATE_INVALID", `${where}: larger than ${MAX_STATE_BYTES} bytes, not a kmxa state file`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new AgentError("STATE_INVALID", `${where}: not JSON (${(cause as Error).message}); move it away to start over (the AK is then enrolled again)`, { cause });
  }
  const r = StateSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.join(".") : "(root)";
    throw new AgentError("STATE_INVALID", `${where}: field ${field}: ${issue.message}`, { cause: r.error });
  }
  return r.data;
}

/**
 * Reads `<dataDir>/state.json`; `undefined` when there is none (a first start).
 * @throws AgentError STATE_INVALID when it cannot be read or does not fit.
 */
export async function loadState(dataDir: string): Promise<AgentStateFile | undefined> {
  const file = statePath(dataDir);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AgentError("STATE_INVALID", `${file}: cannot be read: ${(e as Error).message}`, { cause: e });
  }
  return parseState(text, file);
}

/** Writes `<dataDir>/state.json` atomically (a new file renamed over the old), mode 0600. */
export async function saveState(dataDir: string, state: AgentStateFile): Promise<void> {
  // Checked on the way out too: a bug must not leave a file the next start refuses.
  const checked = StateSchema.parse(state);
  await writeSecretFile(statePath(dataDir), `${JSON.stringify(checked, null, 2)}\n`);
}

/** A persistent handle as the state file writes it (`0x81000010`). */
export function handleText(handle: number): string {
  return `0x${(handle >>> 0).toString(16).padStart(8, "0")}`;
}

/** A state file's handle as a number. */
export function handleNumber(text: string): number {
  return Number.parseInt(text.slice(2), 16);
}
