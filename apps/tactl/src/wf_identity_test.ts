/**
 * The identity files' parsers as hostile-input readers: a good file reads back as written; every field that does
 * not fit is named; arbitrary text (and arbitrary JSON, and a good file with any one field replaced by arbitrary
 * JSON) never throws anything but a CliError TACTL_INPUT naming the file.
 */
import test from "ava";
import fc from "fast-check";
import { CliError } from "./errors.ts";
import { HOST_IDENTITY_FORMAT, parseHostIdentity, parseTaIdentity } from "./wf_identity.ts";

// A syntactically valid certificate block (the parser checks the PEM form; attestd and the agent parse the DER).
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

const host = {
  format: HOST_IDENTITY_FORMAT,
  host: "web-1.example",
  ekCertificate: PEM,
  ekPublic: "AAEC",
  ekPublicKey: "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n",
  ekFingerprint: "ab".repeat(32),
  caChain: [{ subject: "CN=ek", issuer: "CN=TPM CA" }],
  tpm: { manufacturer: "IBM", model: "SW TPM", firmware: "1.2.3.4" },
  akName: "000b",
  akPublic: "AAEC",
  eventLog: "AAAA",
  eventLogPath: "/sys/kernel/security/tpm0/binary_bios_measurements",
  image: { name: "web", version: "1", extra: true },
};

const ta = {
  cluster: "ta-1",
  attestationService: "https://ta.example:7889/",
  keyProviderService: "https://ta.example:7888",
  tlsCa: PEM,
  jwks: { keys: [] },
};

function inputError(t: import("ava").ExecutionContext, fn: () => unknown, re: RegExp): void {
  const e = t.throws(fn, { instanceOf: CliError });
  t.is(e?.code, "TACTL_INPUT");
  t.regex(e?.message ?? "", re);
}

test("a host identity reads back as the agent wrote it", (t) => {
  const r = parseHostIdentity(JSON.stringify(host), "h.json");
  t.deepEqual(r, {
    host: "web-1.example",
    ekCertificate: PEM,
    ekPublic: "AAEC",
    ekFingerprint: "ab".repeat(32),
    caChain: [{ subject: "CN=ek", issuer: "CN=TPM CA" }],
    tpm: { manufacturer: "IBM", model: "SW TPM", firmware: "1.2.3.4" },
    eventLog: "AAAA",
    image: { name: "web", version: "1" },
  });
  const { format: _f, ekCertificate: _c, image: _i, ...bare } = host;
  const b = parseHostIdentity(JSON.stringify({ ...bare, caChain: [] }), "h.json");
  t.is(b.ekCertificate, undefined, "no certificate: a TPM that has none");
  t.is(b.image, undefined);
});

test("each host identity field that does not fit is named", (t) => {
  inputError(t, () => parseHostIdentity("{", "h.json"), /^h\.json: not JSON/);
  inputError(t, () => parseHostIdentity("[]", "h.json"), /^h\.json: not a JSON object/);
  inputError(t, () => parseHostIdentity(JSON.stringify({ ...host, format: "x/v9" }), "h.json"), /field format is "x\/v9"/);
  inputError(t, () => parseHostIdentity(JSON.stringify({ ...host, host: "Web_1" }), "h.json"), /field host is not a host name/);
  inputError(t, () => parseHostIdentity(JSON.stringify({ ...host, host: undefined }), "h.json"), /field host is missing/);
  inputError(t, () => parseHostIdentity(JSON.stringify({ ...host, ekPublic: "a b" }), "h.json"), /field ekPublic is not base64/);
  inputError(t, () => parseHostIdentity(JSON.stringify({ ...host, ekFingerprint: "AB".repeat(32) }), "h.json"), /field ekFingerprint is not a SHA-256/);
  inputError(t, () => parseHostIdentity(JSON.stringify({ ...host, ekCertificate: "MIIB" }), "h.json"), /field ekCertificate holds no PEM certificate/);
  inputError(t, () => parseHostIdentity(JSON.stringify({ ...host, eventLog: "%%" }), "h.json"), /field eventLog is not base64/);
  inputError(t, () => parseHostIdentity(JSON.stringify({ ...host, caChain: [1] }), "h.json"), /field caChain\[0\] is not an object/);
  inputError(t, () => parseHostIdentity(JSON.stringify({ ...host, image: { name: "web" } }), "h.json"), /h\.json image: field version is missing/);
});

test("a Trust Authority identity reads back; its URLs https only, its CA PEM", (t) => {
  t.deepEqual(parseTaIdentity(JSON.stringify(ta), "ta.json"), {
    cluster: "ta-1",
    attestationService: "https://ta.example:7889",
    keyProviderService: "https://ta.example:7888",
    tlsCa: PEM,
  });
  const { keyProviderService: _k, ...noKmxd } = ta;
  t.is(parseTaIdentity(JSON.stringify(noKmxd), "ta.json").keyProviderService, undefined);
  t.is(parseTaIdentity(JSON.stringify({ ...ta, keyProviderServiceCa: PEM }), "ta.json").keyProviderServiceCa, PEM);
  inputError(t, () => parseTaIdentity(JSON.stringify({ ...ta, attestationService: "http://ta.example" }), "ta.json"), /field attestationService is not an https:\/\/ URL/);
  inputError(t, () => parseTaIdentity(JSON.stringify({ ...ta, keyProviderService: "not a url" }), "ta.json"), /field keyProviderService is not a URL/);
  inputError(t, () => parseTaIdentity(JSON.stringify({ ...ta, tlsCa: undefined }), "ta.json"), /field tlsCa is missing/);
  inputError(t, () => parseTaIdentity(JSON.stringify({ ...ta, cluster: 7 }), "ta.json"), /field cluster is not a string/);
  inputError(t, () => parseTaIdentity(JSON.stringify(host), "ta.json"), /field cluster is missing/);
});

/** Either parser's outcome: a value, or a CliError TACTL_INPUT naming the file; anything else fails the property. */
function onlyInputErrors(parse: (text: string, where: string) => unknown, text: string): boolean {
  try {
    parse(text, "f.json");
    return true;
  } catch (e) {
    return e instanceof CliError && e.code === "TACTL_INPUT" && e.message.startsWith("f.json");
  }
}

test("property: any text, any JSON, and a good file with one field made arbitrary: a value or a named input error", (t) => {
  for (const parse of [parseHostIdentity, parseTaIdentity]) {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => onlyInputErrors(parse, s)));
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => onlyInputErrors(parse, JSON.stringify(v))));
  }
  fc.assert(
    fc.property(fc.constantFrom(...Object.keys(host)), fc.jsonValue({ maxDepth: 3 }), (k, v) => onlyInputErrors(parseHostIdentity, JSON.stringify({ ...host, [k]: v }))),
  );
  fc.assert(fc.property(fc.constantFrom(...Object.keys(ta)), fc.jsonValue({ maxDepth: 3 }), (k, v) => onlyInputErrors(parseTaIdentity, JSON.stringify({ ...ta, [k]: v }))));
  t.pass();
});
