/**
 * Shared helpers of the kmipd tests: a kmipd on a temporary data directory with generated TLS material,
 * more client identities from its CA, KMIP clients and raw connections, request builders.
 * @module
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { issueCertificate } from "@tessera/pki";
import {
  attributeName,
  decodeResponse,
  decodeTtlv,
  encodeTtlv,
  item,
  KmipResultError,
  type KmipVersion,
  type ResponseMessage,
  struct,
  tagOf,
  type Ttlv,
} from "@tessera/kmip";
import { type ClientTls, KmipClient, KmipConnection } from "@tessera/kmip-client";
import { type Kmipd, loadConfig, startKmipd } from "./app.ts";
import { randomBytes, randomUUID } from "node:crypto";
import type { AuditEntry, StoredObject } from "./store/store.ts";
import { freePort } from "@tessera/process-testing";

export const V1_2: KmipVersion = { major: 1, minor: 2 };
export const V1_4: KmipVersion = { major: 1, minor: 4 };
export const V2_1: KmipVersion = { major: 2, minor: 1 };

/** A fresh temporary directory. */
export async function tempDir(prefix = "kmipd-test-"): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export { freePort };

/** One line of kmipd's log. */
export interface LogLine {
  msg: string;
  fields: Record<string, unknown>;
}

/** A kmipd started in-process for a test. */
export interface TestKmipd {
  kmipd: Kmipd;
  dataDir: string;
  host: string;
  port: number;
  /** TLS material of the generated client (`CN=kmipd-admin`). */
  alice: ClientTls;
  caPem: string;
  /** The key of kmipd's generated CA. */
  caKeyPem: string;
  audit: AuditEntry[];
  /** kmipd's log lines so far. */
  logs: LogLine[];
  /** A client certificate from kmipd's CA for another identity. */
  issueClient(commonName: string): Promise<ClientTls>;
  /** A KMIP client for `tls` (default alice) speaking `version` (default 1.4). */
  client(version?: KmipVersion, tls?: ClientTls): KmipClient;
  /** A single raw connection. */
  connect(tls?: ClientTls): Promise<KmipConnection>;
  close(): Promise<void>;
}

/**
 * Starts kmipd on a temporary data directory (generated TLS), optionally with another database. One serving
 * thread unless `threads` says otherwise: records from other threads reach `audit` a moment after their response.
 */
export async function startTestKmipd(options: { database?: string; dataDir?: string; threads?: number; args?: string[] } = {}): Promise<TestKmipd> {
  const dataDir = options.dataDir ?? (await tempDir());
  const argv = ["--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "silent", "--threads", String(options.threads ?? 1), ...(options.args ?? [])];
  if (options.database) argv.push("--database", options.database);
  const audit: AuditEntry[] = [];
  const logs: LogLine[] = [];
  const kmipd = await startKmipd(
    loadConfig(argv, {}),
    (msg, fields) => logs.push({ msg, fields: fields ?? {} }),
    (e) => audit.push(e),
  );
  const g = kmipd.generatedTls;
  if (!g) throw new Error("kmipd generated no TLS material");
  const caPem = await readFile(g.caCertFile, "utf8");
  const caKeyPem = await readFile(path.join(dataDir, "tls", "ca-key.pem"), "utf8");
  const alice: ClientTls = { cert: await readFile(g.clientCertFile, "utf8"), key: await readFile(g.clientKeyFile, "utf8"), ca: caPem };
  const clients: KmipClient[] = [];
  const conns: KmipConnection[] = [];
  const host = kmipd.server.host;
  const port = kmipd.server.port;
  return {
    kmipd,
    dataDir,
    host,
    port,
    alice,
    caPem,
    caKeyPem,
    audit,
    logs,
    async issueClient(commonName) {
      const c = await issueCertificate({ certificatePem: caPem, privateKeyPem: caKeyPem }, { commonName, profile: "client" });
      return { cert: c.certificatePem, key: c.privateKeyPem!, ca: caPem };
    },
    client(version = V1_4, tls = alice) {
      const c = new KmipClient({ servers: [{ host, port }], tls, version, timeoutMs: 20_000, connectTimeoutMs: 5_000 });
      clients.push(c);
      return c;
    },
    async connect(tls = alice) {
      const c = await KmipConnection.open({ host, port }, tls, 5_000);
      conns.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      for (const c of conns) c.close();
      await kmipd.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The kmipd of one test file: started before its tests and closed after them. The returned object is filled in
 * when kmipd has started, so tests use it directly.
 */
export function kmipdForTests(options: Parameters<typeof startTestKmipd>[0] = {}): TestKmipd {
  const k = {} as TestKmipd;
  test.before(async () => {
    Object.assign(k, await startTestKmipd(options));
  });
  test.after.always(async () => {
    await k.close?.();
  });
  return k;
}

/** Awaits `p` and checks that it failed with KMIP result reason `reason` (or one of `reason`). */
export async function rejectsWith(t: ExecutionContext, p: Promise<unknown>, reason: string | string[], message?: string): Promise<KmipResultError | undefined> {
  const e = await t.throwsAsync(p, { instanceOf: KmipResultError }, message);
  if (!e) return undefined;
  const ok = Array.isArray(reason) ? reason : [reason];
  t.true(ok.includes(e.reason), `${message ?? e.operation}: expected ${ok.join(" or ")}, got ${e.reason} (${e.message})`);
  return e;
}

/** Attributes in the shape of `version`: 1.x Attribute structures inside `container1x`, 2.x items inside `container2x`. */
export function attributesFor(
  version: KmipVersion,
  container1x: string,
  container2x: string,
  attrs: { name: string; value: Parameters<typeof item>[1] }[],
): Ttlv {
  if (version.major >= 2)
    return struct(
      container2x,
      attrs.map((a) => item(a.name, a.value, undefined, version)),
    );
  return struct(
    container1x,
    attrs.map((a) => {
      const v = item(a.name, a.value, undefined, version);
      return struct("Attribute", [item("AttributeName", attributeName(a.name) ?? a.name), { ...v, tag: tagOf("AttributeValue") } as Ttlv]);
    }),
  );
}

/** A raw request message; header fields and batch items as given (BatchCount = `batchCount` or the item count). */
export function rawRequest(
  version: KmipVersion,
  items: { operation: string | number; payload?: Ttlv[]; batchItemId?: Uint8Array }[],
  header: { batchCount?: number; clientCorrelationValue?: string; batchErrorContinuationOption?: string } = {},
): Ttlv {
  return struct("RequestMessage", [
    struct("RequestHeader", [
      struct("ProtocolVersion", [item("ProtocolVersionMajor", version.major), item("ProtocolVersionMinor", version.minor)]),
      header.clientCorrelationValue !== undefined && item("ClientCorrelationValue", header.clientCorrelationValue),
      header.batchErrorContinuationOption !== undefined && item("BatchErrorContinuationOption", header.batchErrorContinuationOption),
      item("BatchCount", header.batchCount ?? items.length),
    ]),
    ...items.map((b) =>
      struct("BatchItem", [
        item("Operation", b.operation, undefined, version),
        b.batchItemId && item("UniqueBatchItemID", b.batchItemId),
        struct("RequestPayload", b.payload ?? []),
      ]),
    ),
  ]);
}

/** Sends a request on a raw connection and decodes the response (also returning the raw tree). */
export async function exchange(conn: KmipConnection, msg: Ttlv | Uint8Array): Promise<{ res: ResponseMessage; raw: Ttlv }> {
  const bytes = msg instanceof Uint8Array ? msg : encodeTtlv(msg);
  const raw = decodeTtlv(await conn.send(bytes, 20_000));
  return { res: decodeResponse(raw), raw };
}

/** Waits until `cond` holds (polling), failing after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A stored object for store tests: alice's Pre-Active symmetric key with random wrapped material, changed by `over`. */
export function storedObject(over: Partial<StoredObject> = {}): StoredObject {
  return {
    id: randomUUID(),
    owner: "CN=alice",
    objectType: 2,
    state: 1,
    attributes: new Uint8Array([0x42, 0x01, 0x25, 0x01, 0, 0, 0, 0, 0, 0xff]),
    material: new Uint8Array(randomBytes(61)),
    names: [],
    grants: [],
    ...over,
  };
}
