import test from "ava";
import { spawnSync } from "node:child_process";
import path from "node:path";

test("the demo runs end to end on a fresh swtpm: its quote verified, the host green then red at a real attestd, a key released by kmxd only while green", (t) => {
  const r = spawnSync(process.execPath, [path.join(import.meta.dirname, "main.ts")], { encoding: "utf8", timeout: 240_000 });
  t.is(r.status, 0, r.stdout.slice(-2000) + r.stderr);
  t.regex(r.stdout, /"valid": true/);
  t.regex(r.stdout, /"check": "TPM2_VERIFY_NONCE"/);
  t.regex(r.stdout, /EK certificate signed by: .*swtpm-localca/);
  t.regex(r.stdout, /Demo complete/);
  t.regex(r.stdout, /"valid": true,\s*\n\s*"pcrs"/, "the event log verified against the quoted PCRs");
  t.regex(r.stdout, /Secure Boot enabled/);
  t.regex(r.stdout, /sub swtpm-host\.demo\.test; ear\.status affirming; image demo-host 1; secureBoot true/, "attestd's token verified against its JWKS");
  t.regex(r.stdout, /^swtpm-host\.demo\.test +green /m, "tactl ta host list shows the host green");
  t.regex(r.stdout, /attestd refused: 403 attestation-failed\n {2}image-unknown: /, "the tampered attempt is refused naming the check");
  t.regex(r.stdout, /^swtpm-host\.demo\.test +red .*image-unknown/m, "then tactl ta host list shows it red");
  t.regex(r.stdout, /created provider demo-kp: key \S+ \(version 1, mode A256GCM\)/, "tactl kp create on kmxd over kmipd");
  const opened = /the host's TPM opened it: a 32-byte data key \(SHA-256 ([0-9a-f]{16})…/.exec(r.stdout);
  t.truthy(opened, "the data key's JWE opened with tpm2_rsadecrypt in the swtpm");
  t.regex(r.stdout, new RegExp(`unwrapped later from its wrapped form: the same key \\(SHA-256 ${opened?.[1] ?? "none"}…\\)`));
  t.regex(r.stdout, /kmxd refused: 403 host-untrusted: attestd reports host swtpm-host\.demo\.test red/, "kmxd refuses the red host before its token expires");
});
