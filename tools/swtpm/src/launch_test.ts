import test from "ava";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Tpm } from "@tessera/tss";
import { tctiOf, type Endpoint } from "./_endpoint.ts";
import { SwtpmError } from "./errors.ts";
import { launchOnFreePorts, launchSwtpm, swtpmSocketArgs } from "./_launch.ts";
import { findFreePortPair } from "./_ports.ts";
import { isRunning, terminate } from "./_process.ts";

test("swtpm socket arguments: tcp ports P/P+1, unix <path>/<path>.ctrl, startup flags only when asked", (t) => {
  t.deepEqual(swtpmSocketArgs("/s", { kind: "tcp", host: "127.0.0.1", port: 4000 }, true), [
    "socket",
    "--tpm2",
    "--tpmstate",
    "dir=/s",
    "--server",
    "type=tcp,port=4000,bindaddr=127.0.0.1",
    "--ctrl",
    "type=tcp,port=4001,bindaddr=127.0.0.1",
    "--flags",
    "not-need-init,startup-clear",
  ]);
  t.deepEqual(swtpmSocketArgs("/s", { kind: "unix", path: "/d/tpm.sock" }, false), [
    "socket",
    "--tpm2",
    "--tpmstate",
    "dir=/s",
    "--server",
    "type=unixio,path=/d/tpm.sock",
    "--ctrl",
    "type=unixio,path=/d/tpm.sock.ctrl",
  ]);
});

test("a taken control port is SWTPM_ADDRESS_IN_USE, and launchOnFreePorts starts a TPM that answers through @tessera/tss", async (t) => {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), "tessera-launch-"));
  t.teardown(() => rm(stateDir, { recursive: true, force: true }));
  // The control port is taken: swtpm cannot bind it and exits (a taken data port would be indistinguishable
  // from a ready swtpm, as the readiness probe would connect to whoever holds it).
  const port = await findFreePortPair();
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen({ host: "127.0.0.1", port: port + 1, exclusive: true }, resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const taken: Endpoint = { kind: "tcp", host: "127.0.0.1", port };
  const e = await t.throwsAsync(() => launchSwtpm(stateDir, taken, true, 10000), { instanceOf: SwtpmError });
  t.is(e?.code, "SWTPM_ADDRESS_IN_USE", e?.message);

  const { managed, endpoint } = await launchOnFreePorts(stateDir, true, 10000);
  t.teardown(() => terminate(managed));
  t.true(isRunning(managed));
  const tpm = Tpm.open(tctiOf(endpoint));
  try {
    t.is((await tpm.getRandom(16)).length, 16);
  } finally {
    await tpm.close();
  }
});
