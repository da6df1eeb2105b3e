/** vm.json: a new VM's defaults, each refusal naming its field, and who may have a vTPM. */
import test from "ava";
import { VmConfigError } from "./errors.ts";
import { MIN_VTPM_HW_VERSION, newVmConfig, nvramContext, parseVmConfig, vtpmRefusal } from "./vm_config.ts";

const UUID = "0b6f1f0e-8a4c-4c1e-9d7a-2f6b1c3d4e5f";

test("a new VM: EFI, hardware version 21, disks not encrypted; it round-trips through JSON", (t) => {
  const c = newVmConfig({ name: "web-01", uuid: UUID });
  t.like(c, { format: "tessera-vm/v1", name: "web-01", firmware: "efi", hwVersion: 21, encryption: { disks: false } });
  t.deepEqual(parseVmConfig(JSON.stringify(c), "vm.json"), c);
  t.is(nvramContext(c), `tessera-vm:${UUID}:nvram`);
});

test("bad fields are named", (t) => {
  const bad = (o: Record<string, unknown>, field: string) => {
    const e = t.throws(() => parseVmConfig(JSON.stringify({ ...newVmConfig({ name: "a", uuid: UUID }), ...o }), "D/vm.json"), { instanceOf: VmConfigError });
    t.is(e?.code, "VM_CONFIG_INVALID");
    t.is(e?.field, field, e?.message);
    t.regex(e?.message ?? "", new RegExp(`^D/vm\\.json: field ${field.replace(/\./g, "\\.")} `));
  };
  bad({ name: "-x" }, "name");
  bad({ uuid: "nope" }, "uuid");
  bad({ firmware: "uefi" }, "firmware");
  bad({ hwVersion: 1.5 }, "hwVersion");
  bad({ format: "tessera-vm/v2" }, "format");
  bad({ extra: 1 }, "vm.json");
  bad(
    {
      vtpm: {
        provider: { kind: "standard", name: "kms", kmipServers: [], keyId: "1", mode: "A256GCM", clientCertificate: "c", clientKey: "k", serverCa: "a" },
        ekCertificate: "-----BEGIN CERTIFICATE-----",
        ekIssuer: "",
        created: "",
      },
    },
    "vtpm.provider.kmipServers",
  );
  t.throws(() => parseVmConfig("{", "D/vm.json"), { instanceOf: VmConfigError, message: /D\/vm\.json is not JSON/ });
  t.throws(() => newVmConfig({ name: "bad name", uuid: UUID }), { instanceOf: VmConfigError, message: /field name/ });
});

test("a vTPM needs EFI and hardware version 14 or later, and a VM has one at most", (t) => {
  t.is(vtpmRefusal(newVmConfig({ name: "a", uuid: UUID })), undefined);
  t.is(vtpmRefusal(newVmConfig({ name: "a", uuid: UUID, hwVersion: MIN_VTPM_HW_VERSION })), undefined);
  const bios = vtpmRefusal(newVmConfig({ name: "old", uuid: UUID, firmware: "bios" }));
  t.like(bios, { code: "VTPM_NOT_ALLOWED", field: "firmware" });
  t.regex(bios?.message ?? "", /VM old boots with BIOS firmware: a vTPM needs EFI/);
  const hw = vtpmRefusal(newVmConfig({ name: "old", uuid: UUID, hwVersion: 13 }));
  t.like(hw, { code: "VTPM_NOT_ALLOWED", field: "hwVersion" });
  t.regex(hw?.message ?? "", /hardware version 13: a vTPM needs 14 or later/);
  const has = {
    ...newVmConfig({ name: "a", uuid: UUID }),
    vtpm: {
      provider: { kind: "trusted" as const, name: "kp" },
      ekCertificate: "-----BEGIN CERTIFICATE-----x",
      ekIssuer: "CN=ca",
      created: "2026-12-03T00:00:00Z",
    },
  };
  t.like(vtpmRefusal(has), { code: "VTPM_NOT_ALLOWED", field: "vtpm" });
});

test("migration: a trusted-provider VM only to a host green at the same Trust Authority cluster; a standard one anywhere its provider is reachable", async (t) => {
  const { migrationVerdict } = await import("./vm_config.ts");
  const trusted = { provider: { kind: "trusted" as const, name: "kp" }, ekCertificate: "-----BEGIN CERTIFICATE-----x", ekIssuer: "CN=ca", created: "" };
  t.like(migrationVerdict(trusted, { host: "h2", status: "green" }), { allowed: true });
  const red = migrationVerdict(trusted, { host: "h2", status: "red", message: "image-unknown: kernel" });
  t.false(red.allowed);
  t.regex(red.reason, /h2 is red at this Trust Authority cluster \(image-unknown: kernel\)/);
  t.like(migrationVerdict(trusted, { host: "h2", status: "stale" }), { allowed: false });
  t.regex(migrationVerdict(trusted, { host: "other", status: undefined }).reason, /not attested by this Trust Authority cluster/);
  const standard = {
    ...trusted,
    provider: {
      kind: "standard" as const,
      name: "kms",
      kmipServers: ["kms:5696"],
      keyId: "7",
      mode: "A256GCM" as const,
      clientCertificate: "c",
      clientKey: "k",
      serverCa: "a",
    },
  };
  const s = migrationVerdict(standard, { host: "anywhere" });
  t.true(s.allowed);
  t.regex(s.reason, /must reach kms:5696 with its own KMIP credentials/);
  t.true(migrationVerdict(undefined, { host: "x" }).allowed);
});
