/**
 * The envelope's throughput (libs/vtpm) against the bare cipher it is built on: one node:crypto AES-256-GCM pass
 * over the same bytes with a key given as bytes (`createCipheriv("aes-256-gcm", createSecretKey(key), iv)`, the
 * fastest way node:crypto offers: with the raw bytes as the key it costs ~10 µs more per call), the output left as
 * node:crypto's pieces (ciphertext, tag), in the same process. The envelope's seal is measured as the vTPM writes
 * vm.nvram — `sealEnvelopeParts`, its pieces (header, ciphertext, tag) handed to writev — and, apart, as one joined
 * array (`sealEnvelope`, one copy more than the bare cipher makes). A rewrap's cost per call, beside. The operations
 * run in interleaved batches (the order turned each round) so that a change of machine speed — other processes,
 * frequency — hits all of them alike; each one's rate is its median batch's, a ratio the median of the rounds'
 * ratios ({@link pairedRatio}). Beside the wall-clock rate, the rate per CPU second of this process
 * (process.cpuUsage over the batch), which other processes' load on the machine moves less.
 *
 * A second peer, optional: `openssl speed -evp aes-256-gcm -bytes N -seconds 1` (OpenSSL's own loop, encrypt only),
 * parsed from its last line.
 * @module
 */
import { execFile } from "node:child_process";
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { xorshift32 } from "@tessera/fixtures";
import { openEnvelope, rewrapEnvelope, sealEnvelope, sealEnvelopeParts, type EnvelopeKey } from "@tessera/vtpm";

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
 * The median over rounds of a's rate ÷ b's rate in the same round: batches of one round ran within a second of each
 * other, so a slow spell of the machine (other processes) divides out instead of landing on one side.
 */
export function pairedRatio(a: ThroughputCell, b: ThroughputCell, by: "mbPerS" | "mbPerCpuS" = "mbPerS"): number {
  return median(a.rounds.map((r, i) => r[by] / b.rounds[i][by]));
}

/** A paired ratio with a 95% bootstrap interval of it: {@link pairedRatioInterval}. */
export interface RatioInterval {
  /** {@link pairedRatio}: the median over rounds of the two batches' ratio in the same round. */
  readonly ratio: number;
  /** The 2.5th and 97.5th percentiles of that median over resamples of the rounds. */
  readonly low: number;
  readonly high: number;
}

/**
 * {@link pairedRatio} and how far this run's noise leaves it: the rounds' ratios are resampled with replacement
 * (`resamples` times, from a fixed seed, so a run's interval is reproducible from its rounds), and the median of each
 * resample taken; the interval holds the middle 95% of those medians. On this machine the middle 80% of the rounds'
 * ratios at 8 KiB spans about 0.45–0.55 to 1.1–2.1 (a batch of 15 ms is moved by the machine by up to 2×), so a median
 * over 60 rounds moves by about ±0.05 between runs of the same code: the interval says so in the run itself.
 */
export function pairedRatioInterval(a: ThroughputCell, b: ThroughputCell, by: "mbPerS" | "mbPerCpuS" = "mbPerS", resamples = 2000): RatioInterval {
  const ratios = a.rounds.map((r, i) => r[by] / b.rounds[i][by]);
  const n = ratios.length;
  const next = xorshift32(0xb007 + n);
  const medians = new Float64Array(resamples);
  const sample = new Float64Array(n);
  for (let k = 0; k < resamples; k++) {
    for (let i = 0; i < n; i++) sample[i] = ratios[next() % n];
    sample.sort();
    const m = n >> 1;
    medians[k] = n % 2 ? sample[m] : (sample[m - 1] + sample[m]) / 2;
  }
  medians.sort();
  const at = (q: number): number => medians[Math.min(resamples - 1, Math.floor(q * resamples))];
  return { ratio: median(ratios), low: at(0.025), high: at(0.975) };
}

/** The operations at one content size. */
export interface EnvelopeRow {
  readonly bytes: number;
  /** sealEnvelopeParts: the envelope as pieces (what a file is written from). */
  readonly seal: ThroughputCell;
  /** sealEnvelope: the pieces joined into one array. */
  readonly sealJoined: ThroughputCell;
  readonly bareEncrypt: ThroughputCell;
  readonly open: ThroughputCell;
  readonly bareDecrypt: ThroughputCell;
  /** rewrapEnvelope to a new data key (the content checked once under the old one, the tag recomputed): µs per call = bytes ÷ MB/s. */
  readonly rewrap: ThroughputCell;
}

/** Options of {@link benchEnvelope}. */
export interface EnvelopeOptions {
  /** Content sizes in bytes (default 8 KiB, 1 MiB, 32 MiB). */
  readonly sizes?: readonly number[];
  /**
   * Timed rounds (default 240 for contents up to 1 MiB, 60 above), after untimed ones for at least a second (the process's compiler threads settle: the
   * suite runs first, right after the bench's modules were loaded). Many short rounds rather than a few long ones: this machine's
   * speed moves within a second, and a round's batches are compared with each other ({@link pairedRatio}) — with 15
   * rounds of 60 ms the same code's 8 KiB open ratio ranged 0.66–0.87 between runs, with 90 of 10 ms 0.69–0.78.
   * The middle 80% of the rounds' ratios spans about 0.45–0.55 to 1.1–2.1 at 8 KiB and 0.65 to 1.5 at 1 MiB (~10 calls
   * a batch): contents up to 1 MiB get four times the rounds (half the median's noise, {@link
   * pairedRatioInterval}), some 30 s more for each size.
   */
  readonly rounds?: number;
  /** A batch's length, ms (default 15; at least three calls, so that a 32 MiB batch is not one call's luck). */
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

/** A Fisher–Yates shuffle of a copy. */
function shuffled<T>(xs: readonly T[], next: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** A full garbage collection, through V8's gc() made reachable at run time (no command-line flag needed). */
const collectGarbage: () => void = (() => {
  v8.setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();

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
  const batchMs = o.batchMs ?? 15;
  const rows: EnvelopeRow[] = [];
  for (const size of sizes) {
    const rounds = o.rounds ?? (size <= 1024 * 1024 ? 240 : 60);
    const plaintext = new Uint8Array(randomBytes(size));
    const dataKey = new Uint8Array(randomBytes(32));
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const context = { context: "vm:00000000-0000-0000-0000-000000000000" };
    const envelope = sealEnvelope(plaintext, dataKey, KEY, context);
    // The bare peer: one AES-256-GCM pass, its pieces; decrypt checks the tag as openEnvelope does.
    const bareEnc = (): { body: Buffer; tag: Buffer } => {
      const c = createCipheriv("aes-256-gcm", createSecretKey(key), nonce);
      const body = c.update(plaintext);
      c.final();
      return { body, tag: c.getAuthTag() };
    };
    const sealed = bareEnc();
    const bareDec = (): Buffer => {
      const d = createDecipheriv("aes-256-gcm", createSecretKey(key), nonce);
      d.setAuthTag(sealed.tag);
      const out = d.update(sealed.body);
      d.final();
      return out;
    };
    const nextKey = new Uint8Array(randomBytes(32));
    if (!Buffer.from(openEnvelope(envelope, dataKey).plaintext).equals(plaintext))
      throw new Error(`the envelope of ${size} bytes does not open to its plaintext`);
    const pieces = sealEnvelopeParts(plaintext, dataKey, KEY, context);
    if (!Buffer.from(openEnvelope(Buffer.concat(pieces), dataKey).plaintext).equals(plaintext))
      throw new Error(`the envelope's pieces of ${size} bytes do not open to their plaintext`);
    if (!Buffer.from(openEnvelope(rewrapEnvelope(envelope, dataKey, KEY, nextKey), nextKey).plaintext).equals(plaintext))
      throw new Error(`the rewrapped envelope of ${size} bytes does not open to its plaintext`);
    if (!bareDec().equals(plaintext)) throw new Error(`the bare cipher of ${size} bytes does not decrypt to its plaintext`);
    const ops: { name: keyof Omit<EnvelopeRow, "bytes">; fn: () => void }[] = [
      { name: "seal", fn: () => void sealEnvelopeParts(plaintext, dataKey, KEY, context) },
      { name: "bareEncrypt", fn: () => void bareEnc() },
      { name: "open", fn: () => void openEnvelope(envelope, dataKey) },
      { name: "bareDecrypt", fn: () => void bareDec() },
      { name: "sealJoined", fn: () => void sealEnvelope(plaintext, dataKey, KEY, context) },
      { name: "rewrap", fn: () => void rewrapEnvelope(envelope, dataKey, KEY, nextKey) },
    ];
    const got = new Map<string, Batch[]>(ops.map((op) => [op.name, []]));
    const next = xorshift32(0x5eed + size); // the same shuffles in every run
    // Untimed rounds until a second has passed (at least one), then `rounds` timed ones.
    const warmUntil = performance.now() + 1000;
    for (let timed = 0; timed < rounds;) {
      const warming = performance.now() < warmUntil;
      // A new order each round (a seeded shuffle): a rotation would keep each operation right after the same other one,
      // and so bill it for that one's garbage (a 32 MiB rewrap's before every seal). And the heap collected before
      // each batch: every batch starts without the garbage of the one before.
      for (const op of shuffled(ops, next)) {
        collectGarbage();
        const b = batch(op.fn, size, batchMs);
        if (!warming) got.get(op.name)!.push(b);
      }
      if (!warming) timed++;
    }
    const cellOf = (name: keyof Omit<EnvelopeRow, "bytes">): ThroughputCell => cell(got.get(name)!);
    rows.push({
      bytes: size,
      seal: cellOf("seal"),
      sealJoined: cellOf("sealJoined"),
      bareEncrypt: cellOf("bareEncrypt"),
      open: cellOf("open"),
      bareDecrypt: cellOf("bareDecrypt"),
      rewrap: cellOf("rewrap"),
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
