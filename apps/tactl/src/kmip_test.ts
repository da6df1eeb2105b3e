/**
 * tactl kmip against kmipd, started as its own process on the embedded defaults (generated TLS material).
 * `encrypt` writes the envelope (@tessera/vtpm, the data key wrapped by the KMIP server); `decrypt` reads it and,
 * still, the older TKE1 files (made here byte for byte as the code before the envelope wrote them).
 */
import test from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { KmipClient } from "@tessera/kmip-client";
import { issueCertificate } from "@tessera/pki";
import { isEnvelope, readEnvelopeHeader } from "@tessera/vtpm";
import { tactl } from "./_test_support.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
let proc: ChildProcess;
let dir: string;
let conn: string[];
let port: number;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-kmip-"));
  proc = spawn(process.execPath, [path.join(ROOT, "apps/kmipd/src/main.ts"), "--listen", "127.0.0.1:0", "--data-dir", path.join(dir, "data")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`kmipd did not start: ${out}`)), 20_000);
    proc.stderr!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /kmipd: listening on [^\s]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.once("exit", (code) => reject(new Error(`kmipd exited ${code}: ${out}`)));
  });
  const tls = path.join(dir, "data", "tls");
  conn = ["--server", `127.0.0.1:${port}`, "--cert", path.join(tls, "client.pem"), "--key", path.join(tls, "client-key.pem"), "--ca", path.join(tls, "ca.pem")];
});

test.after.always(async () => {
  proc?.kill("SIGTERM");
  if (dir) await rm(dir, { recursive: true, force: true });
});

for (const version of ["1.4", "2.1"]) {
  test.serial(`the whole key lifecycle through tactl kmip (KMIP ${version})`, async (t) => {
    const V = ["--kmip-version", version];
    const d = await tactl("kmip", "discover", ...conn, ...V, "--json");
    t.is(d.code, 0, d.err);
    t.true(JSON.parse(d.out).includes(version));
    const q = await tactl("kmip", "query", ...conn, ...V, "--json");
    t.true(JSON.parse(q.out).operations.includes("Encrypt"));
    const name = `tactl-${version}`;
    const c = await tactl("kmip", "create", ...conn, ...V, "--alg", "AES", "--length", "256", "--name", name, "--json");
    t.is(c.code, 0, c.err);
    const id = JSON.parse(c.out).id as string;
    const loc = await tactl("kmip", "locate", ...conn, ...V, "--name", name, "--json");
    t.deepEqual(JSON.parse(loc.out), [id]);
    const a = await tactl("kmip", "get-attributes", id, ...conn, ...V, "--json");
    t.is(a.code, 0, a.err);
    const attrs = JSON.parse(a.out);
    t.is(attrs["State"] ?? attrs["state"], "PreActive");
    // Encrypting with a Pre-Active key is refused by the server (exit 4, the reason named).
    await writeFile(path.join(dir, "plain.txt"), "attested hosts only");
    const early = await tactl("kmip", "encrypt", id, ...conn, ...V, "--in", path.join(dir, "plain.txt"), "--out", path.join(dir, "x.bin"));
    t.is(early.code, 4);
    // 2.x names the lifecycle problem; 1.x has no such reason and says PermissionDenied.
    t.regex(early.err, version === "2.1" ? /WrongKeyLifecycleState/ : /PermissionDenied/);
    // Refused for another reason than its mode: no hint about AES-GCM.
    t.notRegex(early.err, /AES-GCM|--mode/);
    t.is((await tactl("kmip", "activate", id, ...conn, ...V)).code, 0);
    for (const mode of ["GCM", "CBC"]) {
      const e = await tactl(
        "kmip",
        "encrypt",
        id,
        ...conn,
        ...V,
        "--mode",
        mode,
        "--in",
        path.join(dir, "plain.txt"),
        "--out",
        path.join(dir, `c-${mode}.bin`),
      );
      t.is(e.code, 0, e.err);
      const file = new Uint8Array(await readFile(path.join(dir, `c-${mode}.bin`)));
      t.true(isEnvelope(file), "an envelope, not TKE1");
      const h = readEnvelopeHeader(file);
      t.like(h, { provider: { name: "kmip", kind: "standard" }, key: { id, version: 1 }, contentLength: "attested hosts only".length });
      t.is(Buffer.from(h.wrappedDataKey.subarray(0, 4)).toString(), "TKE1", "the wrapped data key keeps the TKE1 layout");
      t.is(Buffer.from(h.wrappedDataKey.subarray(5, 5 + mode.length)).toString(), mode);
      t.false(Buffer.from(file).includes(Buffer.from("attested hosts only")));
      const dd = await tactl("kmip", "decrypt", id, ...conn, ...V, "--in", path.join(dir, `c-${mode}.bin`), "--out", path.join(dir, `p-${mode}.txt`));
      t.is(dd.code, 0, dd.err);
      t.is(await readFile(path.join(dir, `p-${mode}.txt`), "utf8"), "attested hosts only");
      t.is((await stat(path.join(dir, `p-${mode}.txt`))).mode & 0o777, 0o600);
    }
    const g = await tactl("kmip", "get", id, ...conn, ...V, "--json");
    t.is(JSON.parse(g.out).material.length, 64);
    await writeFile(path.join(dir, "raw.key"), Buffer.alloc(16, 7));
    const r = await tactl("kmip", "register", ...conn, ...V, "--in", path.join(dir, "raw.key"), "--name", `${name}-reg`, "--json");
    t.is(r.code, 0, r.err);
    const gr = await tactl("kmip", "get", JSON.parse(r.out).id, ...conn, ...V, "--json");
    t.is(JSON.parse(gr.out).material, "07".repeat(16));
    t.is((await tactl("kmip", "revoke", id, ...conn, ...V)).code, 0);
    t.is((await tactl("kmip", "destroy", id, ...conn, ...V)).code, 0);
    const gone = await tactl("kmip", "get", id, ...conn, ...V);
    t.is(gone.code, 4);
  });
}

test.serial("a server that is not there is a transport error (exit 3)", async (t) => {
  const bad = conn.slice();
  bad[1] = "127.0.0.1:1";
  const r = await tactl("kmip", "discover", ...bad);
  t.is(r.code, 3);
  t.regex(r.err, /no KMIP server answered/);
});

test.serial("a --key, --cert or --ca file that is not a key or certificate is bad input (exit 2) naming the file", async (t) => {
  const notPem = path.join(dir, "not-a-key.txt");
  await writeFile(notPem, "this is not a PEM file\n");
  const at = (flag: string) => conn.indexOf(flag) + 1;
  for (const flag of ["--key", "--cert", "--ca"]) {
    const bad = conn.slice();
    bad[at(flag)] = notPem;
    const r = await tactl("kmip", "discover", ...bad);
    t.is(r.code, 2, `${flag}: ${r.err}`);
    t.true(r.err.includes(`${flag} ${notPem}`), `${flag}: ${r.err}`);
  }
  // A real key that is not the certificate's: also bad input, naming both files.
  const other = path.join(dir, "other-key.pem");
  await writeFile(other, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }));
  const mismatch = conn.slice();
  mismatch[at("--key")] = other;
  const m = await tactl("kmip", "discover", ...mismatch);
  t.is(m.code, 2, m.err);
  t.regex(m.err, /does not match/);
  t.true(m.err.includes(other));
});

test.serial("--aad that is not hex is bad input (exit 2), for encrypt and decrypt", async (t) => {
  const plain = path.join(dir, "aad-plain.txt");
  await writeFile(plain, "x");
  for (const op of ["encrypt", "decrypt"]) {
    for (const aad of ["zz", "abc", "0x00"]) {
      const r = await tactl("kmip", op, "some-id", ...conn, "--in", plain, "--out", path.join(dir, "aad-out"), "--aad", aad);
      t.is(r.code, 2, `${op} --aad ${aad}: ${r.err}`);
      t.true(r.err.includes(`--aad: "${aad}" is not hex`), r.err);
    }
  }
});

for (const version of ["1.4", "2.1"]) {
  test.serial(`tactl kmip grant / ungrant share a key with another client and take it back (KMIP ${version})`, async (t) => {
    const V = ["--kmip-version", version];
    const tls = path.join(dir, "data", "tls");
    // A second client, "bob", from kmipd's CA.
    const bob = await issueCertificate(
      { certificatePem: await readFile(path.join(tls, "ca.pem"), "utf8"), privateKeyPem: await readFile(path.join(tls, "ca-key.pem"), "utf8") },
      { commonName: `bob-${version}`, profile: "client" },
    );
    await writeFile(path.join(dir, `bob-${version}.pem`), bob.certificatePem);
    await writeFile(path.join(dir, `bob-${version}-key.pem`), bob.privateKeyPem!, { mode: 0o600 });
    const asBob = conn.slice();
    asBob[asBob.indexOf("--cert") + 1] = path.join(dir, `bob-${version}.pem`);
    asBob[asBob.indexOf("--key") + 1] = path.join(dir, `bob-${version}-key.pem`);

    const c = await tactl("kmip", "create", ...conn, ...V, "--alg", "AES", "--length", "128", "--json");
    const id = JSON.parse(c.out).id as string;
    t.is((await tactl("kmip", "get", id, ...asBob, ...V)).code, 4, "bob cannot get alice's key");
    const g = await tactl("kmip", "grant", id, "--to", `CN=bob-${version}`, ...conn, ...V);
    t.is(g.code, 0, g.err);
    const got = await tactl("kmip", "get", id, ...asBob, ...V, "--json");
    t.is(got.code, 0, got.err);
    t.is(JSON.parse(got.out).material.length, 32);
    const destroy = await tactl("kmip", "destroy", id, ...asBob, ...V);
    t.is(destroy.code, 4);
    t.regex(destroy.err, /PermissionDenied/);
    const u = await tactl("kmip", "ungrant", id, "--to", `CN=bob-${version}`, ...conn, ...V);
    t.is(u.code, 0, u.err);
    t.is((await tactl("kmip", "get", id, ...asBob, ...V)).code, 4, "not after ungrant");
    const again = await tactl("kmip", "ungrant", id, "--to", `CN=bob-${version}`, ...conn, ...V);
    t.is(again.code, 4, "ungranting twice names the missing grant");
  });
}

/** A client of this kmipd as tactl's --cert/--key/--ca give it, for what tactl itself no longer does. */
async function client(): Promise<KmipClient> {
  const tls = path.join(dir, "data", "tls");
  return new KmipClient({
    servers: [{ host: "127.0.0.1", port }],
    tls: {
      cert: await readFile(path.join(tls, "client.pem"), "utf8"),
      key: await readFile(path.join(tls, "client-key.pem"), "utf8"),
      ca: await readFile(path.join(tls, "ca.pem"), "utf8"),
    },
    poolSize: 1,
  });
}

/** An active AES-256 key made through tactl. */
async function activeKey(): Promise<string> {
  const c = await tactl("kmip", "create", ...conn, "--json");
  const id = JSON.parse(c.out).id as string;
  if ((await tactl("kmip", "activate", id, ...conn)).code !== 0) throw new Error("activate failed");
  return id;
}

test.serial("an older TKE1 file (the server encrypted the whole file) still decrypts: GCM with --aad, and CBC", async (t) => {
  const id = await activeKey();
  const plain = new TextEncoder().encode("written before the envelope");
  const aad = new Uint8Array([0xa5, 0x01]);
  const c = await client();
  try {
    for (const [mode, withAad] of [
      ["GCM", true],
      ["CBC", false],
    ] as const) {
      const r = await c.encrypt(id, plain, { mode, aad: withAad ? aad : undefined });
      // The TKE1 layout of the code before the envelope: "TKE1", mode, IV and tag each size-prefixed, the ciphertext.
      const m = Buffer.from(mode);
      const iv = r.iv ?? new Uint8Array();
      const tag = r.tag ?? new Uint8Array();
      const old = Buffer.concat([Buffer.from("TKE1"), Buffer.from([m.length]), m, Buffer.from([iv.length]), iv, Buffer.from([tag.length]), tag, r.data]);
      const f = path.join(dir, `old-${mode}.tke1`);
      await writeFile(f, old);
      const aadArgs = withAad ? ["--aad", Buffer.from(aad).toString("hex")] : [];
      const d = await tactl("kmip", "decrypt", id, ...conn, ...aadArgs, "--in", f, "--out", path.join(dir, `old-${mode}.txt`));
      t.is(d.code, 0, d.err);
      t.is(await readFile(path.join(dir, `old-${mode}.txt`), "utf8"), "written before the envelope");
      if (withAad) {
        // The AAD still binds an old file: without it the server refuses (exit 4).
        t.is((await tactl("kmip", "decrypt", id, ...conn, "--in", f, "--out", path.join(dir, "old-noaad.txt"))).code, 4);
      }
    }
  } finally {
    c.close();
  }
});

test.serial("--aad binds the envelope's data key: decrypt needs the same AAD", async (t) => {
  const id = await activeKey();
  const inFile = path.join(dir, "aad-env.txt");
  await writeFile(inFile, "bound to its AAD");
  const enc = path.join(dir, "aad-env.bin");
  t.is((await tactl("kmip", "encrypt", id, ...conn, "--aad", "c0ffee", "--in", inFile, "--out", enc)).code, 0);
  const ok = await tactl("kmip", "decrypt", id, ...conn, "--aad", "c0ffee", "--in", enc, "--out", path.join(dir, "aad-env.out"));
  t.is(ok.code, 0, ok.err);
  t.is(await readFile(path.join(dir, "aad-env.out"), "utf8"), "bound to its AAD");
  const other = await tactl("kmip", "decrypt", id, ...conn, "--aad", "c0ffef", "--in", enc, "--out", path.join(dir, "aad-env2.out"));
  t.is(other.code, 4, other.err);
});

test.serial("a tampered, cut or foreign envelope is refused as bad input (exit 2) naming the file, and nothing is written", async (t) => {
  const id = await activeKey();
  const inFile = path.join(dir, "tamper.txt");
  await writeFile(inFile, "do not change me");
  const enc = path.join(dir, "tamper.bin");
  t.is((await tactl("kmip", "encrypt", id, ...conn, "--in", inFile, "--out", enc)).code, 0);
  const good = new Uint8Array(await readFile(enc));
  const cases: [string, Uint8Array, RegExp][] = [];
  const lastByte = new Uint8Array(good);
  lastByte[lastByte.length - 1]! ^= 1;
  cases.push(["the content's tag changed", lastByte, /envelope content .*fails authentication/]);
  const contentByte = new Uint8Array(good);
  contentByte[contentByte.length - 20]! ^= 0x80;
  cases.push(["a content byte changed", contentByte, /envelope content .*fails authentication/]);
  const versionByte = new Uint8Array(good);
  versionByte[5] = 9;
  cases.push(["an unknown version", versionByte, /version 9 is unknown/]);
  cases.push(["cut short", good.subarray(0, 40), /envelope .*byte/]);
  const otherKey = new Uint8Array(good);
  // The key id is the header's; another id of the same length: refused before the server is asked.
  const at = Buffer.from(good).indexOf(Buffer.from(id));
  otherKey[at]! = otherKey[at] === 0x30 ? 0x31 : 0x30;
  cases.push(["the key id changed", otherKey, /was encrypted with KMIP key .*, not /]);
  cases.push(["not a tactl file at all", new TextEncoder().encode("plain text"), /is not a tactl kmip encrypt output/]);
  for (const [what, bytes, message] of cases) {
    const f = path.join(dir, "tampered.bin");
    const outFile = path.join(dir, "tampered.out");
    await writeFile(f, bytes);
    await rm(outFile, { force: true });
    const r = await tactl("kmip", "decrypt", id, ...conn, "--in", f, "--out", outFile);
    t.is(r.code, 2, `${what}: ${r.err}`);
    t.regex(r.err, message, what);
    t.true(r.err.includes(f), `${what}: names the file: ${r.err}`);
    await t.throwsAsync(stat(outFile), { code: "ENOENT" }, `${what}: no output`);
  }
  // Decrypting with another key: the header names the key it needs.
  const other = await activeKey();
  const wrong = await tactl("kmip", "decrypt", other, ...conn, "--in", enc, "--out", path.join(dir, "wrong.out"));
  t.is(wrong.code, 2, wrong.err);
  t.true(wrong.err.includes(`was encrypted with KMIP key ${id}, not ${other}`), wrong.err);
});
