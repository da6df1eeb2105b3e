/**
 * The envelope's throughput (libs/vtpm sealEnvelope/openEnvelope) against the bare cipher it is built on: one
 * node:crypto AES-256-GCM createCipheriv/createDecipheriv over the same bytes, with the same key length, in the
 * same process; and the second GCM pass that every envelope of this design adds whatever the content's size: the
 * 32-byte content key wrapped (and unwrapped) under the data key with a header-sized AAD. node:crypto's set-up of a
 * cipher (createCipheriv) costs about as much as 8 KiB of AES-GCM, so at a vm.nvram's size that pass alone bounds
 * the envelope's ratio: bare ÷ (bare + key wrap), the "ceiling" of the tables. The six operations run in interleaved
 * batches (the order turned each round) so that a change of machine speed — other processes, frequency — hits all
 * of them alike;
 * each one's rate is its median batch's, a ratio the median of the rounds' ratios ({@link pairedRatio}). Beside the wall-clock rate, the rate per CPU second of this process
 * (process.cpuUsage over the batch), which other processes' load on the machine moves less.
 *
 * A second peer, optional: `openssl speed -evp aes-256-gcm -bytes N -seconds 1` (OpenSSL's own loop, encrypt only),
 * parsed from its last line.
 * @module
 */
import { execFile } from "node:child_process";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { openEnvelope, sealEnvelope, type EnvelopeKey } from "@tessera/vtpm";

const run = promisify(execFile);

/** One operation's rate at one size. */
export interface ThroughputCell {
  /** MB/s (10^6 bytes) of plaintext, wall clock, median batch. */
  readonly mbPerS: number;
  /** MB per CPU second of this process, median batch. */
  readonly mbPerCpuS: number;
  /** Calls timed in all. */
  readonly calls: number;
  /** Each round's batch rate (wall MB/s, then MB per CPU second), in round order: for {@link pairedRatio}. */
  readonly rounds: readonly { readonly mbPerS: number; readonly mbPerCpuS: number }[];
}

/**
 * The ratio `bare` could reach at most when one more pass `extra` is added to it, per round, median: bare's time ÷
 * (bare's + extra's), both measured per call at the same size.
 */
export function pairedCeiling(bare: ThroughputCell, extra: ThroughputCell, by: "mbPerS" | "mbPerCpuS" = "mbPerS"): number {
  return median(bare.rounds.map((r, i) => 1 / r[by] / (1 / r[by] + 1 / extra.rounds[i][by])));
}

/**
 * The median over rounds of a's rate ÷ b's rate in the same round: batches of one round ran within a second of each
 * other, so a slow spell of the machine (other processes) divides out instead of landing on one side.
 */
export function pairedRatio(a: ThroughputCell, b: ThroughputCell, by: "mbPerS" | "mbPerCpuS" = "mbPerS"): number {
  return median(a.rounds.map((r, i) => r[by] / b.rounds[i][by]));
}

/** The four operations at one content size. */
export interface EnvelopeRow {
  readonly bytes: number;
  readonly seal: ThroughputCell;
  readonly bareEncrypt: ThroughputCell;
  readonly open: ThroughputCell;
  readonly bareDecrypt: ThroughputCell;
  /** The content key's GCM pass alone (32 bytes under the data key, 64 bytes of AAD), at the rate of `bytes` per call: µs per call = bytes ÷ MB/s. */
  readonly wrapKey: ThroughputCell;
  /** Its opening alone, the same way. */
  readonly unwrapKey: ThroughputCell;
}

/** Options of {@link benchEnvelope}. */
export interface EnvelopeOptions {
  /** Content sizes in bytes (default 8 KiB, 1 MiB, 32 MiB). */
  readonly sizes?: readonly number[];
  /** Timed rounds (default 15); one more untimed first. */
  readonly rounds?: number;
  /** A batch's length, ms (default 60; at least three calls, so that a 32 MiB batch is not one call's luck). */
  readonly batchMs?: number;
}

/** What a vTPM's envelope records of its data key: a trusted provider's name and a wrapped key of kmxd's size. */
const KEY: EnvelopeKey = {
  provider: { name: "dev", kind: "trusted" },
  key: { id: "dev", version: 1 },
  wrappedDataKey: new Uint8Array(randomBytes(180)),
};

interface Batch {
  bytes: number;
  wallMs: number;
  cpuUs: number;
  calls: number;
}

function batch(fn: () => void, size: number, batchMs: number): Batch {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let calls = 0;
  let t = t0;
  do {
    fn();
    calls++;
    t = performance.now();
  } while (t - t0 < batchMs || calls < 3);
  const c = process.cpuUsage(c0);
  return { bytes: size * calls, wallMs: t - t0, cpuUs: c.user + c.system, calls };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function cell(batches: readonly Batch[]): ThroughputCell {
  const rounds = batches.map((b) => ({ mbPerS: b.bytes / 1e6 / (b.wallMs / 1000), mbPerCpuS: b.bytes / 1e6 / (Math.max(b.cpuUs, 1) / 1e6) }));
  return {
    mbPerS: median(rounds.map((r) => r.mbPerS)),
    mbPerCpuS: median(rounds.map((r) => r.mbPerCpuS)),
    calls: batches.reduce((n, b) => n + b.calls, 0),
    rounds,
  };
}

/**
 * Seal, open and the bare cipher's encrypt and decrypt at each size, interleaved. Every result is checked once
 * (the envelope opens to the plaintext, the bare cipher's decryption too), so a broken path cannot look fast.
 */
export function benchEnvelope(o: EnvelopeOptions = {}): EnvelopeRow[] {
  const sizes = o.sizes ?? [8 * 1024, 1024 * 1024, 32 * 1024 * 1024];
  const rounds = o.rounds ?? 15;
  const batchMs = o.batchMs ?? 60;
  const rows: EnvelopeRow[] = [];
  for (const size of sizes) {
    const plaintext = new Uint8Array(randomBytes(size));
    const dataKey = new Uint8Array(randomBytes(32));
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const envelope = sealEnvelope(plaintext, dataKey, KEY, { context: "vm:00000000-0000-0000-0000-000000000000" });
    // The bare peer: one AES-256-GCM pass, its tag; decrypt checks the tag as openEnvelope does.
    const bareEnc = (): { body: Buffer; tag: Buffer } => {
      const c = createCipheriv("aes-256-gcm", key, nonce);
      const body = c.update(plaintext);
      c.final();
      return { body, tag: c.getAuthTag() };
    };
    const sealed = bareEnc();
    const bareDec = (): Buffer => {
      const d = createDecipheriv("aes-256-gcm", key, nonce);
      d.setAuthTag(sealed.tag);
      const out = d.update(sealed.body);
      d.final();
      return out;
    };
    // The content key's pass alone, as sealEnvelope/openEnvelope make it: a 32-byte key, a header's worth of AAD.
    const aad = envelope.subarray(0, 64);
    const contentKey = randomBytes(32);
    const wrapKey = (): { wrapped: Buffer; tag: Buffer } => {
      const k = createCipheriv("aes-256-gcm", dataKey, nonce);
      k.setAAD(aad);
      const wrapped = k.update(contentKey);
      k.final();
      return { wrapped, tag: k.getAuthTag() };
    };
    const wrapped = wrapKey();
    const unwrapKey = (): Buffer => {
      const k = createDecipheriv("aes-256-gcm", dataKey, nonce);
      k.setAAD(aad);
      k.setAuthTag(wrapped.tag);
      const out = k.update(wrapped.wrapped);
      k.final();
      return out;
    };
    if (!unwrapKey().equals(contentKey)) throw new Error("the content key does not unwrap");
    if (!Buffer.from(openEnvelope(envelope, dataKey).plaintext).equals(plaintext))
      throw new Error(`the envelope of ${size} bytes does not open to its plaintext`);
    if (!bareDec().equals(plaintext)) throw new Error(`the bare cipher of ${size} bytes does not decrypt to its plaintext`);
    const ops: { name: keyof Omit<EnvelopeRow, "bytes">; fn: () => void }[] = [
      { name: "seal", fn: () => void sealEnvelope(plaintext, dataKey, KEY, { context: "vm:00000000-0000-0000-0000-000000000000" }) },
      { name: "bareEncrypt", fn: () => void bareEnc() },
      { name: "open", fn: () => void openEnvelope(envelope, dataKey) },
      { name: "bareDecrypt", fn: () => void bareDec() },
      { name: "wrapKey", fn: () => void wrapKey() },
      { name: "unwrapKey", fn: () => void unwrapKey() },
    ];
    const got = new Map<string, Batch[]>(ops.map((op) => [op.name, []]));
    for (let r = -1; r < rounds; r++) {
      // Turn the order each round: no operation always runs right after the same other one.
      const order = ops.map((_, i) => ops[(i + Math.max(r, 0)) % ops.length]);
      for (const op of order) {
        const b = batch(op.fn, size, batchMs);
        if (r >= 0) got.get(op.name)!.push(b);
      }
    }
    rows.push({
      bytes: size,
      seal: cell(got.get("seal")!),
      bareEncrypt: cell(got.get("bareEncrypt")!),
      open: cell(got.get("open")!),
      bareDecrypt: cell(got.get("bareDecrypt")!),
      wrapKey: cell(got.get("wrapKey")!),
      unwrapKey: cell(got.get("unwrapKey")!),
    });
  }
  return rows;
}

/**
 * The rate of `openssl speed -evp aes-256-gcm -bytes N -seconds S` in MB/s (10^6 bytes; openssl prints 1000s of
 * bytes per second), or undefined when its output has no such line.
 */
export function parseOpensslSpeed(output: string): number | undefined {
  const m = /^(?:AES-256-GCM|aes-256-gcm)\s+([\d.]+)k\s*$/m.exec(output);
  return m ? Number(m[1]) / 1000 : undefined;
}

/** OpenSSL's own AES-256-GCM encrypt rate at `bytes`, MB/s; undefined with why when openssl is missing or says otherwise. */
export async function opensslSpeed(bytes: number, seconds = 1): Promise<{ mbPerS?: number; why?: string; version?: string }> {
  try {
    const version = (await run("openssl", ["version"])).stdout.trim();
    const r = await run("openssl", ["speed", "-evp", "aes-256-gcm", "-bytes", String(bytes), "-seconds", String(seconds)], { timeout: 60_000 });
    const mbPerS = parseOpensslSpeed(r.stdout);
    return mbPerS === undefined ? { why: `no AES-256-GCM line in openssl speed's output`, version } : { mbPerS, version };
  } catch (e) {
    return { why: (e as Error).message.split("\n")[0] };
  }
}
