import test from "ava";
import { X509Certificate } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, unlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ensureLocalTls } from "./local_tls.ts";

test("ensureLocalTls: creates a CA and a server certificate once (dir 0700, keys 0600), then reuses them", async (t) => {
  const d = await mkdtemp(path.join(os.tmpdir(), "tessera-tls-"));
  const old = process.umask(0o000);
  try {
    await mkdir(path.join(d, "tls"), { mode: 0o755 });
    await chmod(path.join(d, "tls"), 0o755);
    const g = await ensureLocalTls(d, { service: "attestd", hosts: ["ta.example", "10.1.2.3", "0.0.0.0"] });
    t.true(g.created);
    t.is(g.clientCertFile, undefined);
    t.is((await stat(g.dir)).mode & 0o777, 0o700);
    t.is((await stat(g.caKeyFile)).mode & 0o777, 0o600);
    t.is((await stat(g.serverKeyFile)).mode & 0o777, 0o600);
    t.is((await stat(g.caCertFile)).mode & 0o777, 0o644);
    const ca = new X509Certificate(await readFile(g.caCertFile));
    const server = new X509Certificate(await readFile(g.serverCertFile));
    t.true(ca.ca);
    t.regex(ca.subject, /CN=Tessera attestd local CA/);
    t.regex(server.subject, /CN=attestd/);
    t.true(server.verify(ca.publicKey));
    t.is(server.subjectAltName, "DNS:localhost, DNS:ta.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.1.2.3");
    const before = { ca: await readFile(g.caCertFile, "utf8"), server: await readFile(g.serverCertFile, "utf8"), key: await readFile(g.serverKeyFile, "utf8") };
    const again = await ensureLocalTls(d, { service: "attestd", hosts: ["ta.example"] });
    t.false(again.created);
    t.deepEqual({ ca: await readFile(g.caCertFile, "utf8"), server: await readFile(g.serverCertFile, "utf8"), key: await readFile(g.serverKeyFile, "utf8") }, before);
  } finally {
    process.umask(old);
    await rm(d, { recursive: true, force: true });
  }
});

test("ensureLocalTls with client: a client certificate by the same CA; one asked for later is issued by the existing CA", async (t) => {
  const d = await mkdtemp(path.join(os.tmpdir(), "tessera-tls-"));
  try {
    const first = await ensureLocalTls(d, { service: "kmipd", hosts: ["127.0.0.1"] });
    const caPem = await readFile(first.caCertFile, "utf8");
    const g = await ensureLocalTls(d, { service: "kmipd", hosts: ["127.0.0.1"], client: { commonName: "kmipd-admin" } });
    t.true(g.created);
    t.is(await readFile(g.caCertFile, "utf8"), caPem);
    const client = new X509Certificate(await readFile(g.clientCertFile));
    t.regex(client.subject, /CN=kmipd-admin/);
    t.true(client.verify(new X509Certificate(caPem).publicKey));
    t.is((await stat(g.clientKeyFile)).mode & 0o777, 0o600);
    // A lost server certificate (to cover new hosts) is reissued by the same CA.
    await unlink(g.serverCertFile);
    const h = await ensureLocalTls(d, { service: "kmipd", hosts: ["kms.example"], client: { commonName: "kmipd-admin" } });
    t.true(h.created);
    t.is(await readFile(h.caCertFile, "utf8"), caPem);
    t.regex(new X509Certificate(await readFile(h.serverCertFile)).subjectAltName ?? "", /DNS:kms\.example/);
  } finally {
    await rm(d, { recursive: true, force: true });
  }
});
