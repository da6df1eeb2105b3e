/** imageFromEventLog's cache of PCR 7 variable events: the same image again, another for other content, copies, a bound. */
import test from "ava";
import { readdirSync, readFileSync } from "node:fs";
import { fixturePath, fixturesRoot } from "@tessera/fixtures";
import { appendEvent, EFI_GUID, encodeEfiSignatureList, encodeEfiVariableData, EV, newCryptoAgileLog } from "@tessera/eventlog";
import { TPM_ALG } from "@tessera/tpm2";
import { VARIABLES_CACHE } from "./_variable_facts.ts";
import { imageFromEventLog } from "./image_from_event_log.ts";

const opts = { name: "x", version: "1" };

test("every fixture log makes the same image on a second call, and a caller's change to one image does not reach the next", (t) => {
  const names = readdirSync(`${fixturesRoot()}/eventlogs`).filter((f) => f.endsWith(".bin"));
  const logs = names.map((n) => new Uint8Array(readFileSync(fixturePath("eventlogs", n))));
  const first = logs.map((l) => {
    try {
      return imageFromEventLog(l, opts);
    } catch {
      return undefined;
    }
  });
  t.true(first.filter((i) => (i?.secureBoot.dbx.length ?? 0) > 0).length >= 3, "logs with a dbx");
  for (const [i, l] of logs.entries()) {
    if (first[i] === undefined) continue;
    const again = imageFromEventLog(l, opts);
    t.deepEqual(again, first[i], names[i]);
    (again.secureBoot.dbx as string[]).push("changed by the caller"); // readonly in type, not at run time
    (again.secureBoot.db as string[]).length = 0;
    t.deepEqual(imageFromEventLog(l, opts), first[i], `${names[i]}: after a caller changed its copy`);
  }
});

function log(sha256s: Uint8Array[], secureBoot: number) {
  const l = newCryptoAgileLog([TPM_ALG.SHA256]);
  appendEvent(l, 7, EV.EFI_VARIABLE_DRIVER_CONFIG, encodeEfiVariableData(EFI_GUID.GLOBAL_VARIABLE, "SecureBoot", new Uint8Array([secureBoot])));
  appendEvent(l, 7, EV.EFI_VARIABLE_DRIVER_CONFIG, encodeEfiVariableData(EFI_GUID.IMAGE_SECURITY_DATABASE, "dbx", encodeEfiSignatureList("sha256", EFI_GUID.MICROSOFT, sha256s)));
  appendEvent(l, 7, EV.EFI_VARIABLE_AUTHORITY, encodeEfiVariableData(EFI_GUID.IMAGE_SECURITY_DATABASE, "db", new Uint8Array([...new Uint8Array(16), ...sha256s[0]])));
  return l;
}

test("other variable content makes another image, and at most 256 variable events are kept", (t) => {
  const d = (n: number) => new Uint8Array(32).fill(n);
  const a = imageFromEventLog(log([d(1), d(2)], 1), opts);
  t.true(a.secureBoot.enabled);
  t.deepEqual(a.secureBoot.dbx, ["01".repeat(32), "02".repeat(32)]);
  const b = imageFromEventLog(log([d(3)], 0), opts);
  t.false(b.secureBoot.enabled);
  t.deepEqual(b.secureBoot.dbx, ["03".repeat(32)]);
  t.deepEqual(imageFromEventLog(log([d(1), d(2)], 1), opts), a);
  for (let i = 0; i < 300; i++) t.deepEqual(imageFromEventLog(log([d(i & 0xff), d(i >> 8)], i & 1), opts).secureBoot.dbx, [d(i & 0xff), d(i >> 8)].map((x) => Buffer.from(x).toString("hex")));
  t.is(VARIABLES_CACHE.size, 256);
});
