/**
 * The host image manifest: the default image is valid and survives JSON, and every malformed field is
 * named in the error.
 */
import test from "ava";
import { X509Certificate } from "node:crypto";
import { defaultHostImage } from "./default_host_image.ts";
import { BootError } from "./errors.ts";
import { parseHostImage, validateHostImage, type HostImage } from "./host_image.ts";
import { makeTestSecureBootPki, type TestSecureBootPki } from "./make_test_secure_boot_pki.ts";

let pki: TestSecureBootPki;
let manifest: HostImage;

test.before(async () => {
  pki = await makeTestSecureBootPki();
  manifest = defaultHostImage({ pki });
});

/** A deep copy as plain JSON, for editing. */
function json(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>;
}

function rejects(t: import("ava").ExecutionContext, value: unknown, field: string, problem: RegExp): void {
  const e = t.throws(() => validateHostImage(value), { instanceOf: BootError });
  if (!(e instanceof BootError)) return;
  t.is(e.code, "BOOT_MANIFEST");
  t.is(e.field, field, e.message);
  t.true(e.message.startsWith(`${field}: `), e.message);
  t.regex(e.message, problem);
}

test("the test PKI chains PK → KEK → db", (t) => {
  const pk = new X509Certificate(pki.pk.certificatePem);
  const kek = new X509Certificate(pki.kek.certificatePem);
  t.true(kek.checkIssued(pk));
  t.true(kek.verify(pk.publicKey));
  t.is(pki.db.length, 2);
  for (const d of pki.db) {
    const db = new X509Certificate(d.certificatePem);
    t.true(db.checkIssued(kek));
    t.true(db.verify(kek.publicKey));
    t.true(db.ca);
  }
  t.regex(pki.db[0].certificatePem, /BEGIN CERTIFICATE/);
});

test("the default image is a realistic boot chain and survives JSON", (t) => {
  t.deepEqual(
    manifest.bootChain.map((b) => b.kind),
    ["boot-manager", "shim", "bootloader", "kernel"],
  );
  t.is(manifest.bootChain[0].path, "\\EFI\\BOOT\\BOOTX64.EFI");
  t.is(manifest.bootChain[0].signedBy, "Tessera Test UEFI CA");
  t.is(manifest.bootChain[3].signedBy, "Tessera Test OS Signing CA");
  t.true(manifest.secureBoot.enabled);
  t.is(manifest.secureBoot.db.length, 2);
  t.deepEqual(parseHostImage(JSON.stringify(manifest)), manifest);
  t.deepEqual(defaultHostImage({ pki }), manifest, "stable");
  t.false(defaultHostImage({ pki, secureBoot: false }).secureBoot.enabled);
  t.regex(defaultHostImage({ pki, kernelRelease: "6.12.0-1-amd64" }).bootChain[3].path, /vmlinuz-6\.12\.0-1-amd64$/);
});

test("hex is normalized to lower case and signedBy takes a full subject", (t) => {
  const m = json();
  const chain = m.bootChain as Record<string, unknown>[];
  chain[1].sha256 = String(chain[1].sha256).toUpperCase();
  chain[1].signedBy = "CN=Tessera Test UEFI CA, O=Tessera Test";
  const v = validateHostImage(m);
  t.is(v.bootChain[1].sha256, manifest.bootChain[1].sha256);
  t.is(v.bootChain[1].signedBy, "CN=Tessera Test UEFI CA, O=Tessera Test");
});

test("a missing boot-chain path is named", (t) => {
  const m = json();
  delete (m.bootChain as Record<string, unknown>[])[2].path;
  rejects(t, m, "manifest.bootChain[2].path", /missing/);
});

test("bad fields are named", (t) => {
  const edit = (f: (m: Record<string, unknown>) => void): Record<string, unknown> => {
    const m = json();
    f(m);
    return m;
  };
  const chain = (m: Record<string, unknown>): Record<string, unknown>[] => m.bootChain as Record<string, unknown>[];
  const sb = (m: Record<string, unknown>): Record<string, unknown> => m.secureBoot as Record<string, unknown>;
  const fw = (m: Record<string, unknown>): Record<string, unknown> => m.firmware as Record<string, unknown>;
  rejects(t, "nope", "manifest", /expected an object, got string/);
  rejects(
    t,
    edit((m) => delete m.version),
    "manifest.version",
    /missing/,
  );
  rejects(
    t,
    edit((m) => (m.version = 7)),
    "manifest.version",
    /expected a string, got number/,
  );
  rejects(
    t,
    edit((m) => (m.extra = 1)),
    "manifest.extra",
    /unknown field/,
  );
  rejects(
    t,
    edit((m) => (chain(m)[0].sha256 = "abc")),
    "manifest.bootChain[0].sha256",
    /64 hex digits/,
  );
  rejects(
    t,
    edit((m) => (chain(m)[1].kind = "driver")),
    "manifest.bootChain[1].kind",
    /expected one of/,
  );
  rejects(
    t,
    edit((m) => (chain(m)[1].path = "/EFI/BOOT/x.efi")),
    "manifest.bootChain[1].path",
    /EFI path/,
  );
  rejects(
    t,
    edit((m) => (chain(m)[2].signedBy = "Someone Else CA")),
    "manifest.bootChain[2].signedBy",
    /no db certificate/,
  );
  rejects(
    t,
    edit((m) => (chain(m)[0].kind = "kernel")),
    "manifest.bootChain",
    /exactly one kernel, found 2/,
  );
  rejects(
    t,
    edit((m) => chain(m).reverse()),
    "manifest.bootChain[0].kind",
    /must be the last/,
  );
  rejects(
    t,
    edit((m) => (m.bootChain = [])),
    "manifest.bootChain",
    /empty|exactly one kernel/,
  );
  rejects(
    t,
    edit((m) => (sb(m).pk = ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])),
    "manifest.secureBoot.pk[0]",
    /not an X\.509 certificate/,
  );
  rejects(
    t,
    edit((m) => (sb(m).pk = [])),
    "manifest.secureBoot.pk",
    /setup mode/,
  );
  rejects(
    t,
    edit((m) => (sb(m).enabled = "yes")),
    "manifest.secureBoot.enabled",
    /expected a boolean/,
  );
  rejects(
    t,
    edit((m) => (sb(m).dbx = [chain(m)[3].sha256])),
    "manifest.bootChain[3].sha256",
    /in dbx/,
  );
  rejects(
    t,
    edit((m) => ((fw(m).blobs as Record<string, unknown>[])[0].contentBase64 = "AAAA")),
    "manifest.firmware.blobs[0]",
    /exactly one/,
  );
  rejects(
    t,
    edit((m) => ((fw(m).blobs as Record<string, unknown>[])[2].contentBase64 = "not base64!")),
    "manifest.firmware.blobs[2].contentBase64",
    /not base64/,
  );
  rejects(
    t,
    edit((m) => ((fw(m).blobs as Record<string, unknown>[])[0].name = "x".repeat(256))),
    "manifest.firmware.blobs[0].name",
    /at most 255/,
  );
  rejects(
    t,
    edit((m) => (m.kernelCommandLine = "a\0b")),
    "manifest.kernelCommandLine",
    /NUL/,
  );
  rejects(
    t,
    edit((m) => (m.initrdSha256 = null)),
    "manifest.initrdSha256",
    /expected a string, got null/,
  );
  rejects(
    t,
    edit((m) => (m.bootChain = Array.from({ length: 65 }, () => chain(m)[3]))),
    "manifest.bootChain",
    /at most 64/,
  );
});

test("Secure Boot off still validates db signers but not dbx", (t) => {
  const m = json();
  const sb = m.secureBoot as Record<string, unknown>;
  sb.enabled = false;
  sb.dbx = [(m.bootChain as Record<string, unknown>[])[3].sha256];
  t.false(validateHostImage(m).secureBoot.enabled);
});

test("parseHostImage names bad JSON", (t) => {
  const e = t.throws(() => parseHostImage("{"), { instanceOf: BootError });
  t.is(e?.field, "manifest");
  t.regex(e?.message ?? "", /^manifest: not JSON/);
});
