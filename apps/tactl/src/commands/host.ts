/**
 * `tactl host boot`: the measured-boot simulator for swtpm hosts (they have no firmware; Tessera plays its part).
 * @module
 */
import { bootHost, parseHostImage } from "@tessera/boot";
import { algName } from "@tessera/tpm2";
import { Tpm } from "@tessera/tss";
import type { CommandSpec, Io } from "../cli.ts";
import { CliError, EXIT } from "../errors.ts";
import { readText, writeFileAtomic } from "../files.ts";
import { str, type Values } from "../values.ts";


async function boot(v: Values, io: Io): Promise<number> {
  let manifest;
  try {
    manifest = parseHostImage(await readText(str(v, "image"), "host image manifest"));
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError("TACTL_INPUT", `${str(v, "image")}: ${(e as Error).message}`, { cause: e });
  }
  const tpm = Tpm.open(str(v, "tcti"));
  try {
    const r = await bootHost(tpm, manifest);
    await writeFileAtomic(str(v, "log-out"), r.log);
    io.stdout(JSON.stringify({ image: manifest.version, events: r.events, banks: r.banks.map(algName), log: v["log-out"] }, null, 2) + "\n");
    return EXIT.OK;
  } finally {
    await tpm.close();
  }
}

/** The `tactl host` commands. */
export const HOST_COMMANDS: CommandSpec[] = [
  {
    path: ["host", "boot"],
    summary: "measured boot for a swtpm host: extend its PCRs as firmware would and write the event log",
    usage: "--tcti T --image manifest.json --log-out FILE",
    options: { tcti: { type: "string" }, image: { type: "string" }, "log-out": { type: "string" } },
    required: ["tcti", "image", "log-out"],
    run: boot,
  },
];
