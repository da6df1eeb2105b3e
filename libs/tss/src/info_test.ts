/**
 * tpmInfo against swtpm, cross-checked with `tpm2_getcap properties-fixed`; and GetCapability's paging.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { TPM_CAP, TPM_CC, TPM_PT } from "@tessera/tpm2";
import { tpmInfo } from "./info.ts";
import { Tpm } from "./tpm.ts";
import type { Transport } from "./transport.ts";
import { swtpmForTests } from "./_test_support.ts";

/** TPM2_PT_* name → raw value, from tpm2_getcap properties-fixed. */
let getcap: Map<string, number>;
let sent: number[] = [];

const sim = swtpmForTests({
  open: (sw) => {
    // tpm2-tools first: swtpm serves one connection at a time.
    const r = spawnSync("tpm2_getcap", ["-T", sw.tcti, "properties-fixed"], { encoding: "utf8", timeout: 15_000 });
    if (r.error) throw new Error(`tpm2_getcap: ${r.error.message} (is tpm2-tools installed?)`);
    if (r.status !== 0) throw new Error(`tpm2_getcap failed:\n${r.stderr}`);
    getcap = new Map();
    for (const m of r.stdout.matchAll(/^(TPM2_PT_\w+):\n\s+raw: (0x[0-9a-f]+|\d+)$/gim)) getcap.set(m[1], Number(m[2]));
    const inner = Tpm.open(sw.tcti).transport;
    const counting: Transport = {
      description: inner.description,
      send(command) {
        sent.push(new DataView(command.buffer, command.byteOffset).getUint32(6));
        return inner.send(command);
      },
      close: () => inner.close(),
    };
    return new Tpm(counting);
  },
});

function raw(name: string): number {
  const v = getcap.get(name);
  if (v === undefined) throw new Error(`tpm2_getcap did not print ${name}`);
  return v;
}

function ascii(v: number): string {
  return [24, 16, 8, 0]
    .map((s) => (v >>> s) & 0xff)
    .filter((c) => c >= 0x20 && c < 0x7f)
    .map((c) => String.fromCharCode(c))
    .join("");
}

test.serial("tpmInfo: IBM swtpm, sha256 bank with 24 PCRs, sane limits", async (t) => {
  const info = await tpmInfo(sim.tpm);
  t.is(info.manufacturer, "IBM");
  t.is(info.manufacturerId, "0x49424d00");
  t.is(info.spec.family, "2.0");
  t.true(info.spec.revision >= 1.16, `revision ${info.spec.revision}`);
  t.true(info.spec.year >= 2014, `year ${info.spec.year}`);
  const sha256 = info.banks.find((b) => b.bank === "sha256");
  t.deepEqual(
    sha256?.pcrs,
    Array.from({ length: 24 }, (_, i) => i),
  );
  t.is(info.limits.pcrCount, 24);
  t.true(info.limits.nvBufferMax > 0);
  t.is(info.limits.nvBufferMax, 1024);
  t.true(info.limits.maxCommandSize >= 1024);
  t.true(info.limits.maxResponseSize >= 1024);
  t.true(info.limits.inputBuffer > 0);
  t.regex(info.firmwareVersion, /^\d+\.\d+\.\d+\.\d+$/);
});

test.serial("tpmInfo agrees with tpm2_getcap properties-fixed", async (t) => {
  const info = await tpmInfo(sim.tpm);
  t.is(info.manufacturerId, `0x${raw("TPM2_PT_MANUFACTURER").toString(16).padStart(8, "0")}`);
  t.is(info.manufacturer, ascii(raw("TPM2_PT_MANUFACTURER")).trim());
  const fw1 = raw("TPM2_PT_FIRMWARE_VERSION_1");
  const fw2 = raw("TPM2_PT_FIRMWARE_VERSION_2");
  t.is(info.firmwareVersion, `${fw1 >>> 16}.${fw1 & 0xffff}.${fw2 >>> 16}.${fw2 & 0xffff}`);
  t.is(
    info.vendorString,
    ["1", "2", "3", "4"]
      .map((n) => ascii(raw(`TPM2_PT_VENDOR_STRING_${n}`)))
      .join("")
      .trim(),
  );
  t.is(info.spec.family, ascii(raw("TPM2_PT_FAMILY_INDICATOR")));
  t.is(info.spec.level, raw("TPM2_PT_LEVEL"));
  t.is(info.spec.revision, raw("TPM2_PT_REVISION") / 100);
  t.is(info.spec.year, raw("TPM2_PT_YEAR"));
  t.is(info.spec.dayOfYear, raw("TPM2_PT_DAY_OF_YEAR"));
  t.is(info.limits.nvBufferMax, raw("TPM2_PT_NV_BUFFER_MAX"));
  t.is(info.limits.inputBuffer, raw("TPM2_PT_INPUT_BUFFER"));
  t.is(info.limits.maxCommandSize, raw("TPM2_PT_MAX_COMMAND_SIZE"));
  t.is(info.limits.maxResponseSize, raw("TPM2_PT_MAX_RESPONSE_SIZE"));
  t.is(info.limits.pcrCount, raw("TPM2_PT_PCR_COUNT"));
});

test.serial("properties() returns the fixed properties tpm2_getcap printed, with the same values", async (t) => {
  t.true(getcap.size >= 40, `only ${getcap.size} properties parsed from tpm2_getcap`);
  const props = await sim.tpm.properties(TPM_PT.FAMILY_INDICATOR, 127);
  let compared = 0;
  for (const [name, value] of getcap) {
    const key = name.replace(/^TPM2_PT_/, "") as keyof typeof TPM_PT;
    const id = TPM_PT[key];
    if (id === undefined) continue;
    t.is(props.get(id), value, name);
    compared++;
  }
  t.true(compared >= 40, `only ${compared} properties compared`);
});

test.serial("getCapability/properties stop after `count` items: one property is one round trip", async (t) => {
  sent = [];
  const parts = await sim.tpm.getCapability(TPM_CAP.TPM_PROPERTIES, TPM_PT.NV_BUFFER_MAX, 1);
  const items = parts.flatMap((p) => p.data as { property: number; value: number }[]);
  t.deepEqual(
    items.map((p) => p.property),
    [TPM_PT.NV_BUFFER_MAX],
    "asked for 1 property",
  );
  t.is(sent.filter((c) => c === TPM_CC.GetCapability).length, 1, "GetCapability round trips for 1 property");
  sent = [];
  const one = await sim.tpm.properties(TPM_PT.MANUFACTURER, 1);
  t.deepEqual([...one.keys()], [TPM_PT.MANUFACTURER]);
  t.is(sent.length, 1);
});
