/**
 * TCTI strings and transport failure modes: parseTcti for every form, malformed strings, and what
 * openTcti's transports do when nothing listens, nothing answers, or garbage comes back. Fake TPMs are
 * plain net.Servers; a real swtpm checks the happy path. No test may hang: each has a short t.timeout.
 */
import test, { type ExecutionContext } from "ava";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { DeviceTransport } from "./device_transport.ts";
import { TssError } from "./errors.ts";
import { SwtpmTransport } from "./socket_transport.ts";
import { openTcti, parseTcti } from "./tcti.ts";
import { Tpm } from "./tpm.ts";
import { rejectsTss, swtpmForTests } from "./_test_support.ts";
import { freePort } from "@tessera/process-testing";

const sim = swtpmForTests({ open: false });

// ---- helpers ----

/** A valid TPM2_GetRandom(8) response. */
function getRandomResponse(): Uint8Array {
  const r = new Uint8Array(20);
  const v = new DataView(r.buffer);
  v.setUint16(0, 0x8001);
  v.setUint32(2, 20);
  v.setUint32(6, 0);
  v.setUint16(10, 8);
  r.fill(0x5a, 12);
  return r;
}

/** A TPM response header declaring `size` bytes, rc 0. */
function header(size: number): Uint8Array {
  const r = new Uint8Array(10);
  const v = new DataView(r.buffer);
  v.setUint16(0, 0x8001);
  v.setUint32(2, size);
  return r;
}

interface FakeTpm {
  port: number;
  tcti: string;
  /** Number of connections accepted so far. */
  connections: () => number;
  close: () => Promise<void>;
}

/**
 * A TCP server posing as swtpm's data port. `onCommand(socket, connectionIndex)` runs when the first
 * command bytes of a connection arrive.
 */
async function fakeTpm(onCommand: (s: Socket, connection: number) => void): Promise<FakeTpm> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((s) => {
    const index = count++;
    sockets.add(s);
    s.on("error", () => undefined);
    s.once("close", () => sockets.delete(s));
    s.once("data", () => onCommand(s, index));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return {
    port: address.port,
    tcti: `swtpm:host=127.0.0.1,port=${address.port}`,
    connections: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}


/** Asserts that parseTcti(tcti) throws TSS_TCTI_CONFIG with a message mentioning `part`. */
function badTcti(t: ExecutionContext, tcti: string, part: string): void {
  const e = t.throws(() => parseTcti(tcti), { instanceOf: TssError }, tcti);
  if (!(e instanceof TssError)) return;
  t.is(e.code, "TSS_TCTI_CONFIG", tcti);
  t.true(e.message.includes(part), `message for ${JSON.stringify(tcti)} does not name ${JSON.stringify(part)}: ${e.message}`);
}

// ---- parseTcti ----

test("parseTcti: swtpm:host=H,port=P is TCP with the control channel on port+1", (t) => {
  t.deepEqual(parseTcti("swtpm:host=10.1.2.3,port=2321"), { kind: "swtpm-tcp", host: "10.1.2.3", port: 2321, ctrlPort: 2322 });
  t.deepEqual(parseTcti("swtpm:host=localhost,port=40000"), { kind: "swtpm-tcp", host: "localhost", port: 40000, ctrlPort: 40001 });
  t.deepEqual(parseTcti("swtpm:port=1234"), { kind: "swtpm-tcp", host: "127.0.0.1", port: 1234, ctrlPort: 1235 });
  t.deepEqual(parseTcti("swtpm:host=::1"), { kind: "swtpm-tcp", host: "::1", port: 2321, ctrlPort: 2322 });
  // Whitespace around keys and values is tolerated; an explicit control port wins.
  t.deepEqual(parseTcti("swtpm: host = 127.0.0.1 , port = 5000 "), { kind: "swtpm-tcp", host: "127.0.0.1", port: 5000, ctrlPort: 5001 });
  t.deepEqual(parseTcti("swtpm:host=127.0.0.1,port=5000,ctrlport=6000"), { kind: "swtpm-tcp", host: "127.0.0.1", port: 5000, ctrlPort: 6000 });
});

test("parseTcti: bare swtpm (and swtpm:) is 127.0.0.1:2321", (t) => {
  const expected = { kind: "swtpm-tcp", host: "127.0.0.1", port: 2321, ctrlPort: 2322 };
  t.deepEqual(parseTcti("swtpm"), expected);
  t.deepEqual(parseTcti("swtpm:"), expected);
});

test("parseTcti: swtpm:path=S is a Unix socket with control socket S.ctrl", (t) => {
  t.deepEqual(parseTcti("swtpm:path=/run/swtpm/sock"), { kind: "swtpm-unix", path: "/run/swtpm/sock", ctrlPath: "/run/swtpm/sock.ctrl" });
});

test("parseTcti: swtpm:path=S,ctrl=C uses the given control socket", (t) => {
  t.deepEqual(parseTcti("swtpm:path=/tmp/a.sock,ctrl=/tmp/b.ctrl"), { kind: "swtpm-unix", path: "/tmp/a.sock", ctrlPath: "/tmp/b.ctrl" });
  // Key order does not matter.
  t.deepEqual(parseTcti("swtpm:ctrl=/tmp/b.ctrl,path=/tmp/a.sock"), { kind: "swtpm-unix", path: "/tmp/a.sock", ctrlPath: "/tmp/b.ctrl" });
});

test("parseTcti: device:PATH and bare device (= /dev/tpmrm0)", (t) => {
  t.deepEqual(parseTcti("device:/dev/tpmrm0"), { kind: "device", path: "/dev/tpmrm0" });
  t.deepEqual(parseTcti("device:/dev/tpm0"), { kind: "device", path: "/dev/tpm0" });
  t.deepEqual(parseTcti("device"), { kind: "device", path: "/dev/tpmrm0" });
  t.deepEqual(parseTcti("device:"), { kind: "device", path: "/dev/tpmrm0" });
  // tpm2-tss also accepts device:path=...
  t.deepEqual(parseTcti("device:path=/dev/tpm0"), { kind: "device", path: "/dev/tpm0" });
});

test("parseTcti: malformed strings throw TSS_TCTI_CONFIG naming the bad part", (t) => {
  badTcti(t, "", '""');
  badTcti(t, "tabrmd:bus_name=com.intel.tss2.Tabrmd", '"tabrmd"');
  badTcti(t, "swtmp:host=127.0.0.1", '"swtmp"');
  badTcti(t, "swtpm:host", '"host"');
  badTcti(t, "swtpm:=2321", '"=2321"');
  badTcti(t, "swtpm:host=127.0.0.1,bogus=1", '"bogus"');
  badTcti(t, "swtpm:port=abc", '"abc"');
  badTcti(t, "swtpm:port=0", '"0"');
  badTcti(t, "swtpm:port=-5", '"-5"');
  badTcti(t, "swtpm:port=70000", '"70000"');
  badTcti(t, "swtpm:port=23.5", '"23.5"');
  badTcti(t, "swtpm:port=", "port");
  badTcti(t, "swtpm:port=2321,ctrlport=99999", "control port");
  badTcti(t, "mssim:host=127.0.0.1,port=2321", "mssim");
});

test("parseTcti: empty values are rejected instead of silently falling back to 127.0.0.1:2321", (t) => {
  // `swtpm:path=` (e.g. from an unset shell variable) must not quietly talk to a TCP swtpm on 2321.
  badTcti(t, "swtpm:path=", "path");
  badTcti(t, "swtpm:host=,port=2321", "host");
  badTcti(t, "swtpm:path=/tmp/a.sock,ctrl=", "ctrl");
});

test("openTcti builds the transport its string names", (t) => {
  const tcp = openTcti("swtpm:host=127.0.0.1,port=2321");
  t.true(tcp instanceof SwtpmTransport);
  t.is(tcp.description, "swtpm:host=127.0.0.1,port=2321");
  const unix = openTcti("swtpm:path=/tmp/x.sock");
  t.true(unix instanceof SwtpmTransport);
  t.is(unix.description, "swtpm:path=/tmp/x.sock");
  const dev = openTcti("device");
  t.true(dev instanceof DeviceTransport);
  t.is(dev.description, "device:/dev/tpmrm0");
  t.throws(() => openTcti("nope"), { instanceOf: TssError });
});

// ---- a real swtpm through a TCTI string ----

test.serial("openTcti(swtpm tcti) talks to swtpm; a closed transport rejects with TSS_CLOSED", async (t) => {
  t.timeout(10_000);
  const tpm = new Tpm(openTcti(sim.sw.tcti));
  try {
    const r = await tpm.getRandom(16);
    t.is(r.length, 16);
    // Same TCTI with an explicit control port: the control channel works (SET_LOCALITY 0).
    const withCtrl = openTcti(`${sim.sw.tcti},ctrlport=${sim.sw.ctrlPort}`);
    t.true(withCtrl instanceof SwtpmTransport);
    if (withCtrl instanceof SwtpmTransport) await withCtrl.setLocality(0);
    await withCtrl.close();
  } finally {
    await tpm.close();
  }
  await rejectsTss(t, tpm.getRandom(8), "TSS_CLOSED");
});

// ---- nothing there ----

test.serial("openTcti against a closed TCP port → TSS_TPM_ABSENT", async (t) => {
  t.timeout(10_000);
  const port = await freePort();
  const tpm = new Tpm(openTcti(`swtpm:host=127.0.0.1,port=${port}`));
  const e = await rejectsTss(t, tpm.getRandom(8), "TSS_TPM_ABSENT");
  t.true(e.message.includes(String(port)), e.message);
  // The control channel reports the same.
  const transport = openTcti(`swtpm:host=127.0.0.1,port=${port}`);
  if (!(transport instanceof SwtpmTransport)) throw new Error("not a SwtpmTransport");
  await rejectsTss(t, transport.powerOn(), "TSS_TPM_ABSENT");
  await tpm.close();
});

test.serial("openTcti against a missing Unix socket → TSS_TPM_ABSENT", async (t) => {
  t.timeout(10_000);
  const sock = path.join(os.tmpdir(), `tessera-no-such-${process.pid}.sock`);
  const tpm = Tpm.open(`swtpm:path=${sock}`);
  const e = await rejectsTss(t, tpm.getRandom(8), "TSS_TPM_ABSENT");
  t.true(e.message.includes(sock), e.message);
  await tpm.close();
});

test.serial("a device path that does not exist → TSS_TPM_ABSENT", async (t) => {
  t.timeout(10_000);
  const dev = path.join(os.tmpdir(), `tessera-no-such-tpm-${process.pid}`);
  const tpm = Tpm.open(`device:${dev}`);
  const e = await rejectsTss(t, tpm.getRandom(8), "TSS_TPM_ABSENT");
  t.true(e.message.includes(dev), e.message);
  await tpm.close();
});

test.serial("a device that returns end-of-file (/dev/null) → TSS_IO", async (t) => {
  t.timeout(10_000);
  const tpm = Tpm.open("device:/dev/null");
  const e = await rejectsTss(t, tpm.getRandom(8), "TSS_IO");
  t.regex(e.message, /end of file/);
  await tpm.close();
});

// ---- something there that misbehaves ----

test.serial("a server that accepts but never answers → TSS_TIMEOUT naming timeoutMs", async (t) => {
  t.timeout(10_000);
  const fake = await fakeTpm(() => undefined);
  try {
    const tpm = Tpm.open(fake.tcti, { timeoutMs: 300 });
    const e = await rejectsTss(t, tpm.getRandom(8), "TSS_TIMEOUT");
    t.regex(e.message, /300 ms/);
    await tpm.close();
  } finally {
    await fake.close();
  }
});

test.serial("a slow answer well within timeoutMs is not cut off", async (t) => {
  t.timeout(30_000);
  // The answer comes after 200 ms; the timeout is 20 s: a timer that fired early (or ignored timeoutMs for a
  // shorter default) would reject.
  const fake = await fakeTpm((s) => void setTimeout(() => s.write(getRandomResponse()), 200));
  try {
    const tpm = Tpm.open(fake.tcti, { timeoutMs: 20_000 });
    t.is((await tpm.getRandom(8)).length, 8);
    await tpm.close();
  } finally {
    await fake.close();
  }
});

test.serial("after a timeout the transport reconnects and the next command gets its own response", async (t) => {
  t.timeout(10_000);
  // Connection 0 never answers; later connections answer properly.
  const fake = await fakeTpm((s, i) => {
    if (i > 0) s.write(getRandomResponse());
  });
  try {
    const tpm = Tpm.open(fake.tcti, { timeoutMs: 300 });
    await rejectsTss(t, tpm.getRandom(8), "TSS_TIMEOUT");
    const r = await tpm.getRandom(8);
    t.deepEqual(r, new Uint8Array(8).fill(0x5a));
    t.is(fake.connections(), 2);
    await tpm.close();
  } finally {
    await fake.close();
  }
});

for (const [what, size] of [
  ["an oversized header", 0x7fffffff],
  ["a header shorter than a header", 6],
] as const) {
  test.serial(`a server that answers with ${what} → TSS_IO`, async (t) => {
    t.timeout(10_000);
    const fake = await fakeTpm((s) => s.write(header(size)));
    try {
      const tpm = Tpm.open(fake.tcti, { timeoutMs: 5000 });
      const e = await rejectsTss(t, tpm.getRandom(8), "TSS_IO");
      t.regex(e.message, /impossible size/);
      await tpm.close();
    } finally {
      await fake.close();
    }
  });
}

test.serial("a server that answers garbage (an HTTP reply) → TSS_IO, then recovers on a new connection", async (t) => {
  t.timeout(10_000);
  const fake = await fakeTpm((s, i) => {
    if (i === 0) s.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    else s.write(getRandomResponse());
  });
  try {
    const tpm = Tpm.open(fake.tcti, { timeoutMs: 5000 });
    await rejectsTss(t, tpm.getRandom(8), "TSS_IO");
    t.deepEqual(await tpm.getRandom(8), new Uint8Array(8).fill(0x5a));
    await tpm.close();
  } finally {
    await fake.close();
  }
});

test.serial("a server that sends more bytes than the response declares → TSS_IO", async (t) => {
  t.timeout(10_000);
  const fake = await fakeTpm((s) => {
    const r = getRandomResponse();
    const more = new Uint8Array(r.length + 4);
    more.set(r);
    s.write(more);
  });
  try {
    const tpm = Tpm.open(fake.tcti, { timeoutMs: 5000 });
    const e = await rejectsTss(t, tpm.getRandom(8), "TSS_IO");
    t.regex(e.message, /more than the response declared/);
    await tpm.close();
  } finally {
    await fake.close();
  }
});

test.serial("a server that closes mid-response → TSS_IO", async (t) => {
  t.timeout(10_000);
  const fake = await fakeTpm((s) => {
    s.end(getRandomResponse().subarray(0, 14));
  });
  try {
    const tpm = Tpm.open(fake.tcti, { timeoutMs: 5000 });
    const e = await rejectsTss(t, tpm.getRandom(8), "TSS_IO");
    t.regex(e.message, /closed after 14 bytes/);
    await tpm.close();
  } finally {
    await fake.close();
  }
});

test.serial("a server that closes without answering → TSS_IO", async (t) => {
  t.timeout(10_000);
  const fake = await fakeTpm((s) => s.destroy());
  try {
    const tpm = Tpm.open(fake.tcti, { timeoutMs: 5000 });
    await rejectsTss(t, tpm.getRandom(8), "TSS_IO");
    await tpm.close();
  } finally {
    await fake.close();
  }
});

test.serial("a control channel that answers with a non-zero result → TSS_IO naming the result", async (t) => {
  t.timeout(10_000);
  // The fake listens on the data port; the control port is the same fake (ctrlport=P).
  const fake = await fakeTpm((s) => s.write(Uint8Array.of(0, 0, 0, 0x0a)));
  try {
    const transport = openTcti(`${fake.tcti},ctrlport=${fake.port}`, { timeoutMs: 5000 });
    if (!(transport instanceof SwtpmTransport)) throw new Error("not a SwtpmTransport");
    const e = await rejectsTss(t, transport.powerOn(), "TSS_IO");
    t.regex(e.message, /0xa/);
    await transport.close();
  } finally {
    await fake.close();
  }
});
