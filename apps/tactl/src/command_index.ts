/**
 * Every tactl command's words and one-line summary, so that `tactl --help`, `tactl <group> --help` and an unknown
 * command are answered without loading any command module (each loads its libraries: the TSS, KMIP, …).
 * `cli_test.ts` checks that this list is the command modules' own.
 * @module
 */

/** A command's words after `tactl` and its summary. */
export interface CommandIndexEntry {
  path: string[];
  summary: string;
}

/** The commands, in the order `tactl --help` lists them. */
export const COMMAND_INDEX: readonly CommandIndexEntry[] = [
  { path: ["tpm", "info"], summary: "manufacturer, vendor strings, firmware version, PCR banks and limits (JSON)" },
  { path: ["tpm", "ek"], summary: "recreate the EK, check it against its certificate, write ek.pub, ek.pem, ek-cert.der" },
  { path: ["tpm", "ak", "create"], summary: "create a restricted signing AK under the EK; write ak.pub, ak.priv, ak.name, ak.json" },
  { path: ["tpm", "quote"], summary: "quote PCRs with the AK and a nonce; write quote.msg, quote.sig (as tpm2_quote -m/-s) and pcrs.json" },
  { path: ["tpm", "verify-quote"], summary: "verify a quote: signature by the AK, magic, type, nonce and (with --pcrs) the PCR digest; exit 1 if invalid" },
  { path: ["tpm", "make-credential"], summary: "protect a secret to an EK for an object Name; write tpm2_makecredential's file format" },
  { path: ["tpm", "activate-credential"], summary: "recover a MakeCredential secret with the EK and the AK (prints it as hex)" },
  { path: ["kmip", "discover"], summary: "the protocol versions the server speaks" },
  { path: ["kmip", "query"], summary: "operations and object types the server supports" },
  { path: ["kmip", "create"], summary: "create a symmetric key; prints its id" },
  { path: ["kmip", "register"], summary: "register a symmetric key or secret data from a file; prints its id" },
  { path: ["kmip", "get"], summary: "an object's type, algorithm, length and key material (hex), or write the material to --out (0600)" },
  { path: ["kmip", "get-attributes"], summary: "an object's attributes" },
  { path: ["kmip", "locate"], summary: "ids of the objects matching a name and/or object type" },
  { path: ["kmip", "activate"], summary: "Pre-Active → Active" },
  { path: ["kmip", "revoke"], summary: "revoke (Active → Deactivated, or Compromised with --reason KeyCompromise)" },
  { path: ["kmip", "destroy"], summary: "destroy the key material" },
  { path: ["kmip", "grant"], summary: "share an object with another client (kmipd): it may then get and use it, not change it" },
  { path: ["kmip", "ungrant"], summary: "stop sharing an object with a client (kmipd)" },
  {
    path: ["kmip", "encrypt"],
    summary: "encrypt a file into an envelope: a random data key encrypts it here, the KMIP server encrypts that key with a managed key (AES-GCM by default)",
  },
  { path: ["kmip", "decrypt"], summary: "decrypt a `tactl kmip encrypt` file (an envelope, or an older TKE1 file): the KMIP server decrypts its data key" },
  { path: ["eventlog", "show"], summary: "the events of a TCG event log, replayed PCRs and Secure Boot state (table, or --json)" },
  { path: ["eventlog", "verify"], summary: "replay a TCG event log and compare with PCR values; exit 1 naming the first differing PCR" },
  { path: ["host", "boot"], summary: "measured boot for a swtpm host: extend its PCRs as firmware would and write the event log" },
  {
    path: ["host", "export-identity"],
    summary: "a host's identity from its agent: EK certificate or public key, its CA, TPM maker/model/firmware, the boot's event log",
  },
  { path: ["ta", "appraise"], summary: "appraise a host's evidence (AK, quote, log, PCRs, optional binding key) offline; exit 1 listing every failed check" },
  { path: ["ta", "login"], summary: "sign in to attestd and keep the session (server, CA, admin token) in $TESSERA_HOME (0600)" },
  { path: ["ta", "logout"], summary: "forget the session (the token stays valid on the server until it expires)" },
  { path: ["ta", "whoami"], summary: "who the session signs in as, their groups, and until when" },
  { path: ["ta", "tpm-ca", "add"], summary: "trust TPM manufacturer CAs (roots or intermediates): PEM or DER files, PEM bundles, or directories of them" },
  { path: ["ta", "tpm-ca", "list"], summary: "the trusted TPM CAs" },
  { path: ["ta", "tpm-ca", "remove"], summary: "stop trusting a TPM CA (its id, or the start of it as listed)" },
  { path: ["ta", "crl", "add"], summary: "add a CRL of a TPM CA (PEM or DER)" },
  { path: ["ta", "crl", "list"], summary: "the CRLs" },
  { path: ["ta", "crl", "remove"], summary: "remove a CRL (its id, or the start of it as listed)" },
  { path: ["ta", "ek-pin", "add"], summary: "pin a host's EK: its certificate, or its public key for a TPM without a certificate" },
  { path: ["ta", "ek-pin", "list"], summary: "the pinned EKs" },
  { path: ["ta", "ek-pin", "remove"], summary: "remove a host's EK pin" },
  { path: ["ta", "image", "add"], summary: "accept a host image version: from a known-good host's event log, a boot manifest, or an image JSON" },
  { path: ["ta", "image", "list"], summary: "the accepted host images, every version" },
  { path: ["ta", "image", "show"], summary: "an image's versions: boot chain, kernel, initrd, command line, Secure Boot" },
  { path: ["ta", "image", "remove"], summary: "remove an image, or one version of it" },
  { path: ["ta", "host", "list"], summary: "every host's attestation status (green, red, stale, unknown) and message, and the fleet summary" },
  {
    path: ["ta", "host", "show"],
    summary: "a host's status, enrollment and history; for a red host each failed check (PCR, bank, event, expected, measured, closest image)",
  },
  { path: ["ta", "host", "remove"], summary: "forget a host: enrollment, status and history (it must enroll again)" },
  { path: ["ta", "events"], summary: "follow host status changes as attestd pushes them (server-sent events); one line each, or JSON lines with --json" },
  { path: ["ta", "account", "add"], summary: "add a local account of TrustedAdmins or TrustedReaders (a generated password unless --password-file)" },
  { path: ["ta", "account", "list"], summary: "the local accounts and their groups" },
  { path: ["ta", "account", "remove"], summary: "remove a local account" },
  { path: ["ta", "signing-key", "list"], summary: "the token signing keys: the active one and the retired ones still published" },
  { path: ["ta", "signing-key", "rotate"], summary: "make a new token signing key active; the old one stays published until its last token expires" },
  { path: ["ta", "export-identity"], summary: "the Trust Authority cluster's identity (service URLs, TLS CA, token keys) as one JSON file" },
  { path: ["ta", "settings"], summary: "show the attestation settings, or change them with --set key=value …" },
  { path: ["ta", "audit"], summary: "the audit trail: who changed what, when (newest first)" },
  { path: ["ta", "enable"], summary: "check the trusted-host services: attestd and kmxd answer, and kmxd takes this attestd's tokens; print what is enabled" },
  {
    path: ["ta", "import-host-identity"],
    summary: "trust a host's TPM (EK pinned, or checked against the trusted TPM CAs) and accept the image its boot measured",
  },
  { path: ["kp", "create"], summary: "make a trusted key provider: its primary key on KMIP servers (checked: exists, Active), kmxd's client certificate" },
  { path: ["kp", "list"], summary: "the trusted key providers: current key version, mode, KMIP servers, clusters granted" },
  { path: ["kp", "show"], summary: "a key provider: KMIP servers, mode, clusters granted, every key version" },
  { path: ["kp", "remove"], summary: "remove a key provider (its keys stay on the key servers)" },
  {
    path: ["kp", "rotate"],
    summary: "make a new primary key version current: a given key, or a new AES-256 key made on the key server; older wrapped keys still unwrap",
  },
  { path: ["kp", "rewrap"], summary: "move a wrapped key to the provider's current key version (on the key server: no secret leaves it)" },
  { path: ["kp", "trust-setup"], summary: "begin trust with key servers: kmxd makes its client key (kept wrapped) and a CSR for their CA to issue" },
  { path: ["kp", "grant"], summary: "let the hosts of a trusted cluster use a provider" },
  { path: ["kp", "revoke"], summary: "stop the hosts of a trusted cluster using a provider" },
  { path: ["kp", "cluster", "set"], summary: "define a trusted cluster (or replace its rules): its hosts by name pattern, EK fingerprint or TPM CA" },
  { path: ["kp", "cluster", "list"], summary: "the trusted clusters and their rules" },
  { path: ["kp", "cluster", "remove"], summary: "remove a trusted cluster (not default): its hosts go back to default, its grants go" },
  { path: ["kp", "audit"], summary: "kmxd's audit trail: every key operation (host, provider, key version, result) and every change, newest first" },
  {
    path: ["cluster", "import-ta-identity"],
    summary: "make a host's agent use a Trust Authority (its exported identity): kept by the agent, which attests with it at once",
  },
  { path: ["cluster", "set-key-provider"], summary: "make a trusted key provider the default of a host's agent (its keys without naming a provider)" },
  { path: ["status"], summary: "the fleet: each host's status (green, red, stale), image version, last attestation and message" },
  {
    path: ["dev", "up"],
    summary: "start a swtpm dev environment on loopback (kmipd, attestd, kmxd, N measured-booted swtpm hosts with kmxa), set it up, wait until green",
  },
  {
    path: ["dev", "status"],
    summary: "a dev environment's fleet (attestd's host statuses) and its processes; exit 1 when a process stopped or a host is not green",
  },
  { path: ["dev", "down"], summary: "stop every process `tactl dev up` started (by pid: SIGTERM, then SIGKILL) and wait until none is left" },
  { path: ["vm", "create"], summary: "a new VM directory (vm.json): name, firmware, virtual hardware version" },
  {
    path: ["vm", "add-vtpm"],
    summary: "give a VM a vTPM: its own EK and EK certificate (signed by the vTPM CA), its state encrypted in vm.nvram under a key provider's data key",
  },
  {
    path: ["vm", "add-disk"],
    summary:
      "add a disk (qcow2) to a stopped VM, LUKS-encrypted when asked (or when the VM was created with --encrypt-disks), its passphrase under the vTPM's key provider",
  },
  {
    path: ["vm", "start"],
    summary: "start a VM's vTPM: the data key from its provider, the state opened into RAM (tmpfs), swtpm on D/run/tpm.sock; prints the guest's TCTI",
  },
  {
    path: ["vm", "stop"],
    summary:
      "stop a VM (QEMU, if it runs it) and its vTPM, and save the vTPM's state into vm.nvram, encrypted, atomically (the last good state survives a crash)",
  },
  { path: ["vm", "describe"], summary: "what of a VM is encrypted, with which key provider (name, trusted or standard) and key id; never the key" },
  { path: ["vm", "rekey"], summary: "a new data key for a VM's vTPM state (optionally another key provider); the guest's secrets are not touched" },
  {
    path: ["vm", "clone"],
    summary: "clone a stopped VM: --vtpm copy keeps the vTPM's identity and secrets (a new data key), replace gives the clone a new blank vTPM",
  },
  { path: ["vm", "backup"], summary: "back up a stopped VM into one file (0600): every VM file, vm.nvram as it is (encrypted)" },
  {
    path: ["vm", "restore"],
    summary: "restore a VM backup into a new directory, once this host is seen to reach its vTPM's key (else refused, nothing written)",
  },
  {
    path: ["vm", "migrate-check"],
    summary: "may a VM move to HOST: a trusted-provider VM only to a host green at the same Trust Authority (asked with the tactl ta session); exit 1 if not",
  },
];
