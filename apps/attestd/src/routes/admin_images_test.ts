/**
 * Accepted images over a real SQLite store: from a real event log (imageFromEventLog), from a libs/boot
 * manifest (imageFromManifest), from an image model; listing, showing, removing; bad input → 400 naming the field.
 */
import { readFile } from "node:fs/promises";
import { defaultHostImage, makeTestSecureBootPki, type HostImage } from "@tessera/boot";
import { imageFromEventLog, imageFromManifest } from "@tessera/host-image";
import test from "ava";
import { adminHarness, EVENT_LOG, type AdminHarness } from "./admin_test_support.ts";

let h: AdminHarness;
let admin: string;
let manifest: HostImage;
let log: Buffer;

test.before(async () => {
  h = await adminHarness();
  admin = await h.adminToken();
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  log = await readFile(EVENT_LOG);
});

test.after.always(async () => {
  await h?.close();
});

test.serial("an image from a known-good host's event log is what imageFromEventLog makes of it", async (t) => {
  const r = await h.call("POST", "/api/v1/images", { name: "ubuntu", version: "21.04-1", eventLog: log.toString("base64") }, admin);
  t.is(r.status, 201, JSON.stringify(r.json));
  const expected = imageFromEventLog(new Uint8Array(log), { name: "ubuntu", version: "21.04-1" });
  t.deepEqual(r.json.image.model, JSON.parse(JSON.stringify(expected)));
  t.deepEqual((await h.store.getImage("ubuntu"))[0].image, expected);
  t.regex(r.json.image.summary, /boot application/);
  const audit = (await h.store.listAudit(1))[0];
  t.like(audit, { actor: "admin", action: "image.add", target: "ubuntu@21.04-1" });
  t.is(audit.details?.source, "eventLog");
});

test.serial("with firmware: true the log's PCRs 0-6 are recorded under the hardware model", async (t) => {
  const r = await h.call(
    "POST",
    "/api/v1/images",
    { name: "ubuntu", version: "21.04-fw", eventLog: log.toString("base64"), firmware: true, firmwareModel: "gce-n2" },
    admin,
  );
  t.is(r.status, 201, JSON.stringify(r.json));
  t.is(r.json.image.model.firmware[0].model, "gce-n2");
  t.truthy(r.json.image.model.firmware[0].pcrs.sha256["0"]);
  const noLog = await h.call("POST", "/api/v1/images", { name: "m", version: "1", manifest, firmware: true }, admin);
  t.is(noLog.status, 400);
  t.is(noLog.json.field, "firmware");
});

test.serial("an image from a libs/boot manifest is what imageFromManifest makes of it", async (t) => {
  const r = await h.call("POST", "/api/v1/images", { name: "tessera-host", version: "1", manifest }, admin);
  t.is(r.status, 201, JSON.stringify(r.json));
  t.deepEqual(r.json.image.model, JSON.parse(JSON.stringify(imageFromManifest(manifest, { name: "tessera-host", version: "1" }))));
  t.regex(r.json.image.summary, /Secure Boot on/);
});

test.serial("an image model itself is validated and stored under the request's name and version", async (t) => {
  const model = imageFromManifest(manifest, { name: "ignored", version: "ignored" });
  const r = await h.call("POST", "/api/v1/images", { name: "tessera-host", version: "2", image: model }, admin);
  t.is(r.status, 201, JSON.stringify(r.json));
  t.is(r.json.image.model.name, "tessera-host");
  t.is(r.json.image.model.version, "2");
});

test.serial("list, show every version, remove one version, then the whole image", async (t) => {
  const list = await h.call("GET", "/api/v1/images", undefined, admin);
  t.deepEqual(list.json.images.map((i: { name: string; version: string }) => `${i.name}@${i.version}`).sort(), [
    "tessera-host@1",
    "tessera-host@2",
    "ubuntu@21.04-1",
    "ubuntu@21.04-fw",
  ]);
  const show = await h.call("GET", "/api/v1/images/tessera-host", undefined, admin);
  t.deepEqual(
    show.json.versions.map((v: { version: string }) => v.version),
    ["1", "2"],
  );
  const one = await h.call("DELETE", "/api/v1/images/tessera-host?version=1", undefined, admin);
  t.is(one.status, 200);
  t.is(one.json.removed, 1);
  t.deepEqual(
    (await h.store.getImage("tessera-host")).map((i) => i.version),
    ["2"],
  );
  const all = await h.call("DELETE", "/api/v1/images/ubuntu", undefined, admin);
  t.is(all.json.removed, 2);
  t.is((await h.call("GET", "/api/v1/images/ubuntu", undefined, admin)).status, 404);
  t.is((await h.call("DELETE", "/api/v1/images/ubuntu", undefined, admin)).status, 404);
});

test.serial("a version that exists is refused with 409 (a new kernel is a new version)", async (t) => {
  const r = await h.call("POST", "/api/v1/images", { name: "tessera-host", version: "2", manifest }, admin);
  t.is(r.status, 409);
  t.is(r.json.type, "urn:tessera:problem:image-exists");
});

test.serial("bad input is a 400 naming the field, and stores nothing", async (t) => {
  const before = (await h.store.listImages()).length;
  const cases: [unknown, RegExp][] = [
    [{ name: "x", version: "1", eventLog: "not base64!" }, /eventLog/],
    [{ name: "x", version: "1", eventLog: Buffer.from("garbage, not a TCG event log at all").toString("base64") }, /eventLog/],
    [{ name: "x", version: "1", manifest: { ...manifest, initrdSha256: "zz" } }, /manifest\.initrdSha256/],
    [{ name: "x", version: "1", manifest: { ...manifest, bootChain: [] } }, /manifest\.bootChain/],
    [
      { name: "x", version: "1", image: { bootChain: [], secureBoot: { enabled: true, pk: [], kek: [], db: ["nothex"], dbx: [] } } },
      /image\.secureBoot\.db\[0\]/,
    ],
    [{ name: "x", version: "1" }, /eventLog/],
    [{ name: "x", version: "1", eventLog: log.toString("base64"), manifest }, /only one/],
    [{ name: "bad name!", version: "1", manifest }, /name/],
    [{ name: "x", version: "", manifest }, /version/],
    [{ name: "x", version: "1", manifest, extra: 1 }, /extra/],
  ];
  for (const [body, field] of cases) {
    const r = await h.call("POST", "/api/v1/images", body, admin);
    t.is(r.status, 400, JSON.stringify(body).slice(0, 80));
    t.is(r.json.type, "urn:tessera:problem:bad-request");
    t.regex(r.json.detail, field, r.json.detail);
  }
  t.is((await h.store.listImages()).length, before);
});
