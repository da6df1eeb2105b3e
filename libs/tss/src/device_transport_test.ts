/**
 * The `device:` transport through a real character device: a pseudo-terminal bridged to swtpm by
 * socat behaves like /dev/tpmrm0 (write a command, read the response). tpm2-tools' own device TCTI
 * must work through the same bridge. Only one client may use a bridge at a time.
 */
import test from "ava";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import path from "node:path";
import { startPtyBridge, startSwtpm, type PtyBridge, type SwtpmInstance } from "@tessera/swtpm-testing";
import { ekTemplate, objectName, pcrSelection, TPM_ALG, TPM_HT, TPM_RH } from "@tessera/tpm2";
import { DeviceTransport } from "./device_transport.ts";
import { Tpm } from "./tpm.ts";
import { rejectsTss, tpm2Tool } from "./_test_support.ts";

let sw: SwtpmInstance;
let bridge: PtyBridge;

test.before(async () => {
  sw = await startSwtpm();
  if (sw.host === undefined || sw.port === undefined) throw new Error("swtpm has no TCP port");
  bridge = await startPtyBridge(sw.host, sw.port);
});

test.after.always(async () => {
  await bridge?.stop();
  await sw?.stop();
});

const SHA256 = TPM_ALG.SHA256;

test.serial("Tpm.open(device:PTY): getRandom, pcrRead, createPrimary/flush", async (t) => {
  t.timeout(20_000);
  const tpm = Tpm.open(`device:${bridge.path}`);
  try {
    t.true(tpm.transport instanceof DeviceTransport);
    t.is(tpm.transport.description, `device:${bridge.path}`);
    t.is((await tpm.getRandom(100)).length, 100);

    const pcrs = await tpm.pcrRead([pcrSelection(SHA256, [0, 7, 16, 17, 23])]);
    const bank = pcrs.get(SHA256);
    t.deepEqual(
      [...(bank?.keys() ?? [])].sort((a, b) => a - b),
      [0, 7, 16, 17, 23],
    );
    t.deepEqual(bank?.get(0), new Uint8Array(32));
    t.deepEqual(bank?.get(17), new Uint8Array(32).fill(0xff)); // DRTM PCRs start at all ones

    for (const kind of ["ecc-p256", "rsa2048"] as const) {
      const key = await tpm.createPrimary(TPM_RH.ENDORSEMENT, ekTemplate(kind));
      t.is(key.handle >>> 24, TPM_HT.TRANSIENT);
      t.deepEqual(key.name, objectName(key.public));
      t.deepEqual((await tpm.readPublic(key.handle)).name, key.name);
      t.true((await tpm.handles(TPM_HT.TRANSIENT)).includes(key.handle));
      await tpm.flush(key.handle);
    }
    // No resource manager behind a pty: whatever we do not flush stays loaded.
    t.deepEqual(await tpm.handles(TPM_HT.TRANSIENT), []);
  } finally {
    await tpm.close();
  }
});

test.serial("the device can be closed and opened again; a closed transport rejects with TSS_CLOSED", async (t) => {
  t.timeout(20_000);
  for (let i = 0; i < 3; i++) {
    const tpm = Tpm.open(`device:${bridge.path}`);
    t.is((await tpm.getRandom(8)).length, 8);
    await tpm.close();
    await rejectsTss(t, tpm.getRandom(8), "TSS_CLOSED");
  }
});

test.serial("parallel commands on one device Tpm are serialized", async (t) => {
  t.timeout(20_000);
  const tpm = Tpm.open(`device:${bridge.path}`);
  try {
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => tpm.getRandom(1 + i)));
    results.forEach((r, i) => t.is(r.length, 1 + i));
  } finally {
    await tpm.close();
  }
});

test.serial("tpm2-tools' device TCTI works through the same pty and agrees with Tpm on PCR values", async (t) => {
  t.timeout(30_000);
  // Our side first, then close: one client at a time.
  const tpm = Tpm.open(`device:${bridge.path}`);
  const ours = (await tpm.pcrRead([pcrSelection(SHA256, [0, 16, 17])])).get(SHA256);
  await tpm.close();

  const hex = tpm2Tool(t, "tpm2_getrandom", ["-T", `device:${bridge.path}`, "8", "--hex"]).trim();
  t.regex(hex, /^[0-9a-f]{16}$/);

  const out = path.join(sw.dir, "pcrs.bin");
  tpm2Tool(t, "tpm2_pcrread", ["-T", `device:${bridge.path}`, "sha256:0,16,17", "-o", out]);
  const theirs = new Uint8Array(await readFile(out));
  t.is(theirs.length, 96);
  t.deepEqual(theirs.subarray(0, 32), ours?.get(0));
  t.deepEqual(theirs.subarray(32, 64), ours?.get(16));
  t.deepEqual(theirs.subarray(64, 96), ours?.get(17));

  // And our transport still works after tpm2-tools used the device.
  const again = Tpm.open(`device:${bridge.path}`);
  try {
    t.is((await again.getRandom(8)).length, 8);
  } finally {
    await again.close();
  }
});

// ---- a device that misbehaves: a pty bridged to a fake TPM ----

async function fakeDevice(onCommand: (s: Socket) => void): Promise<{ bridge: PtyBridge; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("data", () => onCommand(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  const b = await startPtyBridge("127.0.0.1", address.port);
  return {
    bridge: b,
    close: async () => {
      await b.stop();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test.serial("a device that never answers → TSS_TIMEOUT naming timeoutMs", async (t) => {
  t.timeout(20_000);
  const fake = await fakeDevice(() => undefined);
  try {
    const tpm = Tpm.open(fake.bridge.tcti, { timeoutMs: 300 });
    const e = await rejectsTss(t, tpm.getRandom(8), "TSS_TIMEOUT");
    t.regex(e.message, /300 ms/);
    await tpm.close();
  } finally {
    // Stopping socat ends the read the timed-out exchange left behind.
    await fake.close();
  }
});

test.serial("a device that answers an impossible header → TSS_IO", async (t) => {
  t.timeout(20_000);
  const fake = await fakeDevice((s) => s.write(Uint8Array.of(0x80, 0x01, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0)));
  try {
    const tpm = Tpm.open(fake.bridge.tcti, { timeoutMs: 5000 });
    const e = await rejectsTss(t, tpm.getRandom(8), "TSS_IO");
    t.regex(e.message, /impossible size/);
    await tpm.close();
  } finally {
    await fake.close();
  }
});
