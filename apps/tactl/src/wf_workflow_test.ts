/**
 * The seven steps of DESIGN.md through tactl, against real processes only: attestd, kmipd and kmxd (spawned by path
 * with spawnReady), a swtpm host (EK certificate from swtpm_setup) booted through libs/boot's measured boot, and
 * its kmxa (`apps/kmxa/bin/kmxa`) started with a Trust Authority nobody answers for, so that only the imported
 * identity can make it work. Proves, in order: the host's identity exported over the agent's socket holds its EK
 * certificate, TPM and event log; `ta enable` sees kmxd take this attestd's tokens; importing the identity refuses
 * an EK whose CA is not trusted (exit 1 naming the issuer), then with the CA trusted accepts the boot's image; a
 * second import says the image is there; `cluster import-ta-identity` makes the agent attest with the imported
 * Trust Authority at once (green at attestd); `cluster set-key-provider --check` gets a data key through the agent;
 * `tactl status` shows the host green with its image. Plus the refusals: an agent socket that is not there (exit
 * 3), an identity naming no kmxd without --kmxd (exit 2), a malformed identity file (exit 2 naming the field).
 * Serial: the steps build on each other.
 */
import test from "ava";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { bootHost, defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { spawnReady, type ReadyProcess } from "@tessera/process-testing";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { Tpm } from "@tessera/tss";
import { type Ran, tactl, tactlWith } from "./_test_support.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const ATTESTD = path.join(ROOT, "apps/attestd/bin/attestd");
const KMXD = path.join(ROOT, "apps/kmxd/bin/kmxd");
const KMIPD = path.join(ROOT, "apps/kmipd/src/main.ts");
const KMXA = path.join(ROOT, "apps/kmxa/bin/kmxa");
const HOST = "wf-host-1.example.test";

let dir: string;
let home: string;
const procs: ReadyProcess[] = [];
let sw: SwtpmInstance | undefined;
let attestdUrl: string;
let attestdCa: string;
let kmxdUrl: string;
let kmxdCa: string;
let kmipConn: string[];
let kmipPort: number;
let kmipTls: string;
let socket: string;
let logFile: string;

const admin = (...argv: string[]): Promise<Ran> => tactlWith({ env: { TESSERA_HOME: home } }, ...argv);
const ok = (r: Ran, what: string): Ran => {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.err}${r.out}`);
  return r;
};

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-wf-"));
  home = path.join(dir, "home");
  const attestdDir = path.join(dir, "attestd");
  const kmipDir = path.join(dir, "kmipd");
  const kmxdDir = path.join(dir, "kmxd");
  const manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  const [a, k, swtpm] = await Promise.all([
    spawnReady("attestd", ATTESTD, ["--listen", "127.0.0.1:0", "--data-dir", attestdDir, "--log-level", "warn"], /^attestd: listening on (https:\/\/\S+)/m),
    spawnReady("kmipd", process.execPath, [KMIPD, "--listen", "127.0.0.1:0", "--data-dir", kmipDir], /kmipd: listening on \S+:(\d+)/),
    startSwtpm({ pcrBanks: ["sha256"], eccP256Ek: false }),
  ]);
  procs.push(a, k);
  sw = swtpm;
  attestdUrl = a.match[1]!;
  attestdCa = path.join(attestdDir, "tls", "ca.pem");
  kmipPort = Number(k.match[1]);
  kmipTls = path.join(kmipDir, "tls");
  kmipConn = ["--server", `127.0.0.1:${kmipPort}`, "--cert", path.join(kmipTls, "client.pem"), "--key", path.join(kmipTls, "client-key.pem"), "--ca", path.join(kmipTls, "ca.pem")];
  const x = await spawnReady(
    "kmxd",
    KMXD,
    [
      ...["--listen", "127.0.0.1:0", "--data-dir", kmxdDir, "--log-level", "warn"],
      ...["--attestd", attestdUrl, "--attestd-ca", attestdCa, "--attestd-user", "admin", "--attestd-password-file", path.join(attestdDir, "admin.password")],
    ],
    /^kmxd: listening on (https:\/\/\S+)/m,
  );
  procs.push(x);
  kmxdUrl = x.match[1]!;
  kmxdCa = path.join(kmxdDir, "tls", "ca.pem");
  // The host's measured boot, its log where kmxa reads it.
  const tpm = Tpm.open(swtpm.tcti);
  try {
    logFile = path.join(dir, "binary_bios_measurements");
    await writeFile(logFile, (await bootHost(tpm, manifest)).log);
  } finally {
    await tpm.close();
  }
  // kmxa knows no Trust Authority that answers (port 1): the workflow's import is what makes it work.
  const kmxaDir = path.join(dir, "kmxa");
  socket = path.join(kmxaDir, "kmxa.sock");
  const g = await spawnReady(
    "kmxa",
    KMXA,
    [
      ...["--tcti", swtpm.tcti, "--host", HOST, "--event-log", logFile, "--data-dir", kmxaDir, "--listen", "127.0.0.1:0", "--log-level", "warn"],
      ...["--attestd", "https://127.0.0.1:1", "--attestd-ca", attestdCa, "--kmxd", "https://127.0.0.1:1", "--kmxd-ca", kmxdCa],
    ],
    /^kmxa: listening on/m,
  );
  procs.push(g);
  ok(await admin("ta", "login", "--server", attestdUrl, "--ca", attestdCa, "--user", "admin", "--password-file", path.join(attestdDir, "admin.password")), "ta login");
});

test.after.always(async () => {
  for (const p of procs.reverse()) await p.stop();
  await sw?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial("step 1: host export-identity writes the agent's identity: EK certificate, TPM, the boot's event log; no agent is exit 3", async (t) => {
  const file = path.join(dir, "host-identity.json");
  const r = await tactl("host", "export-identity", "--agent", socket, "-o", file, "--image-name", "tessera-host", "--image-version", "1");
  t.is(r.code, 0, r.err);
  t.regex(r.err, new RegExp(`^wrote the identity of ${HOST.replace(/\./g, "\\.")} to .*: EK certificate issued by .*, TPM IBM .*image tessera-host 1\\n$`));
  const id = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  t.is(id.format, "tessera-host-identity/v1");
  t.is(id.host, HOST);
  t.regex(String(id.ekCertificate), /^-----BEGIN CERTIFICATE-----/);
  t.is(id.eventLog, (await readFile(logFile)).toString("base64"), "the event log the agent reads");
  t.deepEqual((id.image as { name: string; version: string }).name, "tessera-host");
  const out = await tactl("host", "export-identity", "--agent", socket);
  t.is(out.code, 0, out.err);
  t.is((JSON.parse(out.out) as { host: string }).host, HOST, "without -o: stdout");
  const none = await tactl("host", "export-identity", "--agent", path.join(dir, "no.sock"));
  t.is(none.code, 3);
  t.regex(none.err, /cannot reach the agent at .*no\.sock: .*no such socket/);
});

test.serial("step 2: ta enable sees kmxd take this attestd's admin tokens; a wrong kmxd CA is a TLS failure (exit 3)", async (t) => {
  const r = await admin("ta", "enable", "--kmxd", kmxdUrl, "--kmxd-ca", kmxdCa);
  t.is(r.code, 0, r.err);
  t.regex(r.out, new RegExp(`^attestd  ${attestdUrl}: cluster \\S+, signed in as admin \\(TrustedAdmins\\)\\n`));
  t.regex(r.out, /takes this attestd's tokens \(issuer /);
  t.regex(r.out, /\nenabled: hosts attest with /);
  t.regex(r.err, /names no kmxd/, "attestd runs without --key-provider-url: said");
  const j = await admin("ta", "enable", "--kmxd", kmxdUrl, "--kmxd-ca", kmxdCa, "--json");
  const doc = JSON.parse(j.out) as { enabled: boolean; kmxd: { trustsAttestd: boolean; url: string } };
  t.true(doc.enabled);
  t.is(doc.kmxd.url, kmxdUrl);
  const wrongCa = await admin("ta", "enable", "--kmxd", kmxdUrl, "--kmxd-ca", attestdCa);
  t.is(wrongCa.code, 3, wrongCa.err);
  t.regex(wrongCa.err, /TLS with .* failed/);
});

test.serial("step 3: import-host-identity refuses an EK whose CA is not trusted, then trusts it and accepts the boot's image", async (t) => {
  const file = path.join(dir, "host-identity.json");
  const refused = await admin("ta", "import-host-identity", file);
  t.is(refused.code, 1, refused.err);
  t.regex(refused.err, /the EK certificate of .* is issued by .*, which is not among attestd's 0 TPM CAs: add the TPM maker's CA/);
  const images = JSON.parse((await admin("ta", "image", "list", "--json")).out) as { images: unknown[] };
  t.deepEqual(images.images, [], "nothing imported");
  const caFile = path.join(dir, "swtpm-ca.pem");
  await writeFile(caFile, sw!.caCertsPem.join("\n"));
  ok(await admin("ta", "tpm-ca", "add", caFile), "tpm-ca add");
  const r = await admin("ta", "import-host-identity", file);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /^the EK certificate of .* is issued by a trusted TPM CA: /);
  t.regex(r.out, /\naccepted image tessera-host 1: /);
  const again = await admin("ta", "import-host-identity", file, "--json");
  t.is(again.code, 0, again.err);
  t.deepEqual((JSON.parse(again.out) as { image: unknown }).image, { name: "tessera-host", version: "1", added: false });
  // Pinned instead, EK only: the pin is there.
  const pinned = await admin("ta", "import-host-identity", file, "--pin", "--no-image");
  t.is(pinned.code, 0, pinned.err);
  t.regex(pinned.out, /^pinned the EK of .* by its certificate \(--pin\)/);
  const pins = JSON.parse((await admin("ta", "ek-pin", "list", "--json")).out) as { pins: { host: string }[] };
  t.deepEqual(
    pins.pins.map((p) => p.host),
    [HOST],
  );
  ok(await admin("ta", "ek-pin", "remove", HOST), "ek-pin remove");
  const bad = path.join(dir, "bad-identity.json");
  await writeFile(bad, JSON.stringify({ host: HOST, ekPublic: "not base64!", ekFingerprint: "00".repeat(32) }));
  const b = await admin("ta", "import-host-identity", bad);
  t.is(b.code, 2);
  t.regex(b.err, /bad-identity\.json: field ekPublic is not base64/);
});

test.serial("steps 4-7: a provider, the TA identity imported into the agent (attests at once), its default provider gives keys; tactl status shows it green", async (t) => {
  const c = ok(await tactl("kmip", "create", ...kmipConn, "--alg", "AES", "--length", "256", "--name", "wf-key", "--usage", "Encrypt Decrypt", "--json"), "kmip create");
  const keyId = (JSON.parse(c.out) as { id: string }).id;
  ok(await tactl("kmip", "activate", keyId, ...kmipConn), "kmip activate");
  const kp = ["--server", kmxdUrl, "--ca", kmxdCa];
  ok(
    await admin(
      "kp",
      "create",
      "wf-kms",
      ...["--kmip-server", `127.0.0.1:${kmipPort}`, "--server-ca", path.join(kmipTls, "ca.pem")],
      ...["--cert", path.join(kmipTls, "client.pem"), "--key", path.join(kmipTls, "client-key.pem"), "--key-id", keyId],
      ...kp,
    ),
    "kp create",
  );
  ok(await admin("kp", "grant", "wf-kms", "--cluster", "default", ...kp), "kp grant");

  const taFile = path.join(dir, "ta-identity.json");
  ok(await admin("ta", "export-identity", "-o", taFile), "ta export-identity");
  const noKmxd = await tactl("cluster", "import-ta-identity", taFile, "--agent", socket);
  t.is(noKmxd.code, 2, noKmxd.err);
  t.regex(noKmxd.err, /names no Key Provider Service .*give --kmxd/);

  const imp = await tactl("cluster", "import-ta-identity", taFile, "--agent", socket, "--kmxd", kmxdUrl, "--kmxd-ca", kmxdCa);
  t.is(imp.code, 0, imp.err);
  t.regex(imp.out, new RegExp(`^the agent at .* now uses Trust Authority \\S+: attestd ${attestdUrl}, kmxd ${kmxdUrl}\\n${HOST.replace(/\./g, "\\.")}: attested, token until `));

  const set = await tactl("cluster", "set-key-provider", "wf-kms", "--agent", socket, "--check");
  t.is(set.code, 0, set.err);
  t.regex(set.out, /uses key provider wf-kms by default/);
  t.regex(set.out, /checked: a 32-byte data key came through the agent/);
  const unknown = await tactl("cluster", "set-key-provider", "no-such", "--agent", socket, "--check");
  t.is(unknown.code, 1, "kmxd's refusal through the agent");
  t.regex(unknown.err, /^tactl: Not Found: /);
  const kept = JSON.parse(await readFile(path.join(dir, "kmxa", "state.json"), "utf8")) as { keyProvider?: { name: string } };
  t.is(kept.keyProvider?.name, "wf-kms", "the refused provider was not left as the default");
  const j = JSON.parse((await tactl("cluster", "set-key-provider", "wf-kms", "--agent", socket, "--json")).out) as { name: string };
  t.is(j.name, "wf-kms");

  const st = await admin("status");
  t.is(st.code, 0, st.err);
  t.regex(st.out, /^HOST +STATUS +IMAGE +LAST ATTESTATION +MESSAGE\n/);
  t.regex(st.out, new RegExp(`\\n${HOST.replace(/\./g, "\\.")} +green +tessera-host 1 +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ +`));
  t.regex(st.out, /\n1 host: 1 green, 0 red, 0 stale, 0 unknown\n$/);
  const sj = JSON.parse((await admin("status", "--json")).out) as { hosts: { host: string; status: string }[] };
  t.deepEqual(
    sj.hosts.map((h) => [h.host, h.status]),
    [[HOST, "green"]],
  );
  // The agent's settings survive as its state says (no secret in it).
  const state = await readFile(path.join(dir, "kmxa", "state.json"), "utf8");
  t.regex(state, /"keyProvider"/);
  t.regex(state, new RegExp(attestdUrl.replace(/[.:/]/g, "\\$&")));
});
