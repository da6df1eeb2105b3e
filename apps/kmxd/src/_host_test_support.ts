/**
 * Test support of kmxd's host-side tests (attestd_client_test.ts, routes/host_test.ts): a real attestd started as
 * its own process (`apps/attestd/bin/attestd`), swtpm hosts booted by libs/boot that attest with nothing but
 * tpm2-tools and curl (attestd's `testdata/host_protocol.sh`, binding key certified), kmipd started as its own
 * process (`apps/kmipd/src/main.ts`) with an Active AES-256 key, and the JWE opened by the host's TPM with
 * `tpm2_rsadecrypt -s oaep`.
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import path from "node:path";
import { eventually, spawnReady } from "@tessera/process-testing";
import { bootHost, type HostImage } from "@tessera/boot";
import { createProviderClient } from "@tessera/key-provider";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import {
  algName,
  bindingKeyTemplate,
  decodeCredentialFile,
  marshal,
  parsePcrSelection,
  srkTemplate,
  toHex,
  TPM2B_PUBLIC,
  TPM_RH,
  TPMT_SIGNATURE,
  type TpmtPublic,
} from "@tessera/tpm2";
import { decryptJweWith } from "@tessera/tokens";
import { activateAkCredential, createAk, Tpm, withAk, withEk } from "@tessera/tss";
import { base64url } from "jose";

/** The repository's root. */
export const ROOT = path.resolve(import.meta.dirname, "../../..");
const ATTESTD = path.join(ROOT, "apps/attestd/bin/attestd");
const KMIPD = path.join(ROOT, "apps/kmipd/src/main.ts");
/** The host's side of PROTOCOL.md in tpm2-tools, curl and jq (attestd's test data, run as a host would). */
export const HOST_SCRIPT = path.join(ROOT, "apps/attestd/src/testdata/host_protocol.sh");

/** An answer of {@link httpsJson}. */
export interface JsonAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

/** One HTTPS JSON request trusting `ca`. */
export function httpsJson(url: string, method: string, options: { ca: string; body?: unknown; token?: string; headers?: Record<string, string> } ): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = request(
      url,
      {
        method,
        ca: options.ca,
        headers: {
          accept: "application/json",
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => {
          let json: Record<string, unknown> = {};
          try {
            json = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
          } catch {
            json = { text };
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A running attestd process. */
export interface Attestd {
  url: string;
  port: number;
  dataDir: string;
  caFile: string;
  ca: string;
  /** The first administrator's password (`admin`). */
  password: string;
  child: ChildProcess;
  /** Calls attestd's API (admin token optional). */
  call(method: string, p: string, body?: unknown, token?: string): Promise<JsonAnswer>;
  /** Signs in as `admin`. */
  adminToken(): Promise<string>;
  /** Stops the process (SIGTERM) and waits for it. */
  stop(): Promise<void>;
}

/** Starts attestd as an administrator would (`--listen 127.0.0.1:<port>`, 0 by default) and waits for its ready line. */
export async function startAttestd(dataDir: string, port = 0): Promise<Attestd> {
  const proc = await spawnReady("attestd", ATTESTD, ["--listen", `127.0.0.1:${port}`, "--data-dir", dataDir, "--log-level", "warn"], /^attestd: listening on (https:\/\/\S+)/m);
  const url = proc.match[1]!;
  const caFile = path.join(dataDir, "tls", "ca.pem");
  const ca = await readFile(caFile, "utf8");
  const password = (await readFile(path.join(dataDir, "admin.password"), "utf8")).trim();
  const call = (method: string, p: string, body?: unknown, token?: string): Promise<JsonAnswer> =>
    httpsJson(url + p, method, { ca, ...(body !== undefined ? { body } : {}), ...(token !== undefined ? { token } : {}) });
  return {
    url,
    port: Number(new URL(url).port),
    dataDir,
    caFile,
    ca,
    password,
    child: proc.child,
    call,
    async adminToken() {
      const r = await call("POST", "/api/v1/auth/token", { user: "admin", password });
      if (r.status !== 200) throw new Error(`attestd sign-in: ${r.status} ${JSON.stringify(r.json)}`);
      return r.json.token as string;
    },
    stop: () => proc.stop(),
  };
}

/** Trusts `sw`'s EK CA and accepts `manifest` as host image `tessera-host` 1 on attestd. */
export async function prepareAttestd(a: Attestd, sw: SwtpmInstance, manifest: HostImage): Promise<void> {
  const token = await a.adminToken();
  const ca = await a.call("POST", "/api/v1/tpm-cas", { certificates: sw.caCertsPem.join("\n") }, token);
  if (ca.status !== 201 && ca.status !== 200) throw new Error(`tpm-cas: ${ca.status} ${JSON.stringify(ca.json)}`);
  const image = await a.call("POST", "/api/v1/images", { name: "tessera-host", version: "1", manifest }, token);
  if (image.status !== 201) throw new Error(`images: ${image.status} ${JSON.stringify(image.json)}`);
}

/** A new swtpm (SHA-256 bank, RSA EK certificate from swtpm's CA) booted through `image`; its event log. */
export async function bootedSwtpm(image: HostImage): Promise<{ sw: SwtpmInstance; log: Uint8Array }> {
  const sw = await startSwtpm({ pcrBanks: ["sha256"], eccP256Ek: false });
  const tpm = Tpm.open(sw.tcti);
  try {
    return { sw, log: (await bootHost(tpm, image)).log };
  } finally {
    await tpm.close();
  }
}

/** Runs a command to its end without blocking the event loop. */
export function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (e) => reject(new Error(`${cmd}: ${e.message} (tpm2-tools, curl, jq and xxd are needed)`)));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** What one run of the host script did. */
export interface HostRun {
  /** Its working directory: bk.ctx (the binding key's context) and bk.pem are there. */
  dir: string;
  status: number | null;
  /** attestd's answer to the attestation (when it was 200). */
  answer?: { status: string; token: string; expiresAt: string };
  stderr: string;
}

/**
 * Enrolls `host` and attests with the swtpm `sw` through host_protocol.sh (tpm2-tools + curl), with the event
 * log `log` and a binding key unless `bindingKey` is false. A refused attestation is `status` 1 and the problem in `stderr`.
 */
export async function attestWithTools(a: Attestd, sw: SwtpmInstance, host: string, log: Uint8Array, work: string, bindingKey = true): Promise<HostRun> {
  const dir = await mkdtemp(path.join(work, `${host}-`));
  await writeFile(path.join(dir, "binary_bios_measurements"), log);
  const r = await run("bash", [HOST_SCRIPT], {
    cwd: dir,
    env: {
      ...process.env,
      TPM2TOOLS_TCTI: sw.tcti,
      URL: a.url,
      CA: a.caFile,
      HOST: host,
      EK_ALG: "rsa",
      EK_NV: "0x01c00002",
      AK_ALG: "rsa",
      AK_SCHEME: "rsassa",
      EVENT_LOG: path.join(dir, "binary_bios_measurements"),
      BINDING_KEY: bindingKey ? "1" : "0",
    },
  });
  if (r.status !== 0) return { dir, status: r.status, stderr: r.stderr };
  return { dir, status: 0, answer: JSON.parse(r.stdout) as HostRun["answer"] & object, stderr: r.stderr };
}

/**
 * Opens a compact JWE (RSA-OAEP-256 + A256GCM) with the binding key in the host's TPM: `tpm2_rsadecrypt -s oaep`
 * recovers the content key from the context the host script left (bk.ctx), then A256GCM with the protected header
 * as additional data. Throws with tpm2_rsadecrypt's error when the TPM refuses (a JWE to another key).
 */
export async function openJweWithTpm(sw: SwtpmInstance, hostDir: string, jwe: string): Promise<Uint8Array> {
  const [header, encryptedKey, iv, ciphertext, tag] = jwe.split(".");
  const work = await mkdtemp(path.join(hostDir, "jwe-"));
  await writeFile(path.join(work, "cek.enc"), base64url.decode(encryptedKey!));
  const r = await run("tpm2_rsadecrypt", ["-T", sw.tcti, "-c", path.join(hostDir, "bk.ctx"), "-s", "oaep", "-o", path.join(work, "cek.bin"), path.join(work, "cek.enc")]);
  // Without a resource manager the loaded key stays: free the slot whatever happened.
  await run("tpm2_flushcontext", ["-T", sw.tcti, "-t"]);
  if (r.status !== 0) throw new Error(`tpm2_rsadecrypt failed (${r.status}): ${r.stderr}`);
  const cek = new Uint8Array(await readFile(path.join(work, "cek.bin")));
  const key = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["decrypt"]);
  const sealed = new Uint8Array([...base64url.decode(ciphertext!), ...base64url.decode(tag!)]);
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(base64url.decode(iv!)), additionalData: new TextEncoder().encode(header), tagLength: 128 }, key, sealed);
  return new Uint8Array(plain);
}

/** A running kmipd process and the TLS material of its generated client. */
export interface Kmipd {
  port: number;
  dataDir: string;
  tls: { cert: string; key: string; ca: string };
  child: ChildProcess;
  /** Creates an Active AES-256 key (Encrypt, Decrypt, MAC Generate/Verify) and returns its id. */
  activeKey(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** Starts kmipd (`apps/kmipd/src/main.ts`, port 0 by default, its generated TLS material) and waits for its ready line. */
export async function startKmipd(dataDir: string, listenPort = 0): Promise<Kmipd> {
  const proc = await spawnReady("kmipd", process.execPath, [KMIPD, "--listen", `127.0.0.1:${listenPort}`, "--data-dir", dataDir], /kmipd: listening on [^\s]+:(\d+)/);
  const port = Number(proc.match[1]);
  const dir = path.join(dataDir, "tls");
  const tls = {
    cert: await readFile(path.join(dir, "client.pem"), "utf8"),
    key: await readFile(path.join(dir, "client-key.pem"), "utf8"),
    ca: await readFile(path.join(dir, "ca.pem"), "utf8"),
  };
  return {
    port,
    dataDir,
    tls,
    child: proc.child,
    async activeKey(name: string) {
      const client = createProviderClient({ servers: [{ host: "127.0.0.1", port }], tls });
      try {
        const id = await client.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt MACGenerate MACVerify", name });
        await client.activate(id);
        return id;
      } finally {
        client.close();
      }
    },
    stop: () => proc.stop(),
  };
}

export { eventually };

/** A host attested through libs/tss, with its binding key's blobs (loadable under the SRK again). */
export interface TssHostRun {
  token: string;
  bindingKey: { privateBlob: Uint8Array; public: TpmtPublic };
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");

/**
 * The host protocol (PROTOCOL.md §1–3) with libs/tss: enroll an RSA AK under the RSA EK, take a challenge, quote,
 * create and certify a binding key (RSA-2048 decrypt, under the owner SRK), attest. Throws unless attestd answers 200.
 */
export async function attestWithTss(a: Attestd, sw: SwtpmInstance, host: string, log: Uint8Array): Promise<TssHostRun> {
  const call = async (p: string, body?: unknown): Promise<Record<string, unknown>> => {
    const r = await a.call("POST", p, body);
    if (r.status !== 200 && r.status !== 201) throw new Error(`POST ${p}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  const tpm = Tpm.open(sw.tcti);
  try {
    return await withEk(tpm, "rsa2048", async (ek) => {
      const ak = await createAk(tpm, ek, "rsa");
      const e = await call(`/api/v1/hosts/${host}/enrollments`, { ekCertificate: b64(ek.certificate!), akPublic: b64(ak.publicBytes) });
      const cred = decodeCredentialFile(new Uint8Array(Buffer.from(e.credential as string, "base64")));
      const secret = await withAk(tpm, ek, ak, (l) => activateAkCredential(tpm, ek, l, cred.credentialBlob, cred.secret));
      await call(`/api/v1/hosts/${host}/enrollments/${e.enrollment as string}/activation`, { secret: b64(secret) });
      const c = await call(`/api/v1/hosts/${host}/challenges`);
      const sel = parsePcrSelection(c.pcrSelection as string);
      const q = await withAk(tpm, ek, ak, (l) => tpm.quote(l.handle, new Uint8Array(Buffer.from(c.nonce as string, "hex")), sel));
      const pcrs: Record<string, Record<string, string>> = {};
      for (const [alg, bank] of await tpm.pcrRead(sel)) pcrs[algName(alg)] = Object.fromEntries([...bank].map(([i, v]) => [String(i), toHex(v)]));
      const srk = await tpm.createPrimary(TPM_RH.OWNER, srkTemplate());
      const key = await tpm.create(srk.handle, bindingKeyTemplate());
      const loaded = await tpm.load(srk.handle, key.privateBlob, key.public);
      // swtpm holds three transient objects: the EK, the AK and the binding key.
      await tpm.flush(srk.handle);
      let certified: Awaited<ReturnType<Tpm["certify"]>>;
      try {
        certified = await withAk(tpm, ek, ak, (l) => tpm.certify(loaded.handle, l.handle, new Uint8Array()));
      } finally {
        await tpm.flush(loaded.handle);
      }
      const r = await call(`/api/v1/hosts/${host}/attestations`, {
        nonce: c.nonce,
        quote: b64(q.quoted),
        signature: b64(q.signatureBytes),
        pcrs,
        eventLog: b64(log),
        bindingKey: {
          public: b64(marshal(TPM2B_PUBLIC, key.public)),
          certifyInfo: b64(certified.certifyInfo),
          signature: b64(marshal(TPMT_SIGNATURE, certified.signature)),
        },
      });
      return { token: r.token as string, bindingKey: { privateBlob: key.privateBlob, public: key.public } };
    });
  } finally {
    await tpm.close();
  }
}

/**
 * Opens a compact JWE with the host's binding key through libs/tss: the key loaded under the SRK again,
 * `Tpm.rsaDecrypt` (OAEP, SHA-256, empty label: RSA-OAEP-256) recovers the content key inside
 * libs/tokens' `decryptJweWith`, which opens the A256GCM content.
 */
export async function openJweWithTss(sw: SwtpmInstance, bindingKey: TssHostRun["bindingKey"], jwe: string): Promise<Uint8Array> {
  const tpm = Tpm.open(sw.tcti);
  try {
    const srk = await tpm.createPrimary(TPM_RH.OWNER, srkTemplate());
    const loaded = await tpm.load(srk.handle, bindingKey.privateBlob, bindingKey.public);
    await tpm.flush(srk.handle);
    try {
      return await decryptJweWith(jwe, (encryptedKey) => tpm.rsaDecrypt(loaded.handle, encryptedKey, { scheme: "oaep", hash: "sha256" }));
    } finally {
      await tpm.flush(loaded.handle);
    }
  } finally {
    await tpm.close();
  }
}
