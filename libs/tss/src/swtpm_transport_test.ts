/**
 * The swtpm socket transport against real swtpm instances: power-on and start-up over the control
 * channel (TCP), the Unix-socket data and control channels, and serialization of concurrent commands.
 */
import test from "ava";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { TPM_PT } from "@tessera/tpm2";
import { TssError } from "./errors.ts";
import { SwtpmTransport } from "./socket_transport.ts";
import { Tpm } from "./tpm.ts";
import type { Transport } from "./transport.ts";
import { rejectsRc } from "./_test_support.ts";

let cold: SwtpmInstance; // startup: false, TCP
let unix: SwtpmInstance; // startup: true, Unix sockets

test.before(async () => {
  [cold, unix] = await Promise.all([startSwtpm({ startup: false }), startSwtpm({ transport: "unix" })]);
});

test.after.always(async () => {
  await Promise.all([cold?.stop(), unix?.stop()]);
});

function swtpmTransport(tpm: Tpm): SwtpmTransport {
  if (!(tpm.transport instanceof SwtpmTransport)) throw new Error(`${tpm.transport.description} is not a SwtpmTransport`);
  return tpm.transport;
}

test.serial("startup:false swtpm: FAILURE before power-on, INITIALIZE before Startup, then it works", async (t) => {
  t.timeout(20_000);
  const tpm = Tpm.open(cold.tcti, { timeoutMs: 10_000 });
  try {
    t.is(tpm.transport.description, cold.tcti);
    await rejectsRc(t, tpm.getRandom(8), "TPM_RC_FAILURE");
    await swtpmTransport(tpm).powerOn();
    await rejectsRc(t, tpm.getRandom(8), "TPM_RC_INITIALIZE");
    await tpm.startup();
    t.is((await tpm.getRandom(32)).length, 32);
    // A second Startup is refused: the TPM is initialized.
    await rejectsRc(t, tpm.startup(), "TPM_RC_INITIALIZE");
    // Locality over the control channel; locality 0 keeps working.
    await swtpmTransport(tpm).setLocality(0);
    t.is((await tpm.getRandom(8)).length, 8);
  } finally {
    await tpm.close();
  }
});

test.serial("the control channel reports a refused command as TSS_IO (SET_LOCALITY 7)", async (t) => {
  t.timeout(20_000);
  const tpm = Tpm.open(cold.tcti);
  try {
    const e = await t.throwsAsync(swtpmTransport(tpm).setLocality(7), { instanceOf: TssError });
    if (e instanceof TssError) t.is(e.code, "TSS_IO", e.message);
  } finally {
    await tpm.close();
  }
});

test.serial("power-cycling over the control channel needs a new Startup; Shutdown(STATE)+Startup(STATE) resumes", async (t) => {
  t.timeout(20_000);
  const tpm = Tpm.open(cold.tcti);
  try {
    await swtpmTransport(tpm).powerOn();
    await rejectsRc(t, tpm.getRandom(8), "TPM_RC_INITIALIZE");
    await tpm.startup();
    await tpm.selfTest(true);
    await tpm.shutdown(true);
    await swtpmTransport(tpm).powerOn();
    await tpm.startup(true);
    t.is((await tpm.getRandom(8)).length, 8);
  } finally {
    await tpm.close();
  }
});

test.serial("Unix-socket transport: Tpm.open(swtpm:path=...) works, control socket <path>.ctrl too", async (t) => {
  t.timeout(20_000);
  t.regex(unix.tcti, /^swtpm:path=/);
  const tpm = Tpm.open(unix.tcti);
  try {
    t.is((await tpm.getRandom(48)).length, 48);
    const props = await tpm.properties(TPM_PT.MANUFACTURER, 1);
    t.is(props.get(TPM_PT.MANUFACTURER), 0x49424d00);
    // CMD_INIT over <path>.ctrl power-cycles the running TPM: Startup is needed again.
    await swtpmTransport(tpm).powerOn();
    await rejectsRc(t, tpm.getRandom(8), "TPM_RC_INITIALIZE");
    await tpm.startup();
    t.is((await tpm.getRandom(8)).length, 8);
  } finally {
    await tpm.close();
  }
});

test.serial("Unix-socket transport with an explicit ctrl= path", async (t) => {
  t.timeout(20_000);
  const tpm = Tpm.open(`swtpm:path=${unix.path},ctrl=${unix.ctrlPath}`);
  try {
    await swtpmTransport(tpm).setLocality(0);
    t.is((await tpm.getRandom(8)).length, 8);
  } finally {
    await tpm.close();
  }
});

test.serial("20 parallel getRandom calls on one Tpm all succeed (commands are serialized)", async (t) => {
  t.timeout(20_000);
  const tpm = Tpm.open(unix.tcti);
  // Count what reaches the transport: one TPM2_GetRandom per call (each asks for at most 64 bytes).
  let sent = 0;
  const inner = tpm.transport;
  const watching: Transport = {
    description: inner.description,
    send(command) {
      sent++;
      return inner.send(command);
    },
    close: () => inner.close(),
  };
  const watched = new Tpm(watching);
  try {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => watched.getRandom(8 + i)));
    results.forEach((r, i) => t.is(r.length, 8 + i));
    t.is(new Set(results.map((r) => Buffer.from(r).toString("hex"))).size, 20, "random values repeat");
    t.is(sent, 20);
    // Directly on the transport as well: 20 raw GetRandom commands in parallel, each response matches its command.
    const raw = await Promise.all(Array.from({ length: 20 }, (_, i) => inner.send(Uint8Array.of(0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x7b, 0, i + 1))));
    raw.forEach((r, i) => {
      t.is(new DataView(r.buffer, r.byteOffset).getUint32(6), 0, `rc of command ${i}`);
      t.is(new DataView(r.buffer, r.byteOffset).getUint16(10), i + 1, `response ${i} belongs to another command`);
    });
  } finally {
    await watched.close();
  }
});

test.serial("a failed command does not break the queue: the next parallel commands still succeed", async (t) => {
  t.timeout(20_000);
  const tpm = Tpm.open(unix.tcti);
  try {
    const results = await Promise.allSettled([
      tpm.getRandom(8),
      tpm.flush(0x80ffffff), // no such object: TPM_RC_HANDLE
      tpm.getRandom(8),
      tpm.startup(), // already started: TPM_RC_INITIALIZE
      tpm.getRandom(8),
    ]);
    t.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled", "rejected", "fulfilled"],
    );
  } finally {
    await tpm.close();
  }
});
