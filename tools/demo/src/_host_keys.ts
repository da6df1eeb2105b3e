/**
 * The host's side of a key release, as a host with tpm2-tools does it: the JWE's content key is recovered by the
 * binding key inside the TPM (`tpm2_rsadecrypt -s oaep`, RSA-OAEP-256); the content (A256GCM) is then opened
 * with that key by @tessera/tokens.
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { decryptJweWith } from "@tessera/tokens";

/**
 * Opens `jwe` with the binding key whose tpm2-tools context file is `keyContext`, in the TPM at `tcti`. `print`
 * shows the tpm2-tools command as it runs.
 * @throws Error with tpm2_rsadecrypt's message when the TPM refuses (a JWE to another key)
 */
export function openJweInTpm(jwe: string, tcti: string, keyContext: string, work: string, print: (line: string) => void): Promise<Uint8Array> {
  return decryptJweWith(jwe, async (encryptedKey) => {
    const dir = await mkdtemp(path.join(work, "jwe-"));
    await writeFile(path.join(dir, "cek.enc"), encryptedKey);
    const args = ["-T", tcti, "-c", keyContext, "-s", "oaep", "-o", path.join(dir, "cek.bin"), path.join(dir, "cek.enc")];
    print(`$ tpm2_rsadecrypt ${args.join(" ")}\n`);
    const r = spawnSync("tpm2_rsadecrypt", args, { encoding: "utf8" });
    // swtpm has no resource manager: the key tpm2_rsadecrypt loaded stays loaded unless flushed.
    spawnSync("tpm2_flushcontext", ["-T", tcti, "-t"]);
    if (r.status !== 0) throw new Error(`tpm2_rsadecrypt exited ${r.status}: ${r.stderr}`);
    return new Uint8Array(await readFile(path.join(dir, "cek.bin")));
  });
}
