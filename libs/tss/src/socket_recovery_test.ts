/**
 * The swtpm socket transport against a fake TPM on a real TCP socket: per-class timeouts, a connection
 * whose answer never comes (dropped and reopened on the next command), and commands aborted before
 * their turn (never sent).
 */
import test from "ava";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { TPM_CC } from "@tessera/tpm2";
import { CommandAbortedError, TssError } from "./errors.ts";
import { SwtpmTransport } from "./socket_transport.ts";
import { Tpm } from "./tpm.ts";

/** A GetRandom response carrying `bytes`. */
function randomResponse(bytes: Uint8Array): Uint8Array {
  const r = new Uint8Array(12 + bytes.length);
  const v = new DataView(r.buffer);
  v.setUint16(0, 0x8001);
  v.setUint32(2, r.length);
  v.setUint32(6, 0);
  v.setUint16(10, bytes.length);
  r.set(bytes, 12);
  return r;
}

interface Fake {
  server: Server;
  port: number;
  /** Command codes received, per connection. */
  received: number[][];
  close(): Promise<void>;
}

/** A fake TPM: `answer(connection index, command index)` says whether to answer GetRandom with 0x42s. */
async function fakeTpm(answer: (conn: number, cmd: number) => boolean): Promise<Fake> {
  const sockets = new Set<Socket>();
  const received: number[][] = [];
  const server = createServer((s) => {
    sockets.add(s);
    const conn = received.length;
    const mine: number[] = [];
    received.push(mine);
    s.on("error", () => undefined);
    s.on("data", (d) => {
      const cc = d.readUInt32BE(6);
      mine.push(cc);
      if (answer(conn, mine.length - 1)) s.write(randomResponse(new Uint8Array(d.readUInt16BE(10)).fill(0x42)));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return {
    server,
    port: address.port,
    received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test("per-class timeouts: TransportOptions.timeouts.short applies to GetRandom; timeoutMs overrides every class", async (t) => {
  const fake = await fakeTpm(() => false);
  try {
    const tpm = Tpm.open(`swtpm:host=127.0.0.1,port=${fake.port}`, { timeouts: { short: 150, standard: 600_000, long: 600_000 } });
    const e = await t.throwsAsync(tpm.getRandom(8), { instanceOf: TssError });
    t.is(e?.code, "TSS_TIMEOUT");
    t.regex(e?.message ?? "", /no response within 150 ms/);
    await tpm.close();
    const all = Tpm.open(`swtpm:host=127.0.0.1,port=${fake.port}`, { timeoutMs: 120, timeouts: { short: 600_000 } });
    const e2 = await t.throwsAsync(all.getRandom(8), { instanceOf: TssError });
    t.regex(e2?.message ?? "", /no response within 120 ms/);
    await all.close();
  } finally {
    await fake.close();
  }
});

test("an answer that never comes: after one more timeout period the connection is dropped; the next command reconnects and is answered", async (t) => {
  // The first connection never answers; later connections do.
  const fake = await fakeTpm((conn) => conn > 0);
  const transport = new SwtpmTransport({ host: "127.0.0.1", port: fake.port }, { host: "127.0.0.1", port: fake.port + 1 }, { timeoutMs: 150 });
  const tpm = new Tpm(transport);
  try {
    const e = await t.throwsAsync(tpm.getRandom(8), { instanceOf: TssError });
    t.is(e?.code, "TSS_TIMEOUT");
    t.deepEqual(await tpm.getRandom(4), new Uint8Array(4).fill(0x42));
    t.is(transport.epoch, 1);
    t.deepEqual(fake.received, [[TPM_CC.GetRandom], [TPM_CC.GetRandom]]);
  } finally {
    await tpm.close();
    await fake.close();
  }
});

test("commands aborted while queued are never sent; an AbortSignal already aborted sends nothing", async (t) => {
  // Answers every command but the first on the first connection.
  const fake = await fakeTpm((conn, cmd) => conn > 0 || cmd > 0);
  const transport = new SwtpmTransport({ host: "127.0.0.1", port: fake.port }, { host: "127.0.0.1", port: fake.port + 1 }, { timeoutMs: 300 });
  const tpm = new Tpm(transport);
  try {
    const ac = new AbortController();
    const first = tpm.getRandom(8, { signal: ac.signal });
    const queued = Array.from({ length: 3 }, () => {
      const c = new AbortController();
      return { c, p: tpm.getRandom(8, { signal: c.signal }) };
    });
    await new Promise((r) => setImmediate(r));
    for (const q of queued) q.c.abort();
    for (const q of queued) {
      const e = await t.throwsAsync(q.p, { instanceOf: CommandAbortedError });
      t.is(e?.lateResponse, undefined);
      t.regex(e?.message ?? "", /aborted before it was sent/);
    }
    ac.abort();
    const e = await t.throwsAsync(first, { instanceOf: CommandAbortedError });
    t.not(e?.lateResponse, undefined);
    await t.throwsAsync(tpm.getRandom(8, { signal: AbortSignal.abort() }), { instanceOf: CommandAbortedError });
    // The first command's answer never comes: the next command waits for it (one more timeout period), then reconnects.
    t.deepEqual(await tpm.getRandom(2), Uint8Array.of(0x42, 0x42));
    t.deepEqual(fake.received, [[TPM_CC.GetRandom], [TPM_CC.GetRandom]], "the aborted commands were never sent");
  } finally {
    await tpm.close();
    await fake.close();
  }
});
