/**
 * checkEk on a real TPM: swtpm's EK certificates (swtpm_setup --create-ek-cert, signed by swtpm_localca), its CA
 * read from the instance's folder, and the EK that the TPM itself reports through tpm2-tools.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { fixturePath } from "@tessera/fixtures";
import { encodeCredentialFile, makeCredential, toHex } from "@tessera/tpm2";
import { checkEk, type EkTrust } from "./check_ek.ts";
import { parseCaBundle } from "./parse_ca_bundle.ts";

let sw: SwtpmInstance;
let work: string;
let cas: Uint8Array[];
test.before(async () => {
  sw = await startSwtpm();
  work = mkdtempSync(path.join(tmpdir(), "ek-trust-"));
  // The local CA as swtpm_localca left it: its root and the issuing CA that signed the EK certificates.
  const localca = path.join(sw.dir, "localca");
  const text = ["swtpm-localca-rootca-cert.pem", "issuercert.pem"].map((f) => readFileSync(path.join(localca, f), "latin1")).join("\n");
  cas = parseCaBundle(text).map((c) => c.certificate);
});
test.after.always(async () => {
  await sw?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * Runs a tpm2-tools program against the swtpm; fails loudly when it is missing or fails. swtpm has no resource
 * manager and tpm2-tools leaves its transient objects loaded (they live on in the .ctx files): flush them after
 * each call, or the TPM runs out of object slots.
 */
function tool(name: string, ...args: string[]): string {
  const env = { ...process.env, TPM2TOOLS_TCTI: sw.tcti };
  const r = spawnSync(name, args, { encoding: "utf8", timeout: 30_000, env });
  if (name !== "tpm2_flushcontext") spawnSync("tpm2_flushcontext", ["-t"], { env });
  if (r.error) throw new Error(`${name}: ${r.error.message} (install tpm2-tools)`);
  if (r.status !== 0) throw new Error(`${name} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const file = (name: string): string => path.join(work, name);

test.serial("the local CA read from the swtpm folder is the CA the instance reports: a root, then the issuing CA", (t) => {
  const fromFolder = parseCaBundle(sw.caCertsPem.join("\n"));
  t.deepEqual(
    fromFolder.map((c) => Buffer.from(c.certificate)),
    cas.map((c) => Buffer.from(c)),
  );
  t.deepEqual(
    fromFolder.map((c) => c.isRoot),
    [true, false],
  );
});

for (const [kind, alg] of [
  ["rsa2048", "rsa"],
  ["eccNistP256", "ecc"],
] as const) {
  test.serial(`${kind}: swtpm's EK certificate is trusted with its CA; the EK it implies is the TPM's, and a credential made to it activates`, async (t) => {
    const cert = sw.ekCerts.find((c) => c.kind === kind);
    if (cert === undefined) throw new Error(`swtpm made no ${kind} EK certificate`);
    const trust: EkTrust = { mode: "ca", cas, crls: [] };
    const v = await checkEk({ host: `swtpm-${alg}`, ekCertificate: cert.der }, trust, new Date());
    if (!v.ok) return t.fail(v.detail);
    t.is(v.via, "ca");
    t.is(v.chain?.length, 2);

    // The TPM's own EK (default template): the same public area, byte for byte.
    tool("tpm2_createek", "-G", alg, "-c", file(`ek-${alg}.ctx`), "-u", file(`ek-${alg}.pub`));
    const tpmEk = new Uint8Array(readFileSync(file(`ek-${alg}.pub`)));
    t.is(toHex(v.ekPublicBytes), toHex(tpmEk));

    // Both sent: the same verdict; pinned in mode pin: trusted by the pin and the CA.
    const both = await checkEk({ host: `swtpm-${alg}`, ekCertificate: cert.der, ekPublic: tpmEk }, trust, new Date());
    t.true(both.ok && both.fingerprint === v.fingerprint);
    const pinned = await checkEk({ host: `swtpm-${alg}`, ekCertificate: cert.der }, { ...trust, mode: "pin", pin: { certificate: cert.der } }, new Date());
    t.true(pinned.ok && pinned.via === "pinned-certificate");
    // Not a manufacturer's: the real vendor CAs of the fixtures do not trust it.
    const vendors = parseCaBundle(readFileSync(fixturePath("tpm-ca-certs", "GS_TPM_RT.pem"), "latin1")).map((c) => c.certificate);
    const foreign = await checkEk({ host: `swtpm-${alg}`, ekCertificate: cert.der }, { mode: "ca", cas: vendors, crls: [] }, new Date());
    t.true(!foreign.ok && foreign.code === "ek-untrusted" && foreign.reason === "unknown-issuer");

    // MakeCredential to the verdict's EK, for an AK of this TPM: the TPM recovers the secret.
    tool("tpm2_createak", "-C", file(`ek-${alg}.ctx`), "-c", file(`ak-${alg}.ctx`), "-G", "rsa", "-u", file(`ak-${alg}.pub`), "-r", file(`ak-${alg}.priv`), "-n", file(`ak-${alg}.name`));
    const secret = globalThis.crypto.getRandomValues(new Uint8Array(16));
    const credential = makeCredential(v.ekPublic, new Uint8Array(readFileSync(file(`ak-${alg}.name`))), secret);
    writeFileSync(file(`cred-${alg}.bin`), encodeCredentialFile(credential));
    tool("tpm2_startauthsession", "--policy-session", "-S", file(`session-${alg}.ctx`));
    tool("tpm2_policysecret", "-S", file(`session-${alg}.ctx`), "-c", "e");
    tool(
      "tpm2_activatecredential",
      "-c",
      file(`ak-${alg}.ctx`),
      "-C",
      file(`ek-${alg}.ctx`),
      "-i",
      file(`cred-${alg}.bin`),
      "-o",
      file(`secret-${alg}.bin`),
      "-P",
      `session:${file(`session-${alg}.ctx`)}`,
    );
    tool("tpm2_flushcontext", file(`session-${alg}.ctx`));
    t.is(toHex(new Uint8Array(readFileSync(file(`secret-${alg}.bin`)))), toHex(secret));

    // The same credential bound to another Name does not activate: the TPM really checked it.
    const name = new Uint8Array(readFileSync(file(`ak-${alg}.name`)));
    name[name.length - 1] = (name[name.length - 1] as number) ^ 1;
    writeFileSync(file(`cred-${alg}-other.bin`), encodeCredentialFile(makeCredential(v.ekPublic, name, secret)));
    tool("tpm2_startauthsession", "--policy-session", "-S", file(`session2-${alg}.ctx`));
    tool("tpm2_policysecret", "-S", file(`session2-${alg}.ctx`), "-c", "e");
    const refusedActivation = t.throws(() =>
      tool("tpm2_activatecredential", "-c", file(`ak-${alg}.ctx`), "-C", file(`ek-${alg}.ctx`), "-i", file(`cred-${alg}-other.bin`), "-o", file(`x-${alg}.bin`), "-P", `session:${file(`session2-${alg}.ctx`)}`),
    );
    t.regex(refusedActivation?.message ?? "", /tpm2_activatecredential .* failed/);
    spawnSync("tpm2_flushcontext", [file(`session2-${alg}.ctx`)], { env: { ...process.env, TPM2TOOLS_TCTI: sw.tcti } });
  });
}

test.serial("swtpm's P-384 EK certificate (high range) alone is refused: its public area cannot be implied", async (t) => {
  const cert = sw.ekCerts.find((c) => c.kind === "eccNistP384");
  if (cert === undefined) throw new Error("swtpm made no P-384 EK certificate");
  const v = await checkEk({ host: "swtpm-p384", ekCertificate: cert.der }, { mode: "ca", cas, crls: [] }, new Date());
  t.true(!v.ok && v.code === "ek-malformed" && /send ekPublic/.test(v.detail), v.ok ? "ok" : v.detail);
});
