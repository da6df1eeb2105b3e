/**
 * `tactl ta` text output (tables, status colours only when asked, failed checks) and its argument handling:
 * usage errors exit 2 before any session or network, a server out of reach exits 3 naming it.
 */
import test from "ava";
import fc from "fast-check";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { tactlWith } from "./_test_support.ts";
import { parseSettings } from "./commands/ta_admin.ts";
import { sseParser, type TaEvent } from "./ta_client.ts";
import { failureLines, shortTime, statusWord, table, visibleLength } from "./ta_format.ts";

let dir: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-ta-"));
  await writeFile(path.join(dir, "pw"), "secret\n");
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const env = () => ({ env: { TESSERA_HOME: path.join(dir, "home") } });

test("tables align on visible width, coloured cells included; the last column is not padded", (t) => {
  const rows = [
    ["web-1", statusWord("green", true), "ok"],
    ["db-long-name", statusWord("red", true), "image-unknown: kernel differs"],
    ["x", statusWord("stale", false), ""],
  ];
  const text = table(["HOST", "STATUS", "MESSAGE"], rows);
  const lines = text.trimEnd().split("\n");
  t.is(lines.length, 4);
  const plain = lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ""));
  t.deepEqual(plain, [
    "HOST          STATUS  MESSAGE",
    "web-1         green   ok",
    "db-long-name  red     image-unknown: kernel differs",
    "x             stale",
  ]);
  t.true(lines[1].includes("\x1b[32mgreen\x1b[0m"));
  t.true(lines[2].includes("\x1b[31mred\x1b[0m"));
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.string(), fc.constantFrom("green", "red", "stale", "unknown"), fc.boolean(), fc.string()), { maxLength: 8 }), (hosts) => {
      // Cells are one line of printable text (the table trims trailing blanks of a line).
      const clean = (x: string) => x.replace(/[\s\x00-\x1f\x7f]/g, "_");
      const cells = hosts.map(([h, s, c, m]) => [clean(h), statusWord(s, c), clean(m)]);
      const out = table(["H", "S", "M"], cells).split("\n");
      // The third column starts at the same visible offset on every line that has one.
      const at = out.slice(0, -1).map((l, i) => (i === 0 ? 0 : visibleLength(l) - visibleLength(cells[i - 1][2])));
      for (let i = 1; i < at.length; i++) if (cells[i - 1][2] !== "") t.is(at[i], visibleLength(out[0]) - 1);
    }),
  );
});

test("status colours only when asked; unknown is never coloured", (t) => {
  t.is(statusWord("green", false), "green");
  t.is(statusWord("red", false), "red");
  t.is(statusWord("unknown", true), "unknown");
  t.is(statusWord("stale", true), "\x1b[33mstale\x1b[0m");
});

test("a failed check prints its PCR, bank, event, component, closest image, expected and measured", (t) => {
  t.deepEqual(
    failureLines({
      check: "image-unknown",
      detail: "the kernel is in no accepted image",
      pcr: 9,
      bank: "sha256",
      event: 41,
      component: "kernel /vmlinuz-6.1",
      image: "debian-12 1.0",
      expected: "aa",
      measured: "bb",
    }),
    [
      "  image-unknown: the kernel is in no accepted image [PCR sha256:9, event 41]",
      "    component kernel /vmlinuz-6.1",
      "    closest image debian-12 1.0",
      "    expected aa",
      "    measured bb",
    ],
  );
  t.deepEqual(failureLines({ check: "secure-boot-off", detail: "Secure Boot is off" }), ["  secure-boot-off: Secure Boot is off"]);
  t.deepEqual(failureLines({ check: "log-replay", detail: "d", pcr: 4, measured: "cc" }), ["  log-replay: d [PCR 4]", "    expected -", "    measured cc"]);
});

test("times print as UTC seconds; absent ones as -", (t) => {
  t.is(shortTime("2026-12-03T06:01:02.345Z"), "2026-12-03 06:01:02Z");
  t.is(shortTime(undefined), "-");
  t.is(shortTime("soon"), "soon");
});

test("--set key=value pairs become the settings patch with typed values; unknown keys and bad values are named", (t) => {
  t.deepEqual(
    parseSettings([
      "ekTrustMode=pin",
      "pcrSelection=sha256:0,1,2,3,4,5,6,7",
      "secureBootRequired=false",
      "tokenLifetimeSeconds=600",
      "hashAlgorithms=sha256, sha384",
    ]),
    { ekTrustMode: "pin", pcrSelection: "sha256:0,1,2,3,4,5,6,7", secureBootRequired: false, tokenLifetimeSeconds: 600, hashAlgorithms: ["sha256", "sha384"] },
  );
  t.deepEqual(parseSettings(["secureBootRequired=on"]), { secureBootRequired: true });
  t.throws(() => parseSettings(["colour=blue"]), { message: /unknown setting "colour" \(settings: ekTrustMode, / });
  t.throws(() => parseSettings(["toString=1"]), { message: /unknown setting "toString"/ });
  t.throws(() => parseSettings(["nonceLifetimeSeconds=ten"]), { message: /nonceLifetimeSeconds: "ten" is not a whole number/ });
  t.throws(() => parseSettings(["secureBootRequired=maybe"]), { message: /give true or false/ });
  t.throws(() => parseSettings(["=x"]), { message: /expected key=value/ });
});

test("usage errors exit 2 before any session is needed, naming the problem", async (t) => {
  const cases: [string[], RegExp][] = [
    [["ta", "tpm-ca", "add"], /expected CERT, got 0 argument/],
    [["ta", "tpm-ca", "remove"], /expected ID, got 0 argument/],
    [["ta", "tpm-ca", "remove", "a", "b"], /expected ID, got 2 argument/],
    [["ta", "login", "--server", "https://x"], /missing --user, --password-file/],
    [["ta", "login", "--server", "http://127.0.0.1:1", "--user", "u", "--password-file", path.join(dir, "pw")], /HTTPS only/],
    [["ta", "ek-pin", "add", "--host", "h1"], /give --ek-cert F or --ek-pub F/],
    [["ta", "image", "add", "--name", "n", "--version", "1"], /give --from-log FILE, --manifest FILE or --image FILE/],
    [["ta", "image", "add", "--name", "n", "--version", "1", "--from-log", "a", "--manifest", "b"], /give only one of --from-log, --manifest/],
    [["ta", "settings", "--set", "bogus=1"], /unknown setting "bogus"/],
    [["ta", "audit", "--limit", "0"], /--limit "0" is not a positive number/],
    [["ta", "account", "add", "bob"], /at least one --group/],
    [["ta", "host", "list", "--colour"], /Unknown option '--colour'/],
  ];
  for (const [argv, re] of cases) {
    const r = await tactlWith(env(), ...argv);
    t.is(r.code, 2, `${argv.join(" ")}: ${r.err}`);
    t.regex(r.err, re, argv.join(" "));
  }
});

test("per-command help of the ta commands, and the ta group's help lists them", async (t) => {
  const g = await tactlWith(env(), "ta", "--help");
  t.is(g.code, 0);
  for (const c of ["ta login", "ta tpm-ca add", "ta host list", "ta host show", "ta export-identity", "ta settings", "ta audit", "ta appraise"]) {
    t.true(g.out.includes(`tactl ${c} `), c);
  }
  const h = await tactlWith(env(), "ta", "image", "add", "--help");
  t.is(h.code, 0);
  t.regex(h.out, /--from-log FILE/);
});

test("a server that is not there, and one that does not speak TLS, are transport failures (exit 3) naming the server", async (t) => {
  const pw = path.join(dir, "pw");
  const refused = await tactlWith(env(), "ta", "login", "--server", "https://127.0.0.1:1", "--user", "admin", "--password-file", pw);
  t.is(refused.code, 3, refused.err);
  t.regex(refused.err, /^tactl: cannot reach https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
  // A plain-text server on the port: the TLS handshake fails.
  const server = net.createServer((s) => s.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n"));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const plain = await tactlWith(env(), "ta", "login", "--server", url, "--user", "admin", "--password-file", pw);
    t.is(plain.code, 3, plain.err);
    t.true(plain.err.startsWith(`tactl: TLS with ${url} failed: `), plain.err);
    t.regex(plain.err, /is it an HTTPS server\?/);
  } finally {
    server.close();
  }
});

test("login checks --ca and --password-file before connecting", async (t) => {
  const notCa = path.join(dir, "not-ca.pem");
  await writeFile(notCa, "hello\n");
  const r = await tactlWith(env(), "ta", "login", "--server", "https://127.0.0.1:1", "--ca", notCa, "--user", "u", "--password-file", path.join(dir, "pw"));
  t.is(r.code, 2);
  t.regex(r.err, /--ca .*not-ca\.pem holds no PEM certificate/);
  const empty = path.join(dir, "empty-pw");
  await writeFile(empty, "\n");
  const e = await tactlWith(env(), "ta", "login", "--server", "https://127.0.0.1:1", "--user", "u", "--password-file", empty);
  t.is(e.code, 2);
  t.regex(e.err, /its first line is empty/);
  const missing = await tactlWith(env(), "ta", "login", "--server", "https://127.0.0.1:1", "--user", "u", "--password-file", path.join(dir, "nope"));
  t.is(missing.code, 2);
  t.regex(missing.err, /cannot read password file .*nope: ENOENT/);
});

test("the server-sent event parser gives the same events however the stream is cut", (t) => {
  const stream = ': keep-alive\n\nevent: ready\ndata: {}\n\nevent: status\nid: 1\ndata: {"host":"h1"}\n\r\nevent: status\r\ndata: a\r\ndata: b\r\n\r\n';
  const want = [
    { event: "ready", data: "{}" },
    { event: "status", data: '{"host":"h1"}', id: "1" },
    { event: "status", data: "a\nb", id: "1" },
  ];
  const parse = (chunks: string[]) => {
    const got: TaEvent[] = [];
    const feed = sseParser((e) => got.push(e));
    for (const c of chunks) feed(c);
    return got;
  };
  t.deepEqual(parse([stream]), want);
  fc.assert(
    fc.property(fc.array(fc.nat(stream.length), { maxLength: 10 }), (cuts) => {
      const at = [0, ...[...new Set(cuts)].sort((a, b) => a - b), stream.length];
      const chunks = at.slice(1).map((end, i) => stream.slice(at[i], end));
      t.deepEqual(parse(chunks), want);
    }),
  );
});
