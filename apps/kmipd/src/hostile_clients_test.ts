import test from "ava";
import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { connect as tcpConnect, type Socket } from "node:net";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { encodeTtlv, item } from "@tessera/kmip";
import type { ClientTls } from "@tessera/kmip-client";
import { rawRequest, rejectsWith, startTestKmipd, tempDir, type TestKmipd, V1_4, waitFor } from "./_test_support.ts";

/** A client certificate from kmipd's CA for the OpenSSL `-subj` subject (RDNs in DER order, `/`-separated). */
async function opensslClient(k: TestKmipd, subj: string): Promise<ClientTls> {
  const dir = await tempDir("kmipd-openssl-");
  try {
    await writeFile(path.join(dir, "ca.pem"), k.caPem);
    await writeFile(path.join(dir, "ca-key.pem"), k.caKeyPem);
    await writeFile(path.join(dir, "ext.cnf"), "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n");
    const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem", "-subj", subj, "-out", "req.csr");
    run(
      "x509",
      "-req",
      "-in",
      "req.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca-key.pem",
      "-set_serial",
      String(Date.now()),
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
      "-out",
      "cert.pem",
    );
    return { cert: await readFile(path.join(dir, "cert.pem"), "utf8"), key: await readFile(path.join(dir, "key.pem"), "utf8"), ca: k.caPem };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Resolves when `s` is closed (the tests close none of theirs first: the server did). */
function closed(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) resolve();
    s.once("close", () => resolve());
    s.on("error", () => undefined);
  });
}

/** A valid client still served: alice creates and gets a key. */
async function stillServes(k: TestKmipd): Promise<void> {
  const c = k.client(V1_4);
  const id = await c.create({ algorithm: "AES", length: 128 });
  const got = await c.get(id);
  if (got.material?.length !== 16) throw new Error("alice's Get did not return her key");
}

test("a certificate whose single CN is `bob,O=Example` is not the owner CN=bob,O=Example", async (t) => {
  const k = await startTestKmipd();
  try {
    const forged = await opensslClient(k, "/CN=bob,O=Example");
    const bob = await opensslClient(k, "/CN=bob/O=Example");
    const bobClient = k.client(V1_4, bob);
    const forgedClient = k.client(V1_4, forged);
    const id = await bobClient.create({ algorithm: "AES", length: 256, name: "bob's key" });
    await rejectsWith(t, forgedClient.get(id), "ItemNotFound", "the forged certificate cannot Get bob's key");
    t.deepEqual(await forgedClient.locate({ name: "bob's key" }), [], "nor Locate it");
    const forgedOwn = await forgedClient.create({ algorithm: "AES", length: 128 });
    await rejectsWith(t, bobClient.get(forgedOwn), "ItemNotFound", "and bob cannot Get the forged certificate's key");
    const identities = new Set(k.audit.map((a) => a.identity));
    t.true(identities.has("O=Example,CN=bob"), [...identities].join(" | "));
    t.true(identities.has("CN=bob\\,O\\=Example"), [...identities].join(" | "));
  } finally {
    await k.close();
  }
});

test("upgrade: a SQLite store written with format 1 owners is migrated at start; bob keeps his key, the forged certificate does not get it", async (t) => {
  const dataDir = await tempDir();
  let k = await startTestKmipd({ dataDir });
  let id: string;
  let bob: ClientTls;
  let forged: ClientTls;
  try {
    // DER order O, then CN: kmipd 0.1 named this subject "O=Example,CN=bob".
    bob = await opensslClient(k, "/O=Example/CN=bob");
    // A single O holding `Example,CN=bob`: kmipd 0.1 named it "O=Example,CN=bob" as well.
    forged = await opensslClient(k, "/O=Example,CN=bob");
    id = await k.client(V1_4, bob).create({ algorithm: "AES", length: 256 });
  } finally {
    await k.close();
  }
  // Back to what kmipd 0.1 wrote: its owner string, no format recorded.
  const db = new DatabaseSync(path.join(dataDir, "kmipd.sqlite"));
  db.prepare("UPDATE objects SET owner = ? WHERE id = ?").run("O=Example,CN=bob", id);
  db.exec("PRAGMA user_version = 0");
  db.close();
  k = await startTestKmipd({ dataDir });
  try {
    t.true(k.logs.some((l) => l.msg.startsWith("stored owner and grant names rewritten") && l.fields.objects === 1));
    t.is((await k.client(V1_4, bob).get(id)).material?.length, 32, "bob gets his key after the upgrade");
    await rejectsWith(t, k.client(V1_4, forged).get(id), "ItemNotFound", "the forged certificate does not");
  } finally {
    await k.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test("deadlines: a silent TCP connection, a byte-a-while TLS handshake and a byte-a-while request are closed by the server", async (t) => {
  const k = await startTestKmipd({ args: ["--handshake-timeout", "1000", "--request-timeout", "2000"] });
  const timers: NodeJS.Timeout[] = [];
  try {
    const silent = tcpConnect(k.port, k.host);
    const silentClosed = closed(silent);

    // A TLS record header, then one byte every 200 ms of a ClientHello that never ends.
    const slowHello = tcpConnect(k.port, k.host);
    const helloClosed = closed(slowHello);
    slowHello.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    timers.push(setInterval(() => slowHello.destroyed || slowHello.write(Buffer.from([0])), 200));

    // Authenticated, then a valid request one byte every 200 ms.
    const loris: TLSSocket = tlsConnect({ host: k.host, port: k.port, cert: k.alice.cert, key: k.alice.key, ca: k.caPem, servername: "localhost" });
    const lorisClosed = closed(loris);
    await new Promise<void>((resolve, reject) => {
      loris.once("secureConnect", resolve);
      loris.once("error", reject);
    });
    const request = encodeTtlv(rawRequest(V1_4, [{ operation: "Query", payload: [item("QueryFunction", "QueryOperations")] }]));
    let sent = 0;
    timers.push(setInterval(() => loris.destroyed || sent >= request.length || loris.write(request.subarray(sent, ++sent)), 200));

    await stillServes(k);
    await Promise.all([silentClosed, helloClosed, lorisClosed]);
    t.true(sent < request.length, `the slow request was cut off (${sent} of ${request.length} bytes sent)`);
    t.true(
      k.logs.some((l) => l.msg.startsWith("request not received in time") && l.fields.identity === "CN=kmipd-admin"),
      "the request deadline is logged with the identity",
    );
    t.true(
      k.logs.some((l) => l.msg.startsWith("TLS handshake not finished in time")),
      "the handshake timeout is logged",
    );
    await stillServes(k);
  } finally {
    for (const x of timers) clearInterval(x);
    await k.close();
  }
});

test("connection caps: 200 idle connections from one address hold at most its share; a valid client is served meanwhile", async (t) => {
  const k = await startTestKmipd({ args: ["--max-connections", "50", "--max-connections-per-address", "20"] });
  const attackers: Socket[] = [];
  try {
    const closes: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      const s = tcpConnect({ port: k.port, host: k.host, localAddress: "127.0.0.2" });
      attackers.push(s);
      closes.push(closed(s));
    }
    await waitFor(() => attackers.filter((s) => s.destroyed).length >= 180, 60_000, "the server to close the connections over the per-address cap");
    t.true(k.logs.some((l) => l.msg.startsWith("too many connections") && l.fields.per === "address" && l.fields.remote === "127.0.0.2"));
    // 20 attacker connections are held open (no handshake yet); alice, from another address, still gets in.
    await stillServes(k);

    // Three more addresses fill the server's total: the ones past 50 are closed, naming the server cap.
    for (const a of ["127.0.0.3", "127.0.0.4"]) for (let i = 0; i < 20; i++) attackers.push(tcpConnect({ port: k.port, host: k.host, localAddress: a }));
    for (const s of attackers) s.on("error", () => undefined);
    await waitFor(() => k.logs.some((l) => l.msg.startsWith("too many connections") && l.fields.per === "server"), 60_000, "the total cap to be reached");
    for (const s of attackers) s.destroy();
    await Promise.all(closes);
    await waitFor(
      async () => {
        try {
          await stillServes(k);
          return true;
        } catch {
          return false;
        }
      },
      60_000,
      "alice to be served once the attackers left",
    );
    t.pass();
  } finally {
    for (const s of attackers) s.destroy();
    await k.close();
  }
});

test("the memory of partly received requests is capped: the largest holders are closed, a small request still goes through", async (t) => {
  const k = await startTestKmipd({ args: ["--max-partial-bytes", String(1024 * 1024), "--request-timeout", "120000"] });
  const attackers: TLSSocket[] = [];
  try {
    const closes: Promise<void>[] = [];
    for (let i = 0; i < 8; i++) {
      const s = tlsConnect({ host: k.host, port: k.port, cert: k.alice.cert, key: k.alice.key, ca: k.caPem, servername: "localhost" });
      attackers.push(s);
      closes.push(closed(s));
      await new Promise<void>((resolve, reject) => {
        s.once("secureConnect", resolve);
        s.once("error", reject);
      });
      // A request message header announcing 4 MiB less 16 bytes, then 200 KiB of it.
      const header = Buffer.from([0x42, 0x00, 0x78, 0x01, 0x00, 0x3f, 0xff, 0xf0]);
      s.write(Buffer.concat([header, Buffer.alloc(200 * 1024)]));
    }
    await waitFor(() => attackers.filter((s) => s.destroyed).length >= 3, 60_000, "the server to close the largest partial requests");
    t.true(k.logs.some((l) => l.msg.startsWith("partly received requests over their memory budget")));
    await stillServes(k);
    for (const s of attackers) s.destroy();
    await Promise.all(closes);
    // What they held is given back.
    await waitFor(() => k.kmipd.server.usage().partialBytes === 0, 30_000, "the partial requests' bytes to be released");
  } finally {
    for (const s of attackers) s.destroy();
    await k.close();
  }
});

test("files: a data directory created 0755 is made 0700 (and said so); every private file is 0600 whatever the umask", async (t) => {
  const parent = await tempDir();
  const dataDir = path.join(parent, "data");
  const old = process.umask(0o022);
  await mkdir(dataDir, { mode: 0o755 });
  const k = await startTestKmipd({ dataDir });
  try {
    t.true(k.logs.some((l) => l.msg.startsWith("data directory was open to group or others") && l.fields.was === "755"));
    const c = k.client(V1_4);
    for (let i = 0; i < 5; i++) await c.create({ algorithm: "AES", length: 128 });
    const seen: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        const mode = (await stat(p)).mode & 0o777;
        seen.push(e.name);
        if (e.isDirectory()) {
          t.is(mode, 0o700, `${p} is 0700`);
          await walk(p);
        } else if (["ca.pem", "server.pem", "client.pem"].includes(e.name)) t.is(mode & 0o022, 0, `${p} (a certificate) is not writable by others`);
        else t.is(mode, 0o600, `${p} is 0600 (${mode.toString(8)})`);
      }
    };
    t.is((await stat(dataDir)).mode & 0o777, 0o700);
    await walk(dataDir);
    for (const f of [
      "kmipd.sqlite",
      "kmipd.sqlite-wal",
      "kmipd.sqlite-shm",
      "kmipd-audit.sqlite",
      "kmipd-audit.sqlite-wal",
      "master.key",
      "ca-key.pem",
      "client-key.pem",
    ])
      t.true(seen.includes(f), `${f} was checked (${seen.join(", ")})`);
  } finally {
    process.umask(old);
    await k.close();
    await rm(parent, { recursive: true, force: true });
  }
});
