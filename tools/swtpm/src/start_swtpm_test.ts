import test from "ava";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { X509Certificate } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { TPMA_NV, TpmResponseError } from "@tessera/tpm2";
import { createEk, readEkCertificate, Tpm } from "@tessera/tss";
import {
  EK_CERT_NV_INDEX,
  ensureDebianPackages,
  findMissingDebianPackages,
  startPtyBridge,
  startSwtpm,
  SWTPM_DEBIAN_PACKAGES,
  SwtpmError,
  type SwtpmInstance,
} from "./mod.ts";

const exec = promisify(execFile);

/** Runs a tool, returning stdout; rejects with its stderr on failure. */
async function run(command: string, args: readonly string[]): Promise<string> {
  const { stdout } = await exec(command, [...args], { timeout: 15000, encoding: "utf8" });
  return stdout;
}

/** Whether openssl verify accepts `certPem` against `caFilePem`. */
async function opensslVerify(dir: string, caFilePem: string, certPem: string): Promise<{ ok: boolean; text: string }> {
  const caFile = path.join(dir, `ca-${Math.random().toString(16).slice(2)}.pem`);
  const certFile = path.join(dir, `cert-${Math.random().toString(16).slice(2)}.pem`);
  await writeFile(caFile, caFilePem);
  await writeFile(certFile, certPem);
  try {
    const { stdout, stderr } = await exec("openssl", ["verify", "-CAfile", caFile, certFile], { encoding: "utf8" });
    return { ok: true, text: stdout + stderr };
  } catch (e) {
    return { ok: false, text: String(e) };
  }
}

function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Runs `fn` with a @tessera/tss client of the instance, closing it afterwards so that swtpm's single data connection is free again. */
async function withTpm<R>(swtpm: SwtpmInstance, fn: (tpm: Tpm) => Promise<R>): Promise<R> {
  const tpm = Tpm.open(swtpm.tcti);
  try {
    return await fn(tpm);
  } finally {
    await tpm.close();
  }
}

/** The TPM response code `promise` is rejected with. */
async function responseCode(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 0;
  } catch (e) {
    if (e instanceof TpmResponseError) return e.rc;
    throw e;
  }
}

test("tcp swtpm has EK certificates in NV that chain to the local CA", async (t) => {
  const tpm = await startSwtpm();
  t.teardown(() => tpm.stop());
  t.is(tpm.transport, "tcp");
  t.is(tpm.tcti, `swtpm:host=127.0.0.1,port=${tpm.port}`);
  t.is(tpm.ctrlPort, (tpm.port ?? 0) + 1);
  t.true(tpm.dir.startsWith(os.tmpdir() + path.sep), tpm.dir);
  t.true(tpm.stateDir.startsWith(tpm.dir + path.sep));

  const nvList = await run("tpm2_nvreadpublic", ["-T", tpm.tcti]);
  for (const index of [EK_CERT_NV_INDEX.rsa2048, EK_CERT_NV_INDEX.eccNistP256, EK_CERT_NV_INDEX.eccNistP384, EK_CERT_NV_INDEX.platform]) {
    t.regex(nvList, new RegExp(`^${hex(index)}:`, "m"), `NV index ${hex(index)} missing:\n${nvList}`);
  }
  t.notRegex(nvList, /writelocked/, "NV must not be locked");

  // Root first, issuing CA last.
  t.is(tpm.caCertsPem.length, 2);
  t.is(tpm.caCertsPem[tpm.caCertsPem.length - 1], tpm.caCertPem);
  const rootFile = path.join(tpm.dir, "root.pem");
  await writeFile(rootFile, tpm.caCertsPem[0]);
  const root = await run("openssl", ["x509", "-in", rootFile, "-noout", "-subject", "-issuer"]);
  const [subject, issuer] = root
    .trim()
    .split("\n")
    .map((line) => line.replace(/^(subject|issuer)=/, ""));
  t.is(subject, issuer, `first CA cert is not self-signed:\n${root}`);

  const ekFile = path.join(tpm.dir, "ek-rsa.der");
  await run("tpm2_nvread", ["-T", tpm.tcti, hex(EK_CERT_NV_INDEX.rsa2048), "-C", "o", "-o", ekFile]);
  const ekDer = new Uint8Array(await readFile(ekFile));
  const rsa = tpm.ekCerts.find((c) => c.kind === "rsa2048");
  t.truthy(rsa);
  t.deepEqual(ekDer, rsa?.der);

  const chain = tpm.caCertsPem.join("");
  const good = await opensslVerify(tpm.dir, chain, derToPem(ekDer));
  t.true(good.ok, good.text);
  t.regex(good.text, /: OK/);
  // Without the root the chain is incomplete: proves the verification is real.
  const partial = await opensslVerify(tpm.dir, tpm.caCertPem, derToPem(ekDer));
  t.false(partial.ok, partial.text);

  // The certified RSA key is the EK of the default template.
  const ekPub = path.join(tpm.dir, "ek-rsa.pub.pem");
  await run("tpm2_createek", ["-T", tpm.tcti, "-G", "rsa", "-c", path.join(tpm.dir, "ek-rsa.ctx"), "-u", ekPub, "-f", "pem"]);
  const certKey = await run("openssl", ["x509", "-inform", "der", "-in", ekFile, "-noout", "-pubkey"]);
  t.is(certKey.trim(), (await readFile(ekPub, "utf8")).trim());

  // The P-256 certificate added at 0x01c0000a: chains to the CA and certifies the default-template ECC EK.
  const p256 = tpm.ekCerts.find((c) => c.kind === "eccNistP256");
  t.truthy(p256);
  const p256File = path.join(tpm.dir, "ek-p256.der");
  await run("tpm2_nvread", ["-T", tpm.tcti, hex(EK_CERT_NV_INDEX.eccNistP256), "-C", "o", "-o", p256File]);
  t.deepEqual(new Uint8Array(await readFile(p256File)), p256?.der);
  const p256Verify = await opensslVerify(tpm.dir, chain, derToPem(p256?.der ?? new Uint8Array()));
  t.true(p256Verify.ok, p256Verify.text);
  const eccPub = path.join(tpm.dir, "ek-ecc.pub.pem");
  await run("tpm2_createek", ["-T", tpm.tcti, "-G", "ecc", "-c", path.join(tpm.dir, "ek-ecc.ctx"), "-u", eccPub, "-f", "pem"]);
  const p256Key = await run("openssl", ["x509", "-inform", "der", "-in", p256File, "-noout", "-pubkey"]);
  t.is(p256Key.trim(), (await readFile(eccPub, "utf8")).trim());

  // The same through @tessera/tss: the index was defined under the platform hierarchy like swtpm_setup's, and the
  // EK recreated from the default template matches the certificate.
  await withTpm(tpm, async (client) => {
    const nv = await client.nvReadPublic(EK_CERT_NV_INDEX.eccNistP256);
    const rsaNv = await client.nvReadPublic(EK_CERT_NV_INDEX.rsa2048);
    t.is(hex(nv.public.attributes), hex(rsaNv.public.attributes));
    t.true((nv.public.attributes & TPMA_NV.PLATFORMCREATE) !== 0 && (nv.public.attributes & TPMA_NV.WRITTEN) !== 0);
    t.is(nv.public.dataSize, p256?.der.length ?? -1);
    t.deepEqual(await readEkCertificate(client, "ecc-p256"), p256?.der);
    const ek = await createEk(client, "ecc-p256");
    await client.flush(ek.handle);
    t.deepEqual(ek.certificate, p256?.der);
  });
});

test("unix transport serves tpm2-tools and @tessera/tss; ctrl socket is <path>.ctrl", async (t) => {
  const tpm = await startSwtpm({ transport: "unix", eccP256Ek: false });
  t.teardown(() => tpm.stop());
  t.is(tpm.transport, "unix");
  t.is(tpm.path, path.join(tpm.dir, "swtpm.sock"));
  t.is(tpm.ctrlPath, `${tpm.path}.ctrl`);
  t.is(tpm.tcti, `swtpm:path=${tpm.path}`);
  t.is(tpm.port, undefined);
  t.false(tpm.ekCerts.some((c) => c.kind === "eccNistP256"));

  const random = await run("tpm2_getrandom", ["-T", tpm.tcti, "8", "--hex"]);
  t.regex(random.trim(), /^[0-9a-f]{16}$/);

  t.is((await withTpm(tpm, (client) => client.getRandom(8))).length, 8);
});

test("stop() kills swtpm and removes the folder; it is idempotent and used by await using", async (t) => {
  const tpm = await startSwtpm({ eccP256Ek: false });
  const pid = tpm.pid;
  const dir = tpm.dir;
  t.truthy(pid);
  t.true(existsSync(path.join(dir, "state")));
  t.notThrows(() => process.kill(pid ?? 0, 0));
  await Promise.all([tpm.stop(), tpm.stop()]);
  await tpm.stop();
  t.false(existsSync(dir));
  t.is(tpm.pid, undefined);
  t.throws(() => process.kill(pid ?? 0, 0), { code: "ESRCH" });
  await t.throwsAsync(() => tpm.restart(), { instanceOf: SwtpmError, code: "SWTPM_STOPPED" });

  let disposedDir = "";
  let disposedPid: number | undefined;
  {
    await using scoped = await startSwtpm({ transport: "unix", eccP256Ek: false });
    disposedDir = scoped.dir;
    disposedPid = scoped.pid;
    t.true(existsSync(disposedDir));
  }
  t.false(existsSync(disposedDir));
  t.throws(() => process.kill(disposedPid ?? 0, 0), { code: "ESRCH" });
});

test("pty bridge behaves like a TPM device for tpm2-tools (device TCTI)", async (t) => {
  const tpm = await startSwtpm({ eccP256Ek: false });
  t.teardown(() => tpm.stop());
  const bridge = await startPtyBridge(tpm.host ?? "", tpm.port ?? 0);
  t.teardown(() => bridge.stop());
  t.true(existsSync(bridge.path));
  t.regex(bridge.ptsPath, /^\/dev\/pts\/\d+$/);
  t.is(bridge.tcti, `device:${bridge.path}`);

  const first = await run("tpm2_getrandom", ["-T", `device:${bridge.path}`, "8", "--hex"]);
  const second = await run("tpm2_getrandom", ["-T", bridge.tcti, "8", "--hex"]);
  t.regex(first.trim(), /^[0-9a-f]{16}$/);
  t.regex(second.trim(), /^[0-9a-f]{16}$/);
  t.not(first, second);
  // A response larger than one TCP segment's worth of NV data comes through whole.
  const certFile = path.join(tpm.dir, "via-pty.der");
  await run("tpm2_nvread", ["-T", bridge.tcti, hex(EK_CERT_NV_INDEX.rsa2048), "-C", "o", "-o", certFile]);
  t.deepEqual(new Uint8Array(await readFile(certFile)), tpm.ekCerts.find((c) => c.kind === "rsa2048")?.der);

  // The bridge holds swtpm's single data connection; after stop() direct clients work again.
  const socatPid = bridge.pid;
  const dir = path.dirname(bridge.path);
  await bridge.stop();
  t.false(existsSync(dir));
  t.throws(() => process.kill(socatPid ?? 0, 0), { code: "ESRCH" });
  t.regex((await run("tpm2_getrandom", ["-T", tpm.tcti, "4", "--hex"])).trim(), /^[0-9a-f]{8}$/);
});

test("pty bridge to a closed port fails with socat's reason", async (t) => {
  await t.throwsAsync(() => startPtyBridge("127.0.0.1", 1), {
    instanceOf: SwtpmError,
    code: "SWTPM_START",
    message: /socat exited[\s\S]*(refused|Connection)/i,
  });
});

test("restart() keeps NV contents and ports", async (t) => {
  const tpm: SwtpmInstance = await startSwtpm({ eccP256Ek: false });
  t.teardown(() => tpm.stop());
  const port = tpm.port;
  const pid = tpm.pid;
  const data = path.join(tpm.dir, "nvdata.bin");
  await writeFile(data, "tessera!");
  await run("tpm2_nvdefine", ["-T", tpm.tcti, "0x01500001", "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite|authread|authwrite"]);
  await run("tpm2_nvwrite", ["-T", tpm.tcti, "0x01500001", "-C", "o", "-i", data]);
  await tpm.restart();
  t.not(tpm.pid, pid);
  t.is(tpm.port, port);
  const back = await run("tpm2_nvread", ["-T", tpm.tcti, "0x01500001", "-C", "o", "-s", "8"]);
  t.is(back, "tessera!");
  // restart() shuts the TPM down orderly first (a disorderly shutdown can count against DA).
  const vars = await run("tpm2_getcap", ["-T", tpm.tcti, "properties-variable"]);
  t.regex(vars, /^\s*orderly:\s+1$/m, vars);
});

test("startup: false leaves power-on and TPM2_Startup to the client", async (t) => {
  const tpm = await startSwtpm({ transport: "unix", startup: false, eccP256Ek: false });
  t.teardown(() => tpm.stop());
  await withTpm(tpm, async (client) => {
    t.is(hex(await responseCode(client.getRandom(8))), "0x101"); // TPM_RC_FAILURE: not powered on
    await tpm.powerOn();
    t.is(hex(await responseCode(client.getRandom(8))), "0x100"); // TPM_RC_INITIALIZE: no TPM2_Startup yet
    await client.startup();
    t.is((await client.getRandom(8)).length, 8);
  });
  await tpm.stop();
  await t.throwsAsync(() => tpm.powerOn(), { instanceOf: SwtpmError, code: "SWTPM_STOPPED" });
});

test("package check finds installed packages and names missing ones", (t) => {
  t.notThrows(() => ensureDebianPackages(SWTPM_DEBIAN_PACKAGES));
  t.deepEqual(findMissingDebianPackages(SWTPM_DEBIAN_PACKAGES), []);
  const missing = findMissingDebianPackages(["swtpm", "tessera-no-such-package"]);
  t.is(missing.length, 1);
  t.is(missing[0].name, "tessera-no-such-package");
  t.regex(missing[0].reason, /not installed/);
});

test("localCaDir: TPMs manufactured at once with one CA folder have EK certificates from that one CA, which outlives them", async (t) => {
  const caDir = await mkdtemp(path.join(os.tmpdir(), "tessera-swtpm-ca-"));
  t.teardown(() => rm(caDir, { recursive: true, force: true }));
  const tpms = await Promise.all([1, 2, 3].map(() => startSwtpm({ localCaDir: caDir, eccP256Ek: true })));
  t.teardown(() => Promise.all(tpms.map((x) => x.stop())));
  const [a, b, c] = tpms as [SwtpmInstance, SwtpmInstance, SwtpmInstance];
  t.is(a.caCertPem, b.caCertPem);
  t.is(a.caCertPem, c.caCertPem);
  const issuer = new X509Certificate(a.caCertPem);
  const serials = new Set<string>();
  for (const x of tpms) {
    for (const ek of x.ekCerts) {
      const cert = new X509Certificate(ek.der);
      t.true(cert.checkIssued(issuer) && cert.verify(issuer.publicKey), `${ek.kind} of ${x.tcti} is not issued by the shared CA`);
      serials.add(cert.serialNumber);
    }
  }
  t.is(
    serials.size,
    tpms.reduce((n, x) => n + x.ekCerts.length, 0),
    "serial numbers are never reused (manufactures were serialized)",
  );
  await a.stop();
  t.true(existsSync(path.join(caDir, "issuercert.pem")), "stop() leaves the shared CA");
});
