/**
 * `tactl ta …`: the Trust Authority's commands. `ta appraise` runs the appraisal (libs/appraisal) on files as
 * tpm2-tools writes them, without a server; the others (`ta_admin.ts`) are attestd's admin API client.
 * @module
 */
import path from "node:path";
import { appraise, type AppraisalPolicy, type BindingKeyEvidence, type Verdict } from "@tessera/appraisal";
import { imageFromEventLog, imageFromManifest, validateImage, validateManifest, type ImageModel } from "@tessera/host-image";
import { algName, fromHex, parsePcrSelection, selectedPcrs, TPMS_ATTEST, unmarshal, type TpmsQuoteInfo } from "@tessera/tpm2";
import type { CommandSpec, Io } from "../cli.ts";
import { CliError, EXIT } from "../errors.ts";
import { readBytes } from "../files.ts";
import { readPcrValues, readPublicArea } from "../public_file.ts";
import { TA_ADMIN_COMMANDS } from "./ta_admin.ts";
import { str, type Values } from "../values.ts";


/** An accepted image from a file: an image (JSON with `name`), a libs/boot manifest (JSON), or an event log. */
async function readImage(file: string): Promise<ImageModel> {
  const bytes = await readBytes(file, "image");
  const text = new TextDecoder().decode(bytes);
  try {
    if (text.trimStart().startsWith("{")) {
      const value = JSON.parse(text) as Record<string, unknown>;
      return "name" in value ? validateImage(value) : imageFromManifest(validateManifest(value));
    }
    return imageFromEventLog(bytes, { name: path.basename(file), version: "from-log" });
  } catch (e) {
    throw new CliError("TACTL_INPUT", `${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** The policy's PCR selection: `--select` (tpm2-tools syntax), else PCRs 0–7 of every bank the quote covers. */
function selection(v: Values, quote: Uint8Array): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  if (typeof v.select === "string") {
    let sels;
    try {
      sels = parsePcrSelection(v.select);
    } catch (e) {
      throw new CliError("TACTL_INPUT", `--select: ${(e as Error).message}`, { cause: e });
    }
    for (const s of sels) out[algName(s.hash)] = [...(out[algName(s.hash)] ?? []), ...selectedPcrs(s)];
    return out;
  }
  try {
    const q = unmarshal(TPMS_ATTEST, quote).attested as TpmsQuoteInfo;
    for (const s of q.pcrSelect ?? []) if (selectedPcrs(s).length > 0) out[algName(s.hash)] = [0, 1, 2, 3, 4, 5, 6, 7];
  } catch {
    // The appraisal reports the quote; an empty selection accepts nothing.
  }
  return out;
}

function printVerdict(io: Io, v: Verdict): void {
  if (v.status === "affirming") {
    io.stdout(`affirming: image ${v.image?.name} ${v.image?.version}, Secure Boot ${v.secureBoot ? "on" : "off"}, quoted ${v.quoted?.selection}\n`);
    return;
  }
  io.stdout(`contraindicated: ${v.failures.length} failed check${v.failures.length === 1 ? "" : "s"}\n`);
  for (const f of v.failures) {
    const where = [
      f.bank !== undefined && f.pcr !== undefined ? `PCR ${f.bank}:${f.pcr}` : f.pcr !== undefined ? `PCR ${f.pcr}` : "",
      f.event !== undefined ? `event ${f.event}` : "",
    ]
      .filter((x) => x !== "")
      .join(", ");
    io.stdout(`  ${f.check}: ${f.detail}${where ? ` [${where}]` : ""}\n`);
    if (f.expected !== undefined || f.measured !== undefined) io.stdout(`    expected ${f.expected ?? "-"}\n    measured ${f.measured ?? "-"}\n`);
  }
}

async function runAppraise(v: Values, io: Io): Promise<number> {
  const ak = await readPublicArea(str(v, "ak"), "AK public key", { ak: "rsa" });
  const quote = await readBytes(str(v, "quote"), "quote message");
  const signature = await readBytes(str(v, "sig"), "quote signature");
  const eventLog = await readBytes(str(v, "log"), "event log");
  const pcrs = await readPcrValues(str(v, "pcrs"));
  let nonce: Uint8Array;
  try {
    nonce = fromHex(typeof v.nonce === "string" ? v.nonce : "");
  } catch {
    throw new CliError("TACTL_INPUT", `--nonce: "${String(v.nonce)}" is not hex`);
  }
  const images: ImageModel[] = [];
  const imageFiles = (v.image as unknown as string[] | undefined) ?? []; // a `multiple` option
  for (const file of imageFiles) images.push(await readImage(file));
  const sb = typeof v["secure-boot"] === "string" ? v["secure-boot"] : "required";
  if (sb !== "required" && sb !== "optional") throw new CliError("TACTL_USAGE", `--secure-boot "${sb}" is not required or optional`);
  const bk = ["binding-key", "certify-info", "certify-sig"].filter((k) => typeof v[k] === "string");
  if (bk.length !== 0 && bk.length !== 3) throw new CliError("TACTL_USAGE", "--binding-key, --certify-info and --certify-sig go together");
  const bindingKey: BindingKeyEvidence | undefined =
    bk.length === 3
      ? {
          public: await readBytes(str(v, "binding-key"), "binding key public"),
          certifyInfo: await readBytes(str(v, "certify-info"), "certify info"),
          signature: await readBytes(str(v, "certify-sig"), "certify signature"),
        }
      : undefined;
  const policy: AppraisalPolicy = { images, pcrs: selection(v, quote), secureBootRequired: sb === "required" };
  const verdict = appraise({ akPublic: ak, quote, signature, pcrs, eventLog, ...(bindingKey === undefined ? {} : { bindingKey }) }, policy, nonce);
  if (v.json) {
    const { bindingKey: key, ...rest } = verdict;
    io.stdout(JSON.stringify({ ...rest, ...(key === undefined ? {} : { bindingKeyCertified: true }) }, null, 2) + "\n");
  } else printVerdict(io, verdict);
  return verdict.status === "affirming" ? EXIT.OK : EXIT.VERIFY_FAILED;
}

/** The `tactl ta` commands. */
export const TA_COMMANDS: CommandSpec[] = [
  {
    path: ["ta", "appraise"],
    summary: "appraise a host's evidence (AK, quote, log, PCRs, optional binding key) offline; exit 1 listing every failed check",
    usage:
      "--ak ak.pub --quote quote.msg --sig quote.sig --log eventlog.bin --pcrs pcrs.json [--nonce HEX] [--image F …] " +
      "[--select sha256:0,1,…] [--secure-boot required|optional] [--binding-key key.pub --certify-info F --certify-sig F] [--json]\n" +
      "  --image (repeatable): accepted images, each an image JSON, a host image manifest (tactl host boot's format) or a known-good event log\n" +
      "  --select: the PCRs the quote must cover (default: 0-7 of every bank it quotes)",
    options: {
      ak: { type: "string" },
      quote: { type: "string" },
      sig: { type: "string" },
      log: { type: "string" },
      pcrs: { type: "string" },
      nonce: { type: "string" },
      image: { type: "string", multiple: true },
      select: { type: "string" },
      "secure-boot": { type: "string" },
      "binding-key": { type: "string" },
      "certify-info": { type: "string" },
      "certify-sig": { type: "string" },
      json: { type: "boolean" },
    },
    required: ["ak", "quote", "sig", "log", "pcrs"],
    run: runAppraise,
  },
  ...TA_ADMIN_COMMANDS,
];
