/**
 * Interop: tactl kmip (and through it libs/kmip-client) against Debian's PyKMIP server.
 */
import test from "ava";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type PykmipServer, startPykmipServer } from "@tessera/pykmip-testing";
import { isEnvelope, readEnvelopeHeader } from "@tessera/vtpm";
import { tactl } from "./_test_support.ts";

let py: PykmipServer;
let dir: string;
let conn: string[];

test.before(async () => {
  py = await startPykmipServer({ loggingLevel: "ERROR" });
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-pykmip-"));
  const a = py.pki.clients.alice;
  conn = ["--server", `127.0.0.1:${py.port}`, "--cert", a.certPath, "--key", a.keyPath, "--ca", py.pki.ca.certPath];
});

test.after.always(async () => {
  await py?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

for (const version of ["1.2", "1.4"]) {
  test.serial(`tactl kmip against the PyKMIP server (KMIP ${version})`, async (t) => {
    const V = ["--kmip-version", version, "--json"];
    const d = await tactl("kmip", "discover", ...conn, ...V);
    t.is(d.code, 0, d.err);
    t.true(JSON.parse(d.out).includes(version));
    const q = await tactl("kmip", "query", ...conn, ...V);
    t.is(q.code, 0, q.err);
    t.true(JSON.parse(q.out).operations.includes("Create"));
    const name = `tactl-on-pykmip-${version}`;
    const c = await tactl("kmip", "create", ...conn, ...V, "--alg", "AES", "--length", "256", "--name", name);
    t.is(c.code, 0, c.err);
    const id = JSON.parse(c.out).id as string;
    const l = await tactl("kmip", "locate", ...conn, ...V, "--name", name);
    t.deepEqual(JSON.parse(l.out), [id]);
    const a = await tactl("kmip", "get-attributes", id, ...conn, ...V);
    t.is(a.code, 0, a.err);
    t.is(JSON.parse(a.out)["Cryptographic Algorithm"], "AES");
    t.is((await tactl("kmip", "activate", id, ...conn, ...V)).code, 0);
    const g = await tactl("kmip", "get", id, ...conn, ...V);
    t.is(JSON.parse(g.out).material.length, 64);
    await writeFile(path.join(dir, "plain"), "keys for attested hosts");
    // AES-GCM (tactl's default) and AES-CBC both round-trip through PyKMIP's server; GCM only from KMIP 1.4 on,
    // the first version with fields for its tag and AAD (before, a server encrypts and drops the tag).
    if (version === "1.2") {
      const gcm = await tactl("kmip", "encrypt", id, ...conn, ...V, "--in", path.join(dir, "plain"), "--out", path.join(dir, "c.bin"));
      t.not(gcm.code, 0);
      t.regex(gcm.err, /AES-GCM and its AAD and tag need KMIP 1\.4 or later/);
    }
    for (const mode of version === "1.2" ? [["--mode", "CBC"]] : [[], ["--mode", "CBC"]]) {
      const e = await tactl("kmip", "encrypt", id, ...conn, ...V, ...mode, "--in", path.join(dir, "plain"), "--out", path.join(dir, "c.bin"));
      t.is(e.code, 0, e.err);
      // The envelope, its data key as PyKMIP encrypted it (TKE1 layout: the mode after the magic and its size).
      const file = new Uint8Array(await readFile(path.join(dir, "c.bin")));
      t.true(isEnvelope(file));
      const h = readEnvelopeHeader(file);
      t.like(h, { provider: { name: "kmip", kind: "standard" }, key: { id } });
      t.is(Buffer.from(h.wrappedDataKey.subarray(5, 8)).toString(), mode.length ? "CBC" : "GCM");
      const dd = await tactl("kmip", "decrypt", id, ...conn, ...V, "--in", path.join(dir, "c.bin"), "--out", path.join(dir, "p"));
      t.is(dd.code, 0, dd.err);
      t.is(await readFile(path.join(dir, "p"), "utf8"), "keys for attested hosts");
    }
    await writeFile(path.join(dir, "raw.key"), Buffer.alloc(32, 9));
    const r = await tactl("kmip", "register", ...conn, ...V, "--in", path.join(dir, "raw.key"));
    t.is(r.code, 0, r.err);
    const gr = await tactl("kmip", "get", JSON.parse(r.out).id, ...conn, ...V);
    t.is(JSON.parse(gr.out).material, "09".repeat(32));
    t.is((await tactl("kmip", "revoke", id, ...conn, ...V)).code, 0);
    t.is((await tactl("kmip", "destroy", id, ...conn, ...V)).code, 0);
    const gone = await tactl("kmip", "get", id, ...conn, ...V);
    t.is(gone.code, 4, "Get after Destroy is refused by the server");
  });
}
