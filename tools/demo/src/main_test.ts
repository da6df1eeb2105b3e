import test from "ava";
import { spawnSync } from "node:child_process";
import path from "node:path";

test("the demo runs end to end: one swtpm host through tpm2-tools (quote, attestd green then red, a key from kmxd only while green), then a fleet of three set up with the seven steps (two green with keys, one red with the reason and no key until rebooted with the accepted image)", (t) => {
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

  // The fleet: DESIGN.md's seven steps with tactl, three hosts of one TPM maker, one booted with a kernel nobody accepted.
  const fleet = r.stdout.slice(r.stdout.indexOf("== The fleet"));
  t.true(fleet.length < r.stdout.length, "the fleet part ran");
  for (const n of [1, 2, 3, 4, 5, 6, 7]) t.regex(fleet, new RegExp(`^== Step ${n}: `, "m"), `step ${n} is shown`);
  t.regex(fleet, /accepted image fleet-host 1: kernel \/vmlinuz-6\.1\.0-28-amd64/, "step 3 accepts the image host-1 measured");
  t.regex(fleet, /^host-1\.fleet\.test: attested, token until /m);
  t.regex(
    fleet,
    /^host-3\.fleet\.test: refused \(attestation-failed: image-unknown: .*kernel \\vmlinuz-6\.1\.0-99-amd64.*; checks: image-unknown\)$/m,
    "the agent's refusal names the kernel, each check once",
  );
  const before = fleet.slice(0, fleet.indexOf("== host-3 is rebooted"));
  t.regex(before, /^host-1\.fleet\.test +green +fleet-host 1 /m);
  t.regex(before, /^host-2\.fleet\.test +green +fleet-host 1 /m);
  t.regex(
    before,
    /^host-3\.fleet\.test +red +- +\S+ \S+ +image-unknown: bootChain\[\d\] \(kernel \\vmlinuz-6\.1\.0-99-amd64\): .*closest accepted image: fleet-host 1/m,
    "tactl status: red with the component and the closest image",
  );
  t.regex(before, /^3 hosts: 2 green, 1 red, 0 stale, 0 unknown$/m);
  const keys = [...before.matchAll(/^(host-\d)\.fleet\.test: 201, a 32-byte data key .* opened in its TPM \(SHA-256 ([0-9a-f]{16})…\)/gm)].map((m) => [
    m[1],
    m[2],
  ]);
  t.deepEqual(
    keys.map(([h]) => h),
    ["host-1", "host-2"],
    "a key released to each green host",
  );
  t.not(keys[0]?.[1], keys[1]?.[1], "two different data keys");
  t.regex(
    before,
    /^host-3\.fleet\.test: refused, 503 not-attested: host-3\.fleet\.test is not attested: attestation-failed: image-unknown/m,
    "no key for the red host, with the reason",
  );
  const after = fleet.slice(fleet.indexOf("== host-3 is rebooted"));
  t.regex(after, /^host-3\.fleet\.test +green +fleet-host 1 /m, "rebooted with the accepted image, host-3 is green");
  t.regex(after, /^3 hosts: 3 green, 0 red, 0 stale, 0 unknown$/m);
  t.regex(after, /^host-3\.fleet\.test: 201, a 32-byte data key .* opened in its TPM/m, "and gets its key");

  // The developer's Trust Authority (tactl dev up) and a VM's vTPM on its host.
  const devPart = r.stdout.slice(r.stdout.indexOf("== A developer's Trust Authority"));
  t.regex(devPart, /^host-1 +green /m, "tactl dev status: the dev host green");
  t.regex(devPart, /^dev: step 5-7: /m, "dev up runs the workflow's last steps through the agents");
  t.regex(devPart, /^VM demo-vm has a new vTPM: EK certificate issued by O=Tessera Trust Authority, CN=Tessera vTPM CA; .* trusted key provider dev$/m);
  t.regex(devPart, /^vm\.nvram: \d+ bytes, an envelope \(TENV\); the secret is not in it$/m);
  t.regex(devPart, /^key provider: dev \(trusted\), key dev version 1$/m);
  t.regex(devPart, /^the guest reads its secret back: demo-guest-secret-9d41$/m);
});
