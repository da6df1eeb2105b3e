/**
 * The `tactl ta` session file: where it lives ($TESSERA_HOME, else ~/.config/tessera), its modes (directory 0700,
 * file 0600 whatever the umask), expiry, and what a damaged or missing file says.
 */
import test from "ava";
import fc from "fast-check";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { tactlWith } from "./_test_support.ts";
import { activeSession, loadSession, removeSession, saveSession, serverUrl, sessionPath, tesseraHome, type TaSession, TaSessionError } from "./ta_session.ts";

let root: string;

test.before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "tactl-session-"));
});

test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const SESSION: TaSession = {
  server: "https://127.0.0.1:7889",
  ca: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  caFile: "/d/tls/ca.pem",
  token: "eyJ.header.sig",
  expiresAt: new Date(Date.now() + 3600_000).toISOString(),
  subject: "admin",
  groups: ["TrustedAdmins"],
};

test("the home is $TESSERA_HOME (made absolute), else ~/.config/tessera", (t) => {
  t.is(tesseraHome({ TESSERA_HOME: "/srv/ta" }), "/srv/ta");
  t.is(tesseraHome({ TESSERA_HOME: "rel/dir" }), path.resolve("rel/dir"));
  t.is(tesseraHome({}), path.join(os.homedir(), ".config", "tessera"));
  t.is(tesseraHome({ TESSERA_HOME: "" }), path.join(os.homedir(), ".config", "tessera"), "an empty variable is unset");
});

test("saveSession creates the directory 0700 and the file 0600 even under a permissive umask, and loads back", async (t) => {
  const home = path.join(root, "a", "nested", "tessera");
  const old = process.umask(0o000);
  try {
    const file = await saveSession(home, SESSION);
    t.is(file, sessionPath(home));
    t.is((await stat(home)).mode & 0o777, 0o700);
    t.is((await stat(file)).mode & 0o777, 0o600);
  } finally {
    process.umask(old);
  }
  t.deepEqual(await loadSession(home), SESSION);
  // Rewriting replaces the file (atomically) and keeps it private.
  await chmod(sessionPath(home), 0o644);
  await saveSession(home, { ...SESSION, token: "other" });
  t.is((await stat(sessionPath(home))).mode & 0o777, 0o600);
  t.is((await loadSession(home)).token, "other");
});

test("an existing home readable by others is left as it is, with a warning; the file is still 0600", async (t) => {
  const home = path.join(root, "shared");
  await mkdir(home, { mode: 0o755 });
  await chmod(home, 0o755);
  const warnings: string[] = [];
  await saveSession(home, SESSION, (w) => warnings.push(w));
  t.is((await stat(home)).mode & 0o777, 0o755);
  t.is((await stat(sessionPath(home))).mode & 0o777, 0o600);
  t.is(warnings.length, 1);
  t.regex(warnings[0], /mode 0755/);
});

test("no session, a broken one and a foreign one are TaSessionErrors with their codes", async (t) => {
  const home = path.join(root, "empty");
  const none = await t.throwsAsync(loadSession(home), { instanceOf: TaSessionError });
  t.is(none.code, "TACTL_NOT_LOGGED_IN");
  t.regex(none.message, /tactl ta login/);
  await mkdir(home, { recursive: true });
  await writeFile(sessionPath(home), "{ not json");
  t.is((await t.throwsAsync(loadSession(home), { instanceOf: TaSessionError })).code, "TACTL_SESSION_INVALID");
  await writeFile(sessionPath(home), JSON.stringify({ ...SESSION, expiresAt: "not a time" }));
  t.is((await t.throwsAsync(loadSession(home), { instanceOf: TaSessionError })).code, "TACTL_SESSION_INVALID");
  await writeFile(sessionPath(home), JSON.stringify({ ...SESSION, groups: [1] }));
  t.is((await t.throwsAsync(loadSession(home), { instanceOf: TaSessionError })).code, "TACTL_SESSION_INVALID");
});

test("a token past its expiry is not used: the user is told to log in again", async (t) => {
  const home = path.join(root, "expired");
  const expiresAt = new Date(Date.now() - 1000).toISOString();
  await saveSession(home, { ...SESSION, expiresAt });
  const e = await t.throwsAsync(activeSession(home), { instanceOf: TaSessionError });
  t.is(e.code, "TACTL_SESSION_EXPIRED");
  t.true(e.message.includes(`expired at ${expiresAt}`));
  t.regex(e.message, /log in again with `tactl ta login --server https:\/\/127\.0\.0\.1:7889/);
  // At the instant of expiry it is expired already; a moment before, it is valid.
  t.is((await t.throwsAsync(activeSession(home, new Date(expiresAt)))).message, e.message);
  t.is((await activeSession(home, new Date(Date.parse(expiresAt) - 1))).token, SESSION.token);
});

test("the CLI says not logged in and expired with exit 1, reading $TESSERA_HOME", async (t) => {
  const home = path.join(root, "cli");
  const none = await tactlIn(home, "ta", "host", "list");
  t.is(none.code, 1);
  t.regex(none.err, /^tactl: not logged in: run `tactl ta login/);
  t.is(none.out, "");
  await saveSession(home, { ...SESSION, expiresAt: new Date(Date.now() - 60_000).toISOString() });
  const expired = await tactlIn(home, "ta", "tpm-ca", "list", "--json");
  t.is(expired.code, 1);
  t.regex(expired.err, /^tactl: the session of admin on https:\/\/127\.0\.0\.1:7889 expired at .*: log in again/);
});

test("logout removes the session file, and says so when there was none", async (t) => {
  const home = path.join(root, "logout");
  await saveSession(home, SESSION);
  const out = await tactlIn(home, "ta", "logout");
  t.is(out.code, 0, out.err);
  t.regex(out.out, /^signed out of https:\/\/127\.0\.0\.1:7889 \(admin\)/);
  await t.throwsAsync(readFile(sessionPath(home)), { code: "ENOENT" });
  const again = await tactlIn(home, "ta", "logout", "--json");
  t.is(again.code, 0);
  t.deepEqual(JSON.parse(again.out), { signedOut: null });
  // A damaged session is removed too.
  await writeFile(sessionPath(home), "garbage");
  t.is(await removeSession(home), undefined);
  await t.throwsAsync(readFile(sessionPath(home)), { code: "ENOENT" });
});

test("--server: https URLs as given without a trailing slash, host:port as https, anything else refused", (t) => {
  t.is(serverUrl("https://ta.example:7889/"), "https://ta.example:7889");
  t.is(serverUrl("127.0.0.1:7889"), "https://127.0.0.1:7889");
  t.is(serverUrl("https://[::1]:7889"), "https://[::1]:7889");
  t.is(serverUrl("https://ta.example/attest/"), "https://ta.example/attest");
  for (const bad of ["http://ta.example:7889", "https://u:p@ta.example", "https://ta.example/?q=1", "ftp://x", "https://"]) {
    t.throws(() => serverUrl(bad), { name: "CliError" }, bad);
  }
  fc.assert(
    fc.property(fc.string(), (s) => {
      try {
        const u = serverUrl(s);
        t.true(u.startsWith("https://") && !u.endsWith("/"));
        t.is(serverUrl(u), u, "idempotent");
      } catch (e) {
        t.is((e as Error).name, "CliError");
      }
    }),
  );
});

function tactlIn(home: string, ...argv: string[]) {
  return tactlWith({ env: { TESSERA_HOME: home } }, ...argv);
}
