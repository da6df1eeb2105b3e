/**
 * The kmxa process (`apps/kmxa/bin/kmxa`) against a real attestd, kmipd and kmxd (processes) and a swtpm host: its
 * ready line names the TCP URL and the socket; the socket is 0600; status answers on both; a second agent on the
 * same socket is refused while the first runs, and a file that is not a socket is never replaced; SIGTERM stops it
 * and removes the socket; a bad flag exits 2 naming the field.
 */
import test from "ava";
import { spawn } from "node:child_process";
import { lstat, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { spawnReady, type ReadyProcess } from "@tessera/process-testing";
import { bootedHost, eventually, httpsJson, KMXA, kmxaArgs, startStack, unixJson, type BootedHost, type Stack } from "./_stack_test_support.ts";

const HOST = "proc.example.test";
const READY = /^kmxa: listening on (https:\/\/\S+) and (\/\S+)$/m;

let dir: string;
let stack: Stack;
let host: BootedHost;
let kmxa: ReadyProcess | undefined;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxa-main-"));
  const manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  [stack, host] = await Promise.all([startStack(dir), bootedHost(manifest, path.join(dir, "host"))]);
  await stack.trustTpm(host.sw);
  await stack.acceptImage("tessera-host", manifest);
});

test.after.always(async () => {
  await kmxa?.stop();
  await stack?.stop();
  await host?.sw.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs kmxa to its end (for the refusals). */
function runToEnd(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(KMXA, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("close", (code) => resolve({ code, out }));
  });
}

test.serial("bin/kmxa: ready line, socket 0600, status on both channels; a second agent on the socket is refused; SIGTERM removes the socket", async (t) => {
  const dataDir = path.join(dir, "kmxa");
  kmxa = await spawnReady("kmxa", KMXA, kmxaArgs(stack, host, HOST, dataDir), READY);
  const url = kmxa.match[1]!;
  const socket = kmxa.match[2]!;
  t.is(socket, path.join(dataDir, "kmxa.sock"));
  t.regex(url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const st = await lstat(socket);
  t.true(st.isSocket());
  t.is(st.mode & 0o777, 0o600);
  const ca = await readFile(path.join(dataDir, "tls", "ca.pem"), "utf8");
  const viaTcp = await eventually(
    "attested",
    async () => {
      const r = await httpsJson(`${url}/api/v1/status`, "GET", ca);
      return r.json.state === "attested" ? r : undefined;
    },
    60_000,
  );
  t.is(viaTcp.json.host, HOST);
  const viaSocket = await unixJson(socket, "GET", "/api/v1/status");
  t.is(viaSocket.status, 200);
  t.is(viaSocket.json.state, "attested");
  const keysOnTcp = await httpsJson(`${url}/api/v1/providers/kms-1/data-keys`, "POST", ca, { body: {} });
  t.is(keysOnTcp.status, 403);

  // Another agent told to use the same socket: refused while the first listens, the socket untouched.
  const second = await runToEnd([...kmxaArgs(stack, host, HOST, path.join(dir, "kmxa-2")), "--socket", socket]);
  t.is(second.code, 1, second.out);
  t.regex(second.out, /another process listens on/);
  t.is((await unixJson(socket, "GET", "/api/v1/status")).status, 200);

  await kmxa.stop();
  t.is(kmxa.child.exitCode, 0, kmxa.output());
  await t.throwsAsync(lstat(socket), { code: "ENOENT" });
});

test.serial("--socket elsewhere (its directory made): 0600; killed with SIGKILL, the socket file it left is replaced at the next start", async (t) => {
  const socket = path.join(dir, "run", "kmxa", "agent.sock");
  const args = [...kmxaArgs(stack, host, HOST, path.join(dir, "kmxa")), "--socket", socket];
  const first = await spawnReady("kmxa", KMXA, args, READY);
  kmxa = first;
  t.is(first.match[2], socket);
  t.is((await lstat(socket)).mode & 0o777, 0o600);
  t.is((await lstat(path.dirname(socket))).mode & 0o777, 0o700);
  await first.stop("SIGKILL");
  t.true((await lstat(socket)).isSocket(), "a killed agent leaves its socket file");
  const second = await spawnReady("kmxa", KMXA, args, READY);
  kmxa = second;
  t.is((await lstat(socket)).mode & 0o777, 0o600);
  const s = await eventually(
    "attested again",
    async () => {
      const r = await unixJson(socket, "GET", "/api/v1/status");
      return r.json.state === "attested" ? r : undefined;
    },
    60_000,
  );
  t.is(s.json.host, HOST);
  await second.stop();
});

test.serial("a file that is not a socket at the socket path is refused, never replaced", async (t) => {
  const notSocket = path.join(dir, "not-a-socket");
  await writeFile(notSocket, "keep me\n");
  const r = await runToEnd([...kmxaArgs(stack, host, HOST, path.join(dir, "kmxa-3")), "--socket", notSocket]);
  t.is(r.code, 1, r.out);
  t.regex(r.out, /is not a socket/);
  t.is(await readFile(notSocket, "utf8"), "keep me\n");
});

test.serial("a bad flag exits 2 naming the field", async (t) => {
  const r = await runToEnd([...kmxaArgs(stack, host, HOST, path.join(dir, "kmxa-4")), "--listen", "nowhere"]);
  t.is(r.code, 2, r.out);
  t.regex(r.out, /listen/);
});
