/**
 * Test scaffolding for attestd: nodes started in-process on a temporary data directory (real HTTPS, real
 * store), an HTTPS JSON client that trusts the node's CA, swtpm hosts booted by libs/boot's simulator, and a
 * host driven by libs/tss through the whole protocol.
 * @module
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { parseCaBundle } from "@tessera/ek-trust";
import { bootHost, type HostImage } from "@tessera/boot";
import { imageFromManifest, type ImageModel } from "@tessera/host-image";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import {
  bindingKeyTemplate,
  decodeCredentialFile,
  marshal,
  parsePcrSelection,
  TPM_RH,
  srkTemplate,
  TPM2B_PUBLIC,
  TPMT_SIGNATURE,
  algName,
  toHex,
  type PcrBanks,
} from "@tessera/tpm2";
import { activateAkCredential, createAk, Tpm, withAk, withEk, type AkBlobs } from "@tessera/tss";
import { createRemoteJWKSet, customFetch, jwtVerify, type JWTPayload } from "jose";
import pino from "pino";
import type { AttestdConfig } from "./config.ts";
import { startAttestd, type RunningAttestd } from "./server.ts";
import type { AttestdStore } from "./store/store.ts";

/** The PCRs libs/boot measures into (firmware 0–7, grub 8–9, the software version 14): quoting them all covers the kernel. */
export const BOOT_SELECTION = "sha256:0,1,2,3,4,5,6,7,8,9,14";

/** A JSON answer. */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  // The tests read fields by name; a wrong shape fails their assertions.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly json: any;
}

/** One HTTPS request with a JSON body (or a raw one), trusting `ca`. */
export function request(url: string, method: string, body: unknown, ca: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : body instanceof Uint8Array ? body : Buffer.from(JSON.stringify(body));
    const req = https.request(
      url,
      {
        method,
        ca,
        agent: false,
        // A transfer-encoding header in `headers` sends the body chunked (no Content-Length).
        headers: {
          ...(payload ? { "content-type": "application/json", ...(headers["transfer-encoding"] ? {} : { "content-length": String(payload.length) }) } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = text === "" ? undefined : JSON.parse(text);
          } catch {
            json = text;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (payload) for (let i = 0; i < payload.length; i += 65536) req.write(payload.subarray(i, i + 65536));
    req.end();
  });
}

/** A node under test. */
export interface TestNode {
  readonly node: RunningAttestd;
  readonly dataDir: string;
  readonly store: AttestdStore;
  readonly url: string;
  /** `request` against this node. */
  call(method: string, p: string, body?: unknown): Promise<Answer>;
  /** Stops the node (the data directory stays until {@link TestNode.remove}). */
  stop(): Promise<void>;
  /** Stops and removes the data directory. */
  remove(): Promise<void>;
}

/** The public URL (token issuer) of the test nodes. */
export const TEST_ISSUER = "https://attestd.test:7889";

/** A clock the tests move: `skewMs` is added to the real time. */
export const testClock = { skewMs: 0, now: (): number => Date.now() + testClock.skewMs };

/** Starts a node on a (new or given) data directory, listening on a free loopback port. */
export async function startTestNode(
  options: {
    dataDir?: string;
    database?: string;
    masterKeyFile?: string;
    clock?: { now(): number };
    /** More configuration (cluster, key provider URL, OIDC issuer, history days). */
    config?: Pick<AttestdConfig, "cluster" | "keyProviderUrl" | "oidc" | "historyDays">;
    /** How often the node purges and prunes (default a minute). */
    purgeIntervalMs?: number;
  } = {},
): Promise<TestNode> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "attestd-test-")));
  const config: AttestdConfig = Object.freeze({
    listen: Object.freeze({ host: "127.0.0.1", port: 0 }),
    dataDir,
    ...(options.database ? { database: options.database } : {}),
    publicUrl: TEST_ISSUER,
    masterKeyFile: options.masterKeyFile ?? path.join(dataDir, "master.key"),
    logLevel: "silent" as const,
    ...options.config,
  });
  const node = await startAttestd(config, {
    logger: pino({ level: "silent" }),
    print: () => undefined,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.purgeIntervalMs !== undefined ? { purgeIntervalMs: options.purgeIntervalMs } : {}),
  });
  const self: TestNode = {
    node,
    dataDir,
    store: node.deps.store,
    url: node.url,
    call: (method, p, body) => request(`${node.url}${p}`, method, body, node.caCert),
    stop: () => node.close(),
    async remove() {
      await node.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}

/** Base64 of bytes. */
export const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");

/** A running swtpm host booted by libs/boot, with its event log. */
export interface BootedHost {
  readonly sw: SwtpmInstance;
  readonly log: Uint8Array;
}

/** Manufactures an swtpm (SHA-256 bank, RSA and ECC P-256 EK certificates) and boots `manifest` into it. */
export async function bootedHost(manifest: HostImage, variant?: "secure-boot-off"): Promise<BootedHost> {
  const sw = await startSwtpm({ pcrBanks: ["sha256"], eccP256Ek: true });
  const tpm = Tpm.open(sw.tcti);
  try {
    const { log } = await bootHost(tpm, manifest, variant === undefined ? {} : { variant: { kind: variant } });
    return { sw, log };
  } finally {
    await tpm.close();
  }
}

/** Trusts `sw`'s local CA (root and intermediate) in the store. */
export async function trustSwtpmCa(store: AttestdStore, sw: SwtpmInstance): Promise<void> {
  for (const c of parseCaBundle(sw.caCertsPem.join("\n"))) {
    await store.addTpmCa({ id: createHash("sha256").update(c.certificate).digest("hex"), certificate: c.certificate, subject: c.subject, addedAt: Date.now() });
  }
}

/** Accepts `manifest`'s image. */
export async function acceptImage(store: AttestdStore, manifest: HostImage, name = "tessera-host", version = "1"): Promise<ImageModel> {
  const image = imageFromManifest(manifest, { name, version });
  await store.addImage({ name, version, image, addedAt: Date.now() });
  return image;
}

/** The binding key template of PROTOCOL.md (libs/tpm2). */
export { bindingKeyTemplate };

/** PcrBanks as PROTOCOL.md's JSON. */
export function pcrsJson(banks: PcrBanks): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [alg, bank] of banks) out[algName(alg)] = Object.fromEntries([...bank].map(([i, v]) => [String(i), toHex(v)]));
  return out;
}

/** An enrolled libs/tss host: its EK kind and AK. */
export interface TssHost {
  readonly sw: SwtpmInstance;
  readonly tpm: Tpm;
  readonly ekKind: "rsa2048" | "ecc-p256";
  readonly ak: AkBlobs;
  readonly log: Uint8Array;
}

/** Enrolls `host` from the TPM with libs/tss (EK certificate from NV, a new AK, ActivateCredential). */
export async function tssEnroll(n: TestNode, host: string, h: BootedHost, tpm: Tpm, ekKind: "rsa2048" | "ecc-p256"): Promise<TssHost> {
  return withEk(tpm, ekKind, async (ek) => {
    const ak = await createAk(tpm, ek, ekKind === "rsa2048" ? "rsa" : "ecc");
    if (ek.certificate === undefined) throw new Error(`the swtpm has no ${ekKind} EK certificate`);
    const e = await n.call("POST", `/api/v1/hosts/${host}/enrollments`, { ekCertificate: b64(ek.certificate), akPublic: b64(ak.publicBytes) });
    if (e.status !== 201) throw new Error(`enrollment: ${e.status} ${JSON.stringify(e.json)}`);
    const cred = decodeCredentialFile(new Uint8Array(Buffer.from(e.json.credential as string, "base64")));
    const secret = await withAk(tpm, ek, ak, (loaded) => activateAkCredential(tpm, ek, loaded, cred.credentialBlob, cred.secret));
    const a = await n.call("POST", `/api/v1/hosts/${host}/enrollments/${e.json.enrollment as string}/activation`, { secret: b64(secret) });
    if (a.status !== 200) throw new Error(`activation: ${a.status} ${JSON.stringify(a.json)}`);
    return { sw: h.sw, tpm, ekKind, ak, log: h.log };
  });
}

/** The evidence of one attestation, as PROTOCOL.md's JSON body. */
export interface AttestationBody {
  nonce: string;
  quote: string;
  signature: string;
  pcrs: Record<string, Record<string, string>>;
  eventLog: string;
  bindingKey?: { public: string; certifyInfo: string; signature: string };
}

/** Options of {@link tssEvidence}. */
export interface EvidenceOptions {
  /** Quote with this AK instead of the enrolled one. */
  readonly ak?: AkBlobs;
  /** Certify the binding key with this AK (default the quoting AK). */
  readonly certifyWith?: AkBlobs;
  /** Send a binding key (default true). */
  readonly bindingKey?: boolean;
  /** Quote this selection instead of the challenge's (`""`: no PCR at all). */
  readonly selection?: string;
  /** The binding key certification's qualifyingData (default empty). */
  readonly qualifyingData?: Uint8Array;
}

/** Quotes the challenge with the host's AK, reads the PCRs, and certifies a fresh binding key. */
export async function tssEvidence(h: TssHost, challenge: { nonce: string; pcrSelection: string }, o: EvidenceOptions = {}): Promise<AttestationBody> {
  const { tpm } = h;
  return withEk(tpm, h.ekKind, async (ek) => {
    const spec = o.selection ?? challenge.pcrSelection;
    const sel = spec === "" ? [] : parsePcrSelection(spec);
    const nonce = new Uint8Array(Buffer.from(challenge.nonce, "hex"));
    const q = await withAk(tpm, ek, o.ak ?? h.ak, (l) => tpm.quote(l.handle, nonce, sel));
    const pcrs: PcrBanks = sel.length === 0 ? new Map() : await tpm.pcrRead(sel);
    const body: AttestationBody = {
      nonce: challenge.nonce,
      quote: b64(q.quoted),
      signature: b64(q.signatureBytes),
      pcrs: pcrsJson(pcrs),
      eventLog: b64(h.log),
    };
    if (o.bindingKey === false) return body;
    const srk = await tpm.createPrimary(TPM_RH.OWNER, srkTemplate());
    const key = await tpm.create(srk.handle, bindingKeyTemplate());
    const loaded = await tpm.load(srk.handle, key.privateBlob, key.public);
    await tpm.flush(srk.handle); // swtpm holds 3 transient objects: the EK, an AK and the binding key
    try {
      const c = await withAk(tpm, ek, o.certifyWith ?? o.ak ?? h.ak, (l) => tpm.certify(loaded.handle, l.handle, o.qualifyingData ?? new Uint8Array()));
      body.bindingKey = {
        public: b64(marshal(TPM2B_PUBLIC, key.public)),
        certifyInfo: b64(c.certifyInfo),
        signature: b64(marshal(TPMT_SIGNATURE, c.signature)),
      };
    } finally {
      await tpm.flush(loaded.handle);
    }
    return body;
  });
}

/** Asks for a challenge; throws unless 201. */
export async function challenge(n: TestNode, host: string): Promise<{ nonce: string; pcrSelection: string; expiresAt: string }> {
  const r = await n.call("POST", `/api/v1/hosts/${host}/challenges`);
  if (r.status !== 201) throw new Error(`challenge: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

/** A second AK of the host's TPM, never enrolled. */
export async function otherAk(h: TssHost): Promise<AkBlobs> {
  return withEk(h.tpm, h.ekKind, (ek) => createAk(h.tpm, ek, h.ekKind === "rsa2048" ? "rsa" : "ecc"));
}

/** The distinct check codes of a 403 attestation-failed answer. */
export function checks(a: Answer): string[] {
  if (a.status !== 403 || a.json?.type !== "urn:tessera:problem:attestation-failed") return [`${a.status} ${JSON.stringify(a.json)}`];
  return [...new Set((a.json.failures as { check: string }[]).map((f) => f.check))];
}

/** jose's remote JWKS of a node, fetched over HTTPS trusting the node's CA. */
export function nodeJwks(url: string, ca: string): ReturnType<typeof createRemoteJWKSet> {
  return createRemoteJWKSet(new URL(`${url}/.well-known/jwks.json`), {
    [customFetch]: async (u: string) => {
      const r = await request(u, "GET", undefined, ca);
      return new Response(JSON.stringify(r.json), { status: r.status, headers: { "content-type": "application/json" } });
    },
  });
}

/** Verifies an attestation token with jose against a node's JWKS (issuer of the test nodes). */
export async function verifyWithJwks(token: string, url: string, ca: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, nodeJwks(url, ca), { issuer: TEST_ISSUER, algorithms: ["ES256"] });
  return payload;
}
