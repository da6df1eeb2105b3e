/**
 * `tactl kp`'s argument readers (kp_args.ts): KMIP server lists (property tests), wrap modes, names, EK
 * fingerprints, host patterns, TPM CA rules from PEM/DER/bundles, wrapped keys, and client credentials checked
 * against each other — each refusal a CliError naming the option and value.
 */
import test from "ava";
import fc from "fast-check";
import { createHash, generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createCa, issueCertificate } from "@tessera/pki";
import {
  certificatesDer,
  checkName,
  clusterRules,
  parseEkFingerprint,
  parseHostPattern,
  parseKmipServer,
  parseKmipServers,
  parseWrapMode,
  parseWrapped,
  readClientCredentials,
} from "./kp_args.ts";

let dir: string;
test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-kp-args-"));
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const usage = { name: "CliError", code: "TACTL_USAGE" } as const;

test("parseKmipServer: host names, IPv4, bracketed IPv6; the port normalised", (t) => {
  t.is(parseKmipServer("kms-1.example:5696"), "kms-1.example:5696");
  t.is(parseKmipServer(" 127.0.0.1:05696 "), "127.0.0.1:5696");
  t.is(parseKmipServer("[::1]:5696"), "[::1]:5696");
  t.is(parseKmipServer("[fe80::1:2]:1"), "[fe80::1:2]:1");
  t.is(parseKmipServer("localhost:65535"), "localhost:65535");
});

test("parseKmipServer: refusals name the option and the value", (t) => {
  for (const bad of ["kms", "kms:", ":5696", "kms:0", "kms:65536", "kms:123456", "::1:5696", "[nothex]:5696", "256.1.1.1:5696", "a b:1", "kms:56x", "-kms:5"]) {
    const e = t.throws(() => parseKmipServer(bad), usage, bad);
    t.true(e?.message.includes(`--kmip-server "${bad}"`), e?.message);
  }
});

test("parseKmipServer: every HOST:PORT it accepts reads back the same (property)", (t) => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
  const host = fc.oneof(
    fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join(".")),
    fc.ipV4(),
    fc.ipV6().map((a) => `[${a}]`),
  );
  fc.assert(
    fc.property(host, fc.integer({ min: 1, max: 65535 }), (h, port) => {
      // An all-digit dotted name that is not an IPv4 address is refused, as it should be: skip those.
      if (/^[\d.]+$/.test(h) && !/^(\d{1,3}\.){3}\d{1,3}$/.test(h)) return;
      const s = parseKmipServer(`${h}:${port}`);
      t.is(parseKmipServer(s), s, "idempotent");
      t.true(s.endsWith(`:${port}`));
    }),
  );
});

test("parseKmipServer: any string either parses or is a usage error, never something else (property)", (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (s) => {
      try {
        const out = parseKmipServer(s);
        t.regex(out, /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):\d{1,5}$/);
      } catch (e) {
        t.is((e as Error).name, "CliError");
      }
    }),
  );
});

test("parseKmipServers: comma lists and repeated options, in order; duplicates and empty entries refused", (t) => {
  t.deepEqual(parseKmipServers(["a:1,b:2", "c:3"]), ["a:1", "b:2", "c:3"]);
  t.deepEqual(parseKmipServers(["a:1, b:2"]), ["a:1", "b:2"]);
  t.throws(() => parseKmipServers([]), { ...usage, message: /--kmip-server is required/ });
  t.throws(() => parseKmipServers(["a:1,,b:2"]), { ...usage, message: /empty server/ });
  t.throws(() => parseKmipServers(["a:1", "a:01"]), { ...usage, message: /a:1 is given twice/ });
});

test("parseWrapMode: the three modes, any case; anything else names them", (t) => {
  t.is(parseWrapMode(undefined), undefined);
  t.is(parseWrapMode("auto"), "auto");
  t.is(parseWrapMode("a256gcm"), "A256GCM");
  t.is(parseWrapMode("CBC-HMAC-SHA256"), "CBC-HMAC-SHA256");
  t.throws(() => parseWrapMode("GCM"), { ...usage, message: /auto, A256GCM, CBC-HMAC-SHA256/ });
});

test("checkName: provider and cluster names", (t) => {
  for (const ok of ["kms1", "prod_keys", "a.b-c", "9", "x".repeat(63)]) t.is(checkName(ok, "provider name"), ok);
  for (const bad of ["", "-x", ".x", "_x", "a/b", "a b", "é", "x".repeat(64)])
    t.throws(() => checkName(bad, "provider name"), { ...usage, message: /provider name/ });
});

test("parseEkFingerprint: 64 hex digits, colons and case allowed; normalised", (t) => {
  const hex = "ab".repeat(32);
  t.is(parseEkFingerprint(hex.toUpperCase()), hex);
  t.is(parseEkFingerprint(hex.match(/../g)!.join(":")), hex);
  for (const bad of ["ab".repeat(31), "ab".repeat(33), "zz".repeat(32), ""]) t.throws(() => parseEkFingerprint(bad), { ...usage, message: /--ek/ });
});

test("parseHostPattern: letters, digits, . - _ and *", (t) => {
  t.is(parseHostPattern("esx-*.prod.example"), "esx-*.prod.example");
  for (const bad of ["", "a b", "host/1", "h?st"]) t.throws(() => parseHostPattern(bad), { ...usage, message: /--host/ });
});

test("parseWrapped: standard padded base64, whitespace ignored; anything else refused naming where", (t) => {
  t.is(parseWrapped("  eyJ2IjoxfQ==\n", "--wrapped"), "eyJ2IjoxfQ==");
  t.is(parseWrapped("eyJ2\nIjox\nfQ==", "--wrapped"), "eyJ2IjoxfQ==");
  for (const bad of ["", "eyJ2IjoxfQ", "eyJ2-joxfQ==", "a===", "not base64!"])
    t.throws(() => parseWrapped(bad, "--file w.txt"), { ...usage, message: /--file w\.txt/ });
});

test("parseWrapped: every base64 of bytes is taken as it is (property)", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
      const b64 = Buffer.from(bytes).toString("base64");
      t.is(parseWrapped(b64.replace(/(.{20})/g, "$1\n"), "--wrapped"), b64);
    }),
  );
});

test("clusterRules: one rule per --host, --ek and TPM CA certificate (PEM, DER, bundles); duplicates once; none refused", async (t) => {
  const ca1 = await createCa({ commonName: "TPM CA 1" });
  const ca2 = await createCa({ commonName: "TPM CA 2" });
  const der1 = new Uint8Array(new X509Certificate(ca1.certificatePem).raw);
  const sha = (pem: string) => createHash("sha256").update(new X509Certificate(pem).raw).digest("hex");
  await writeFile(path.join(dir, "ca1.der"), der1);
  await writeFile(path.join(dir, "bundle.pem"), ca1.certificatePem + ca2.certificatePem);
  const ek = "cd".repeat(32);
  const rules = await clusterRules(["esx-*"], [ek.toUpperCase()], [path.join(dir, "ca1.der"), path.join(dir, "bundle.pem")]);
  t.deepEqual(rules, [{ host: "esx-*" }, { ekFingerprint: ek }, { tpmCa: sha(ca1.certificatePem) }, { tpmCa: sha(ca2.certificatePem) }]);
  await t.throwsAsync(clusterRules([], [], []), { ...usage, message: /at least one/ });
  await writeFile(path.join(dir, "junk.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  await t.throwsAsync(clusterRules([], [], [path.join(dir, "junk.pem")]), {
    name: "CliError",
    code: "TACTL_INPUT",
    message: /--tpm-ca .*junk\.pem: not a certificate/,
  });
  await t.throwsAsync(clusterRules([], [], [path.join(dir, "missing.pem")]), { name: "CliError", code: "TACTL_FILE", message: /missing\.pem: ENOENT/ });
  t.throws(() => certificatesDer(new TextEncoder().encode("-----BEGIN X-----\n"), "f.pem", "--tpm-ca"), {
    message: /--tpm-ca f\.pem holds no PEM certificate/,
  });
});

test("readClientCredentials: the certificate and its key (any PEM form) as PKCS#8; a key of another certificate refused", async (t) => {
  const ca = await createCa({ commonName: "KMS CA" });
  const client = await issueCertificate(ca, { commonName: "kmxd", profile: "client" });
  await writeFile(path.join(dir, "client.pem"), client.certificatePem);
  await writeFile(path.join(dir, "client-key.pem"), client.privateKeyPem!);
  const ok = await readClientCredentials(path.join(dir, "client.pem"), path.join(dir, "client-key.pem"));
  t.is(ok.certificate, client.certificatePem.trimEnd() + "\n");
  t.regex(ok.key!, /^-----BEGIN PRIVATE KEY-----/);
  t.deepEqual(await readClientCredentials(path.join(dir, "client.pem"), undefined), { certificate: ok.certificate });
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "sec1", format: "pem" });
  await writeFile(path.join(dir, "other-key.pem"), other);
  await t.throwsAsync(readClientCredentials(path.join(dir, "client.pem"), path.join(dir, "other-key.pem")), {
    code: "TACTL_INPUT",
    message: /--key .*other-key\.pem does not match the certificate in --cert .*client\.pem/,
  });
  await writeFile(path.join(dir, "not.pem"), "hello\n");
  await t.throwsAsync(readClientCredentials(path.join(dir, "not.pem"), undefined), {
    code: "TACTL_INPUT",
    message: /--cert .*not\.pem holds no PEM certificate/,
  });
  await t.throwsAsync(readClientCredentials(path.join(dir, "client.pem"), path.join(dir, "not.pem")), {
    code: "TACTL_INPUT",
    message: /--key .*not\.pem: not a PEM private key/,
  });
});
