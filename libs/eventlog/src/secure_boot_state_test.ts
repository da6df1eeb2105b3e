import test from "ava";
import { X509Certificate, createHash } from "node:crypto";
import { xorshift32 } from "@tessera/fixtures";
import { TPM_ALG } from "@tessera/tpm2";
import { fixture, fixtureNames, windowsGcp } from "./_fixtures_test.ts";
import { certificateSubject } from "./_certificate.ts";
import { appendEvent } from "./append_event.ts";
import { decodeEvent } from "./decode_event.ts";
import { EFI_GUID } from "./efi_guid.ts";
import { encodeEfiSignatureList } from "./encode_efi_signature_list.ts";
import { encodeEfiVariableData } from "./encode_efi_variable_data.ts";
import { EV } from "./event_type.ts";
import { newCryptoAgileLog } from "./new_crypto_agile_log.ts";
import { parseEventLog } from "./parse_event_log.ts";
import { secureBootState } from "./secure_boot_state.ts";
import { writeEventLog } from "./write_event_log.ts";

const UEFI_CA_2011 = "C=US, ST=Washington, L=Redmond, O=Microsoft Corporation, CN=Microsoft Corporation UEFI CA 2011";
const UEFI_CA_2011_SHA256 = "48e99b991f57fc52f76149599bff0a58c47154229b9f8d603ac40d3500248507";

test("Secure Boot on: the sb_cert log, with db certificates and the authorities that verified shim and grub", (t) => {
  const s = secureBootState(parseEventLog(fixture("go-attestation_sb_cert_eventlog.bin")));
  t.like(s, { enabled: true, pk: true, kek: true, db: true, dbx: true });
  t.deepEqual(
    s.dbCertificates.map((c) => c.subject?.replace(/.*CN=/, "")),
    [
      "Microsoft Corporation UEFI CA 2011",
      "Microsoft Root Certificate Authority 2010",
      "Microsoft Windows Production PCA 2011",
      "Microsoft Corporation Third Party Marketplace Root",
    ],
  );
  t.deepEqual(s.dbCertificates[0], { subject: UEFI_CA_2011, sha256: UEFI_CA_2011_SHA256 });
  t.deepEqual(s.authorities[0], {
    eventIndex: 8,
    variable: "db",
    signatureOwner: "d281fad2-8d88-47a4-9792-5baa47bb1b89",
    certificateSha256: UEFI_CA_2011_SHA256,
    subject: UEFI_CA_2011,
    forImage: 10,
  });
  t.like(s.authorities[1], {
    variable: "Shim",
    signatureOwner: "",
    subject: "C=GB, ST=Isle of Man, L=Douglas, O=Canonical Ltd., CN=Canonical Ltd. Master Certificate Authority",
    forImage: 13,
  });
});

test("Secure Boot on: the Windows GCP Shielded VM log", (t) => {
  const s = secureBootState(parseEventLog(windowsGcp().raw));
  t.like(s, { enabled: true, db: true, dbx: true });
  t.true(s.dbCertificates.some((c) => c.subject?.endsWith("CN=Microsoft Windows Production PCA 2011")));
  // bootmgfw.efi is verified by the Microsoft root in db, measured before the boot manager loads.
  t.like(s.authorities, [
    { variable: "db", subject: "C=US, ST=Washington, L=Redmond, O=Microsoft Corporation, CN=Microsoft Root Certificate Authority 2010", forImage: 9 },
  ]);
});

test("Secure Boot off (false, not undefined) in every *no_secure_boot* log; on in the RHEL and COS logs", (t) => {
  const off = fixtureNames().filter((n) => /no[-_]secure[-_]boot/.test(n));
  t.true(off.length >= 3);
  for (const name of off) t.is(secureBootState(parseEventLog(fixture(name))).enabled, false, name);
  for (const name of ["go-tpm-tools_rhel8-uefi.bin", "go-tpm-tools_cos-85-amd-sev.bin", "tpm2-tools_event-moklisttrusted.bin"]) {
    t.is(secureBootState(parseEventLog(fixture(name))).enabled, true, name);
  }
  // An empty SecureBoot variable (absent) is "off"; a log that never measures it says nothing.
  t.is(secureBootState(parseEventLog(fixture("tpm2-tools_event-uefi-sha1-log.bin"))).enabled, false);
  t.is(secureBootState(parseEventLog(fixture("tpm2-tools_event-uefiaction.bin"))).enabled, undefined);
});

/** OpenSSL's multi-line name (as node:crypto gives it) in @tessera/pki's formatName layout and attribute names. */
const opensslName = (name: string): string =>
  name
    .split("\n")
    .join(", ")
    .replace(/ \+ /g, "+")
    .replace(/(^|, |\+)emailAddress=/g, "$1E=");

test("every db certificate in every log has a subject that matches node:crypto's reading", (t) => {
  let n = 0;
  for (const name of fixtureNames()) {
    const log = parseEventLog(fixture(name));
    for (const e of log.events) {
      const d = decodeEvent(e, log);
      if (d.kind !== "efi-variable" || !d.signatureLists) continue;
      for (const l of d.signatureLists) {
        if (l.typeName !== "x509") continue;
        for (const s of l.signatures) {
          const x = new X509Certificate(s.data);
          t.is(certificateSubject(s.data), opensslName(x.subject), `${name} event ${e.index}`);
          n++;
        }
      }
    }
  }
  t.true(n > 50);
});

test("subjects are escaped and named as @tessera/pki names them (Red Hat's CA: a comma in O, an e-mail address)", (t) => {
  const subjects = secureBootState(parseEventLog(fixture("go-tpm-tools_rhel8-uefi.bin"))).authorities.map((a) => a.subject);
  t.true(subjects.includes("O=Red Hat\\, Inc., CN=Red Hat Secure Boot CA 5, E=secalert@redhat.com"), JSON.stringify(subjects));
});

/** Every x509 certificate in the db variables of the fixture logs. */
function realCertificates(): Uint8Array[] {
  const certificates: Uint8Array[] = [];
  for (const name of fixtureNames()) {
    const log = parseEventLog(fixture(name));
    for (const e of log.events) {
      const d = decodeEvent(e, log);
      for (const l of d.kind === "efi-variable" ? (d.signatureLists ?? []) : [])
        if (l.typeName === "x509") certificates.push(...l.signatures.map((s) => s.data));
    }
  }
  return certificates;
}

test("damaged certificates in db and in authority events give no subject, never a throw (bounded fuzz)", (t) => {
  const real = realCertificates();
  t.true(real.length > 50);
  const next = xorshift32(0xce27);
  const nested = (depth: number): Uint8Array => new Uint8Array(Array.from({ length: depth }, () => [0x30, 0x80]).flat());
  const damaged: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([0x30]),
    new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30]), // a length past the end
    new Uint8Array([0x30, 0x80, 0x30, 0x80]), // BER indefinite lengths, never ended
    nested(20_000), // deep enough to exhaust a recursive reader's stack
  ];
  for (let i = 0; i < 1500; i++) {
    const base = real[next() % real.length];
    const x = new Uint8Array(base);
    switch (next() % 3) {
      case 0:
        for (let k = 1 + (next() % 4); k > 0; k--) x[next() % x.length] = next() & 0xff;
        damaged.push(x);
        break;
      case 1:
        damaged.push(base.subarray(0, next() % base.length));
        break;
      default: // a header byte of the certificate or its TBSCertificate (tags and lengths)
        x[next() % 12] = next() & 0xff;
        damaged.push(x);
    }
  }
  let named = 0;
  for (const cert of damaged) {
    const subject = certificateSubject(cert);
    t.true(subject === undefined || typeof subject === "string");
    if (subject !== undefined) named++;
    const log = newCryptoAgileLog([TPM_ALG.SHA256]);
    appendEvent(
      log,
      7,
      EV.EFI_VARIABLE_DRIVER_CONFIG,
      encodeEfiVariableData(EFI_GUID.IMAGE_SECURITY_DATABASE, "db", encodeEfiSignatureList("x509", EFI_GUID.MICROSOFT, [cert])),
    );
    appendEvent(
      log,
      7,
      EV.EFI_VARIABLE_AUTHORITY,
      encodeEfiVariableData(EFI_GUID.IMAGE_SECURITY_DATABASE, "db", new Uint8Array([...new Uint8Array(16), ...cert])),
    );
    const state = secureBootState(parseEventLog(writeEventLog(log)));
    t.is(state.dbCertificates.length, 1);
    t.is(state.dbCertificates[0].subject, subject);
    t.is(state.authorities.length, 1);
  }
  // Most single-byte damage leaves the subject readable; the structural damage above does not.
  t.true(named > 0 && named < damaged.length, `${named} of ${damaged.length}`);
});

test("a hand-built log: setup mode, db certificates and the last SecureBoot measurement count", (t) => {
  const cert = (() => {
    const log = parseEventLog(fixture("go-attestation_sb_cert_eventlog.bin"));
    const d = log.events.map((e) => decodeEvent(e, log)).find((d) => d.kind === "efi-variable" && d.name === "db");
    return (d as { signatureLists: { signatures: { data: Uint8Array }[] }[] }).signatureLists[0].signatures[0].data;
  })();
  const log = newCryptoAgileLog([TPM_ALG.SHA256]);
  const v = (guid: string, name: string, data: Uint8Array) => appendEvent(log, 7, EV.EFI_VARIABLE_DRIVER_CONFIG, encodeEfiVariableData(guid, name, data));
  v(EFI_GUID.GLOBAL_VARIABLE, "SecureBoot", new Uint8Array([0]));
  v(EFI_GUID.GLOBAL_VARIABLE, "SetupMode", new Uint8Array([0]));
  v(EFI_GUID.GLOBAL_VARIABLE, "PK", new Uint8Array(0));
  v(EFI_GUID.IMAGE_SECURITY_DATABASE, "db", encodeEfiSignatureList("x509", EFI_GUID.MICROSOFT, [cert]));
  v(EFI_GUID.GLOBAL_VARIABLE, "SecureBoot", new Uint8Array([1]));
  const s = secureBootState(log);
  t.deepEqual(s, {
    enabled: true,
    setupMode: false,
    pk: false,
    kek: false,
    db: true,
    dbx: false,
    dbCertificates: [{ subject: UEFI_CA_2011, sha256: createHash("sha256").update(cert).digest("hex") }],
    authorities: [],
  });
});
