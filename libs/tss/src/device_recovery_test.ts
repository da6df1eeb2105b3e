/**
 * A device transport that outlives trouble, through socat's pty bridge to swtpm (behaves like
 * /dev/tpmrm0 without the resource manager): the device disappearing and coming back, a command that
 * times out, a command that is aborted, and permission errors.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { constants } from "node:fs";
import { mkdtemp, open, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startPtyBridge, startSwtpm, type PtyBridge, type SwtpmInstance } from "@tessera/swtpm-testing";
import { pcrSelection, srkTemplate, TPM_ALG, TPM_HT, TPM_RH } from "@tessera/tpm2";
import { DeviceTransport } from "./device_transport.ts";
import { CommandAbortedError, HandlesLostError } from "./errors.ts";
import { Tpm } from "./tpm.ts";
import { rejectsTss } from "./_test_support.ts";

let sw: SwtpmInstance;
let bridge: PtyBridge;
let dir: string;
/** A stable device path (like /dev/tpmrm0) that points at the current bridge's pty. */
let device: string;

async function newBridge(): Promise<void> {
  if (sw.host === undefined || sw.port === undefined) throw new Error("swtpm has no TCP port");
  bridge = await startPtyBridge(sw.host, sw.port);
  await unlink(device).catch(() => undefined);
  await symlink(bridge.ptsPath, device);
}

test.before(async () => {
  sw = await startSwtpm();
  dir = await mkdtemp(path.join(tmpdir(), "tss-device-"));
  device = path.join(dir, "tpmrm0");
  await newBridge();
});

test.after.always(async () => {
  if (sw?.pid) process.kill(sw.pid, "SIGCONT");
  await bridge?.stop();
  await sw?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const SHA256 = TPM_ALG.SHA256;
const PCRS = [pcrSelection(SHA256, [0, 16, 17])];

/** Stops swtpm (SIGSTOP) for the duration of `fn`: commands sent meanwhile are answered after it. */
function freeze(): () => void {
  const pid = sw.pid;
  if (pid === undefined) throw new Error("swtpm is not running");
  process.kill(pid, "SIGSTOP");
  return () => process.kill(pid, "SIGCONT");
}

test.serial("the device goes away and comes back: the transport reopens it and the Tpm reports the object that was lost meanwhile", async (t) => {
  t.timeout(60_000);
  let opens = 0;
  const lostEvents: HandlesLostError[] = [];
  const transport = new DeviceTransport(device, {
    openFile: (p, flags) => {
      opens++;
      return open(p, flags);
    },
  });
  const tpm = new Tpm(transport, { onHandlesLost: (e) => lostEvents.push(e) });
  try {
    const a = await tpm.createPrimary(TPM_RH.OWNER, srkTemplate());
    const b = await tpm.createPrimary(TPM_RH.ENDORSEMENT, srkTemplate());
    t.deepEqual(
      tpm.loadedHandles,
      [a.handle, b.handle].sort((x, y) => x - y),
    );
    t.is(opens, 1);

    // The device goes away (socat exits, the pty hangs up): the command fails, the transport is not finished.
    await bridge.stop();
    await rejectsTss(t, tpm.getRandom(8), "TSS_IO");
    t.is(transport.epoch, 1);

    // Meanwhile `a` disappears from the TPM (as every object of the old descriptor does behind /dev/tpmrm0).
    const other = Tpm.open(sw.tcti);
    await other.flush(a.handle);
    await other.close();
    await newBridge();

    t.is((await tpm.getRandom(8)).length, 8);
    t.is(opens, 2);
    t.is(lostEvents.length, 1);
    t.deepEqual(lostEvents[0].handles, [a.handle]);
    t.is(lostEvents[0].code, "TSS_HANDLE_LOST");
    t.deepEqual(tpm.loadedHandles, [b.handle]);

    const e = await rejectsTss(t, tpm.readPublic(a.handle), "TSS_HANDLE_LOST");
    t.true(e instanceof HandlesLostError);
    t.regex(e.message, new RegExp(`0x${a.handle.toString(16)} was lost: device:${device} was reopened`));
    t.deepEqual((await tpm.readPublic(b.handle)).name, b.name);
    await tpm.flush(a.handle); // forgets the lost handle; nothing to flush in the TPM
    await tpm.flush(b.handle);
    t.deepEqual(tpm.loadedHandles, []);
    t.deepEqual(await tpm.handles(TPM_HT.TRANSIENT), []);
  } finally {
    await tpm.close();
  }
});

test.serial("a command that times out: its late answer is discarded and the next command gets its own answer", async (t) => {
  t.timeout(60_000);
  const tpm = Tpm.open(`device:${device}`);
  try {
    const before = await tpm.pcrRead(PCRS);
    const thaw = freeze();
    try {
      const e = await rejectsTss(t, tpm.getRandom(8, { timeoutMs: 200 }), "TSS_TIMEOUT");
      t.regex(e.message, /no response within 200 ms/);
    } finally {
      thaw();
    }
    t.deepEqual(await tpm.pcrRead(PCRS), before);
    t.is((await tpm.getRandom(16)).length, 16);
    t.is(tpm.transport.epoch, 0, "the late answer came: the descriptor was kept");
  } finally {
    await tpm.close();
  }
});

test.serial(
  "an aborted CreatePrimary: rejected at once, its late answer discarded (and its object flushed), the next command answered correctly",
  async (t) => {
    t.timeout(60_000);
    const tpm = Tpm.open(`device:${device}`);
    try {
      const before = await tpm.pcrRead(PCRS);
      const thaw = freeze();
      let next: Promise<unknown> | undefined;
      try {
        const ac = new AbortController();
        const creating = tpm.createPrimary(TPM_RH.OWNER, srkTemplate(), { signal: ac.signal });
        await new Promise((r) => setImmediate(r)); // the command is written
        ac.abort(new Error("caller gave up"));
        const e = await t.throwsAsync(creating, { instanceOf: CommandAbortedError });
        t.is(e?.code, "TSS_ABORTED");
        t.not(e?.lateResponse, undefined, "the command had been sent");
        // Queued behind the aborted one; aborted before its turn: never sent.
        const ac2 = new AbortController();
        const queued = tpm.getRandom(8, { signal: ac2.signal });
        ac2.abort();
        const e2 = await t.throwsAsync(queued, { instanceOf: CommandAbortedError });
        t.is(e2?.lateResponse, undefined);
        next = tpm.pcrRead(PCRS);
      } finally {
        thaw();
      }
      t.deepEqual(await next, before);
      t.deepEqual(await tpm.handles(TPM_HT.TRANSIENT), [], "the object the aborted command created was flushed");
      t.deepEqual(tpm.loadedHandles, []);
      t.is(tpm.transport.epoch, 0);
    } finally {
      await tpm.close();
    }
  },
);

test.serial("EACCES opening the device → TSS_PERMISSION naming the device and the tss group (not TSS_TPM_ABSENT)", async (t) => {
  // Root bypasses file modes, but not /proc/sys's: opening a read-only sysctl for writing is EACCES for root too.
  const p = "/proc/sys/kernel/osrelease";
  const tpm = new Tpm(new DeviceTransport(p));
  const e = await rejectsTss(t, tpm.getRandom(8), "TSS_PERMISSION");
  t.regex(e.message, /device:\/proc\/sys\/kernel\/osrelease: permission denied opening \/proc\/sys\/kernel\/osrelease .*\(EACCES\).*tss/);
  t.is((e.cause as NodeJS.ErrnoException).code, "EACCES");
  await tpm.close();
});

test.serial("EPERM opening the device (an immutable file) → TSS_PERMISSION", async (t) => {
  const p = path.join(dir, "immutable");
  await writeFile(p, "");
  const chattr = spawnSync("chattr", ["+i", p], { encoding: "utf8" });
  t.is(chattr.status, 0, `chattr +i: ${chattr.stderr}`);
  try {
    const e = await rejectsTss(t, new DeviceTransport(p).send(new Uint8Array(10)), "TSS_PERMISSION");
    t.regex(e.message, /\(EPERM\)/);
  } finally {
    spawnSync("chattr", ["-i", p]);
  }
});

test.serial("an injected openFile sees the device's path and flags", async (t) => {
  const seen: [string, number][] = [];
  const tpm = new Tpm(
    new DeviceTransport(device, {
      openFile: (p, flags) => {
        seen.push([p, flags]);
        return open(p, flags);
      },
    }),
  );
  try {
    t.is((await tpm.getRandom(4)).length, 4);
    t.deepEqual(seen, [[device, constants.O_RDWR | constants.O_NOCTTY]]);
  } finally {
    await tpm.close();
  }
});
