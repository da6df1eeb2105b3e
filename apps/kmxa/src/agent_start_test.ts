/**
 * The agent's start refusals, before any attestation: a TPM that cannot be reached is TPM_ERROR naming the TCTI;
 * a state file that does not fit is STATE_INVALID naming the file and field, before the TPM is touched. And which
 * of attestd's refusals the agent answers by enrolling again (pure).
 */
import test from "ava";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createAgent, needsEnrollment } from "./agent.ts";
import { AttestdError } from "./attestd_host_client.ts";
import { AgentError } from "./agent_types.ts";
import { loadConfig, type KmxaConfig } from "./config.ts";
import { silent } from "./_agent_test_support.ts";
import { freePort } from "@tessera/process-testing";

let dir: string;
let caFile: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxa-start-"));
  caFile = path.join(dir, "ca.pem");
  await writeFile(caFile, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});


function config(tcti: string, dataDir: string): KmxaConfig {
  return loadConfig(["--tcti", tcti, "--host", "s.example.test", "--data-dir", dataDir, "--attestd", "https://127.0.0.1:1", "--attestd-ca", caFile, "--kmxd", "https://127.0.0.1:2", "--kmxd-ca", caFile], {});
}

test("a TPM that cannot be reached: TPM_ERROR naming the TCTI", async (t) => {
  const tcti = `swtpm:host=127.0.0.1,port=${await freePort()}`;
  const e = await t.throwsAsync(createAgent(config(tcti, path.join(dir, "no-tpm")), { logger: silent }), { instanceOf: AgentError });
  t.is(e.code, "TPM_ERROR");
  t.true(e.message.includes(tcti), e.message);
});

test("a state file that does not fit: STATE_INVALID naming the file and field, before the TPM is touched", async (t) => {
  const dataDir = path.join(dir, "bad-state");
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeFile(path.join(dataDir, "state.json"), JSON.stringify({ version: 1, ek: { kind: "rsa2048", fingerprint: "zz" } }));
  // The TCTI is a closed port: were the TPM opened first, this would be TPM_ERROR.
  const e = await t.throwsAsync(createAgent(config(`swtpm:host=127.0.0.1,port=${await freePort()}`, dataDir), { logger: silent }), { instanceOf: AgentError });
  t.is(e.code, "STATE_INVALID");
  t.regex(e.message, /state\.json: field ek\.fingerprint/);
});

test("enrolling again answers only the refusals that say attestd does not hold this AK", (t) => {
  const refusal = (checks: string[], code = "attestation-failed", kind: "refused" | "unreachable" = "refused"): AttestdError =>
    new AttestdError({ kind, code, detail: "d", failures: checks.map((check) => ({ check, detail: "x" })), call: "POST x" });
  t.true(needsEnrollment(refusal(["ak-not-enrolled"])));
  t.true(needsEnrollment(refusal(["quote-signature"])));
  t.true(needsEnrollment(refusal(["quote-signature", "binding-key"])));
  t.false(needsEnrollment(refusal(["quote-signature", "image-unknown"])), "the evidence is wrong too: a verdict, not a lost AK");
  t.false(needsEnrollment(refusal(["log-replay"])));
  t.false(needsEnrollment(refusal([])));
  t.false(needsEnrollment(refusal(["ak-not-enrolled"], "ek-untrusted")));
  t.false(needsEnrollment(refusal(["ak-not-enrolled"], "attestation-failed", "unreachable")));
});
