/**
 * PROTOCOL.md followed literally by a host that has nothing but tpm2-tools, curl, jq, base64 and xxd: a shell
 * script (below) enrolls, activates, asks for a challenge, quotes, certifies a binding key and attests, over
 * real HTTPS with the node's CA. The swtpm was booted by libs/boot's simulator (the firmware's part); its
 * event log is handed to the script as the kernel would expose it. RSA and ECC P-256 EKs. The tokens verify
 * with jose against the node's JWKS.
 *
 * What PROTOCOL.md leaves to such a host (noted, not a blocker): `pcrSelection` is tpm2-tools `-l` syntax, but
 * tpm2-tools 5.4 takes lists only, so the script expands a range like `0-7` (attestd sends plain lists unless an
 * administrator wrote a range) and splits `tpm2_pcrread -o`'s concatenated binary values by those indexes into the
 * `pcrs` JSON; without a resource manager the script must flush transient objects itself (`tpm2_flushcontext -t`),
 * since swtpm holds only three; and `tpm2_certify` 5.4 always qualifies with the fixed bytes 00ff55aa, which
 * libs/appraisal accepts (a key that cannot leave its TPM needs no freshness).
 */
import test from "ava";
import { spawn } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { acceptImage, BOOT_SELECTION, bootedHost, startTestNode, trustSwtpmCa, verifyWithJwks, type BootedHost, type TestNode } from "./_test_support.ts";

/** The host's whole side of the protocol, as a shell script. */
const HOST_SCRIPT = fileURLToPath(new URL("testdata/host_protocol.sh", import.meta.url));

/** Runs a command to its end without blocking the event loop. */
function run(cmd: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

let host: BootedHost;
let node: TestNode;
let work: string;

test.before(async () => {
  const manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  host = await bootedHost(manifest);
  node = await startTestNode();
  await trustSwtpmCa(node.store, host.sw);
  await acceptImage(node.store, manifest);
  await node.store.putSettings({ pcrSelection: BOOT_SELECTION });
  work = await mkdtemp(path.join(os.tmpdir(), "attestd-tools-"));
  await writeFile(path.join(work, "binary_bios_measurements"), host.log);
  await writeFile(path.join(work, "ca.pem"), node.node.caCert);
});

test.after.always(async () => {
  await node?.remove();
  await host?.sw.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const EKS = {
  rsa: { EK_NV: "0x01c00002", AK_ALG: "rsa", AK_SCHEME: "rsassa" },
  ecc: { EK_NV: "0x01c0000a", AK_ALG: "ecc", AK_SCHEME: "ecdsa" },
} as const;

/** Runs the host script for `hostName` with the EK of `ekAlg`; `dir` is where it left its files. */
async function runHost(hostName: string, ekAlg: keyof typeof EKS, bindingKey: boolean) {
  const dir = await mkdtemp(path.join(work, `${ekAlg}-`));
  // Asynchronously: the node answering the script runs in this process.
  const r = await run("bash", [HOST_SCRIPT], {
    cwd: dir,
    env: {
      ...process.env,
      TPM2TOOLS_TCTI: host.sw.tcti,
      URL: node.url,
      CA: path.join(work, "ca.pem"),
      HOST: hostName,
      EK_ALG: ekAlg,
      ...EKS[ekAlg],
      EVENT_LOG: path.join(work, "binary_bios_measurements"),
      BINDING_KEY: bindingKey ? "1" : "0",
    },
  });
  return { ...r, dir };
}

for (const ekAlg of ["rsa", "ecc"] as const) {
  test.serial(`green (${ekAlg.toUpperCase()} EK): a host with only tpm2-tools and curl attests and its token verifies against the JWKS`, async (t) => {
    const hostName = `tools-${ekAlg}.example.test`;
    const r = await runHost(hostName, ekAlg, false);
    t.is(r.status, 0, `the host script failed:\n${r.stderr}\n${r.stdout}`);
    const answer = JSON.parse(r.stdout) as { status: string; token: string; expiresAt: string };
    t.is(answer.status, "affirming");
    const payload = await verifyWithJwks(answer.token, node.url, node.node.caCert);
    t.is(payload.sub, hostName);
    t.is(payload["cnf"], undefined);
    const status = await node.store.getHostStatus(hostName, Date.now());
    t.is(status?.status, "green");
  });
}

test.serial("green with a binding key: tpm2_create's key certified by tpm2_certify (qualifyingData 00ff55aa) is the token's cnf.jwk", async (t) => {
  const hostName = "tools-bk.example.test";
  const r = await runHost(hostName, "rsa", true);
  t.is(r.status, 0, `the host script failed:\n${r.stderr}\n${r.stdout}`);
  const answer = JSON.parse(r.stdout) as { status: string; token: string };
  t.is(answer.status, "affirming");
  // The certification really carries tpm2_certify's constant (TPMS_ATTEST: magic, type, qualifiedSigner, extraData).
  const info = await readFile(path.join(r.dir, "certify.info"));
  const signerSize = info.readUInt16BE(6);
  t.is(info.subarray(8 + signerSize + 2, 8 + signerSize + 2 + info.readUInt16BE(8 + signerSize)).toString("hex"), "00ff55aa");
  const payload = await verifyWithJwks(answer.token, node.url, node.node.caCert);
  const cnf = payload["cnf"] as { jwk: { kty: string; n: string; e: string } } | undefined;
  const fromTpm = createPublicKey(await readFile(path.join(r.dir, "bk.pem"), "utf8")).export({ format: "jwk" });
  t.is(cnf?.jwk.kty, "RSA");
  t.is(cnf?.jwk.n, fromTpm.n, "cnf.jwk is the key tpm2_readpublic shows");
  t.is(cnf?.jwk.e, fromTpm.e);
});

test.serial("a pcrSelection with ranges (sha256:14,0-9) is expanded by the script and quoted as challenged", async (t) => {
  await node.store.putSettings({ pcrSelection: "sha256:14,0-9" });
  try {
    const hostName = "tools-range.example.test";
    const r = await runHost(hostName, "ecc", false);
    t.is(r.status, 0, `the host script failed:\n${r.stderr}\n${r.stdout}`);
    const payload = await verifyWithJwks((JSON.parse(r.stdout) as { token: string }).token, node.url, node.node.caCert);
    t.is((payload["tessera"] as { pcrSelection: string }).pcrSelection, "sha256:0,1,2,3,4,5,6,7,8,9,14");
  } finally {
    await node.store.putSettings({ pcrSelection: BOOT_SELECTION });
  }
});
