/**
 * `tactl ta login|logout|whoami|tpm-ca|crl|ek-pin|image|host|account|export-identity|settings|audit`: the client
 * of attestd's admin API (PLAN.md "attestd admin API"). `tactl ta login` keeps the session (server, CA, token)
 * in `$TESSERA_HOME/session.json` (0600); every other command uses it. Reads print a table or a listing, or with
 * `--json` the API's JSON document as the server sent it (stable: it is the API's schema). A refusal prints the
 * server's problem as `tactl: <title>: <detail>` and exits 1; an unreachable server or a TLS failure exits 3.
 * @module
 */
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { marshal, TPM2B_PUBLIC } from "@tessera/tpm2";
import type { CommandSpec, Io } from "../cli.ts";
import { CliError, EXIT } from "../errors.ts";
import { readBytes, readText, writeFileAtomic } from "../files.ts";
import { readPublicArea } from "../public_file.ts";
import { taFollow, taRequest, TaProblemError, type TaEndpoint } from "../ta_client.ts";
import { failureLines, plain, shortTime, statusWord, table, type FailureLike } from "../ta_format.ts";
import { activeSession, readCaPem, removeSession, saveSession, serverUrl, tesseraHome, type TaSession } from "../ta_session.ts";
import { arr, json, type Json, many, obj, str, type Values } from "../values.ts";


function home(io: Io): string {
  return tesseraHome(io.env ?? process.env);
}

/**
 * Calls the admin API with the session's server, CA and token. A 401 means the token is no longer taken (expired
 * on the server's clock, or its signing key is gone): the detail then says to log in again.
 */
async function api(io: Io, method: string, pathAndQuery: string, body?: unknown): Promise<unknown> {
  const s = await activeSession(home(io));
  return withLoginHint(s, async () => (await taRequest(endpointOf(s), method, pathAndQuery, body)).body);
}

function endpointOf(s: TaSession): TaEndpoint {
  return { server: s.server, token: s.token, ...(s.ca === undefined ? {} : { ca: s.ca }) };
}

async function withLoginHint<R>(s: TaSession, fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TaProblemError && e.status === 401) {
      throw new TaProblemError(401, { ...e.problem, detail: `${e.detail}; log in again with \`tactl ta login --server ${s.server} …\`` });
    }
    throw e;
  }
}

const enc = encodeURIComponent;

// ---------------------------------------------------------------- session

/** Reads a password file: its first line, without the line end (as `--password-file` of kmipd's clients). */
async function readPassword(file: string): Promise<string> {
  const text = await readText(file, "password file");
  const password = text.split(/\r?\n/)[0];
  if (password === "") throw new CliError("TACTL_INPUT", `password file ${file}: its first line is empty`);
  return password;
}

async function login(v: Values, io: Io): Promise<number> {
  const server = serverUrl(str(v, "server"));
  const caFile = typeof v.ca === "string" ? path.resolve(v.ca) : undefined;
  const ca = caFile === undefined ? undefined : await readCaPem(caFile);
  const user = str(v, "user");
  const password = await readPassword(str(v, "password-file"));
  const answer = obj((await taRequest({ server, ...(ca === undefined ? {} : { ca }) }, "POST", "/api/v1/auth/token", { user, password })).body);
  if (typeof answer.token !== "string" || typeof answer.expiresAt !== "string") {
    throw new CliError("TACTL_INPUT", `${server} answered the sign-in without a token: is it attestd?`);
  }
  const session: TaSession = {
    server,
    ...(ca === undefined ? {} : { ca }),
    ...(caFile === undefined ? {} : { caFile }),
    token: answer.token,
    expiresAt: answer.expiresAt,
    subject: typeof answer.subject === "string" ? answer.subject : user,
    groups: Array.isArray(answer.groups) ? answer.groups.map(String) : [],
  };
  const file = await saveSession(home(io), session, (line) => io.stderr(`${line}\n`));
  if (v.json) return json(io, { server, subject: session.subject, groups: session.groups, expiresAt: session.expiresAt, session: file });
  io.stdout(`signed in to ${server} as ${session.subject} (${session.groups.join(", ") || "no groups"}) until ${session.expiresAt}; session in ${file}\n`);
  return EXIT.OK;
}

async function logout(v: Values, io: Io): Promise<number> {
  const s = await removeSession(home(io));
  if (v.json) return json(io, { signedOut: s === undefined ? null : { server: s.server, subject: s.subject } });
  io.stdout(s === undefined ? "not signed in\n" : `signed out of ${s.server} (${s.subject}); the token stays valid on the server until ${s.expiresAt}\n`);
  return EXIT.OK;
}

async function whoami(v: Values, io: Io): Promise<number> {
  const s = await activeSession(home(io));
  const me = obj(await api(io, "GET", "/api/v1/whoami"));
  if (v.json) return json(io, { ...me, server: s.server, expiresAt: s.expiresAt });
  io.stdout(`${plain(me.subject)} on ${s.server}\n  groups   ${plain(me.groups)}\n  issuer   ${plain(me.issuer)}\n  expires  ${s.expiresAt}\n`);
  return EXIT.OK;
}

// ---------------------------------------------------------------- TPM trust

const CERT_EXTENSIONS = new Set([".pem", ".cer", ".crt", ".der"]);

/** A certificate file as PEM text: PEM as it is (one or many blocks), DER wrapped as one PEM block. */
async function certificateText(file: string): Promise<string> {
  const bytes = await readBytes(file, "certificate");
  const text = new TextDecoder().decode(bytes);
  if (text.includes("-----BEGIN")) return text.endsWith("\n") ? text : text + "\n";
  const b64 = Buffer.from(bytes).toString("base64");
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
}

/** The certificate files an argument names: the file itself, or a directory's .pem/.cer/.crt/.der files by name. */
async function certificateFiles(arg: string): Promise<string[]> {
  const s = await stat(arg).catch((e: NodeJS.ErrnoException) => {
    throw new CliError("TACTL_FILE", `cannot read certificate ${arg}: ${e.code ?? e.message}`, { cause: e });
  });
  if (!s.isDirectory()) return [arg];
  const names = (await readdir(arg)).filter((n) => CERT_EXTENSIONS.has(path.extname(n).toLowerCase())).sort();
  if (names.length === 0) throw new CliError("TACTL_INPUT", `${arg}: no .pem, .cer, .crt or .der file in it`);
  return names.map((n) => path.join(arg, n));
}

/** Requests stay well under attestd's 1 MiB body limit: a larger set of CAs goes in several bundles. */
const BUNDLE_LIMIT = 512 * 1024;

async function tpmCaAdd(v: Values, io: Io, args: string[]): Promise<number> {
  const texts: string[] = [];
  for (const a of args) for (const f of await certificateFiles(a)) texts.push(await certificateText(f));
  const bundles: string[] = [];
  for (const t of texts) {
    if (bundles.length > 0 && bundles[bundles.length - 1].length + t.length <= BUNDLE_LIMIT) bundles[bundles.length - 1] += t;
    else bundles.push(t);
  }
  const added: Json[] = [];
  const existing: string[] = [];
  for (const b of bundles) {
    const r = obj(await api(io, "POST", "/api/v1/tpm-cas", { certificates: b }));
    added.push(...arr(r.added));
    existing.push(...(Array.isArray(r.existing) ? r.existing.map(String) : []));
  }
  if (v.json) return json(io, { added, existing });
  io.stdout(`added ${added.length} TPM CA${added.length === 1 ? "" : "s"}${existing.length > 0 ? `, ${existing.length} already trusted` : ""}\n`);
  if (added.length > 0) io.stdout(caTable(added));
  return EXIT.OK;
}

function caTable(cas: Json[]): string {
  return table(
    ["ID", "KIND", "NOT AFTER", "SUBJECT"],
    cas.map((c) => [
      String(c.id).slice(0, 16),
      c.isRoot === true ? "root" : c.isRoot === false ? "intermediate" : "-",
      shortTime(c.notAfter).slice(0, 10),
      plain(c.subject),
    ]),
  );
}

async function tpmCaList(v: Values, io: Io): Promise<number> {
  const r = obj(await api(io, "GET", "/api/v1/tpm-cas"));
  if (v.json) return json(io, r);
  const cas = arr(r.cas);
  io.stdout(cas.length === 0 ? "no trusted TPM CA\n" : caTable(cas));
  return EXIT.OK;
}

/** An id as given, or the one full id of a listed item that starts with it (lists show 16 hex digits). */
async function resolveId(io: Io, given: string, listPath: string, key: string, what: string): Promise<string> {
  const id = given.toLowerCase();
  if (/^[0-9a-f]{64}$/.test(id)) return id;
  if (!/^[0-9a-f]{4,63}$/.test(id)) throw new CliError("TACTL_USAGE", `${what} id "${given}": give its id (hex, at least its first 4 digits)`);
  const ids = arr(obj(await api(io, "GET", listPath))[key])
    .map((c) => String(c.id))
    .filter((i) => i.startsWith(id));
  if (ids.length === 1) return ids[0];
  throw new CliError(
    "TACTL_INPUT",
    ids.length === 0 ? `no ${what} with an id starting ${id}` : `${ids.length} ${what}s have ids starting ${id}: give more digits`,
  );
}

async function tpmCaRemove(v: Values, io: Io, [given]: string[]): Promise<number> {
  const id = await resolveId(io, given, "/api/v1/tpm-cas", "cas", "TPM CA");
  const r = await api(io, "DELETE", `/api/v1/tpm-cas/${id}`);
  if (v.json) return json(io, r);
  io.stdout(`removed TPM CA ${id}\n`);
  return EXIT.OK;
}

async function crlAdd(v: Values, io: Io, [file]: string[]): Promise<number> {
  const bytes = await readBytes(file, "CRL");
  const text = new TextDecoder().decode(bytes);
  const crl = text.includes("-----BEGIN") ? text : Buffer.from(bytes).toString("base64");
  const r = obj(await api(io, "POST", "/api/v1/tpm-crls", { crl }));
  if (v.json) return json(io, r);
  const c = obj(r.crl);
  io.stdout(`${r.added === false ? "already had" : "added"} CRL ${plain(c.id)} of ${plain(c.issuer)} (next update ${shortTime(c.nextUpdate)})\n`);
  return EXIT.OK;
}

async function crlList(v: Values, io: Io): Promise<number> {
  const r = obj(await api(io, "GET", "/api/v1/tpm-crls"));
  if (v.json) return json(io, r);
  const crls = arr(r.crls);
  io.stdout(
    crls.length === 0
      ? "no CRL\n"
      : table(
          ["ID", "THIS UPDATE", "NEXT UPDATE", "ISSUER"],
          crls.map((c) => [String(c.id).slice(0, 16), shortTime(c.thisUpdate), shortTime(c.nextUpdate), plain(c.issuer)]),
        ),
  );
  return EXIT.OK;
}

async function crlRemove(v: Values, io: Io, [given]: string[]): Promise<number> {
  const id = await resolveId(io, given, "/api/v1/tpm-crls", "crls", "CRL");
  const r = await api(io, "DELETE", `/api/v1/tpm-crls/${id}`);
  if (v.json) return json(io, r);
  io.stdout(`removed CRL ${id}\n`);
  return EXIT.OK;
}

async function ekPinAdd(v: Values, io: Io): Promise<number> {
  const host = str(v, "host");
  const certFile = typeof v["ek-cert"] === "string" ? v["ek-cert"] : undefined;
  const pubFile = typeof v["ek-pub"] === "string" ? v["ek-pub"] : undefined;
  if (certFile === undefined && pubFile === undefined) throw new CliError("TACTL_USAGE", "give --ek-cert F or --ek-pub F (or both)");
  const body: Json = { host };
  if (certFile !== undefined) {
    const bytes = await readBytes(certFile, "EK certificate");
    const text = new TextDecoder().decode(bytes);
    body.ekCertificate = text.includes("-----BEGIN") ? text : Buffer.from(bytes).toString("base64");
  }
  if (pubFile !== undefined) {
    // TPM2B_PUBLIC (tpm2_createek -u, tactl tpm ek), a bare TPMT_PUBLIC or a PEM key (completed with the TCG EK
    // template): sent as TPM2B_PUBLIC, the form the API takes.
    const area = await readPublicArea(pubFile, "EK public key", { ek: "rsa2048" });
    body.ekPublic = Buffer.from(marshal(TPM2B_PUBLIC, area)).toString("base64");
  }
  const r = obj(await api(io, "POST", "/api/v1/ek-pins", body));
  if (v.json) return json(io, r);
  const p = obj(r.pin);
  io.stdout(`pinned the EK of ${plain(p.host)}: fingerprint ${plain(p.ekFingerprint)} (by ${p.ekCertificate !== undefined ? "certificate" : "public key"})\n`);
  return EXIT.OK;
}

async function ekPinList(v: Values, io: Io): Promise<number> {
  const r = obj(await api(io, "GET", "/api/v1/ek-pins"));
  if (v.json) return json(io, r);
  const pins = arr(r.pins);
  io.stdout(
    pins.length === 0
      ? "no EK pin\n"
      : table(
          ["HOST", "BY", "ADDED", "EK FINGERPRINT (SHA-256 OF SPKI)"],
          pins.map((p) => [plain(p.host), p.ekCertificate !== undefined ? "certificate" : "public key", shortTime(p.addedAt), plain(p.ekFingerprint)]),
        ),
  );
  return EXIT.OK;
}

async function ekPinRemove(v: Values, io: Io, [host]: string[]): Promise<number> {
  const r = await api(io, "DELETE", `/api/v1/ek-pins/${enc(host)}`);
  if (v.json) return json(io, r);
  io.stdout(`removed the EK pin of ${host}\n`);
  return EXIT.OK;
}

// ---------------------------------------------------------------- images

async function imageAdd(v: Values, io: Io): Promise<number> {
  const sources = ["from-log", "manifest", "image"].filter((k) => typeof v[k] === "string");
  if (sources.length !== 1)
    throw new CliError(
      "TACTL_USAGE",
      sources.length === 0 ? "give --from-log FILE, --manifest FILE or --image FILE" : `give only one of ${sources.map((s) => `--${s}`).join(", ")}`,
    );
  const body: Json = { name: str(v, "name"), version: str(v, "version") };
  if (typeof v["from-log"] === "string") body.eventLog = Buffer.from(await readBytes(v["from-log"], "event log")).toString("base64");
  for (const k of ["manifest", "image"] as const) {
    const file = v[k];
    if (typeof file !== "string") continue;
    let value: unknown;
    try {
      value = JSON.parse(await readText(file, k));
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError("TACTL_INPUT", `--${k} ${file}: not JSON (${(e as Error).message})`, { cause: e });
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new CliError("TACTL_INPUT", `--${k} ${file}: expected a JSON object`);
    body[k] = value;
  }
  if (v.firmware === true) body.firmware = true;
  if (typeof v["firmware-model"] === "string") body.firmwareModel = v["firmware-model"];
  const r = obj(await api(io, "POST", "/api/v1/images", body));
  if (v.json) return json(io, r);
  const i = obj(r.image);
  io.stdout(`added image ${plain(i.name)} ${plain(i.version)}: ${plain(i.summary)}\n`);
  return EXIT.OK;
}

async function imageList(v: Values, io: Io): Promise<number> {
  const r = obj(await api(io, "GET", "/api/v1/images"));
  if (v.json) return json(io, r);
  const images = arr(r.images);
  io.stdout(
    images.length === 0
      ? "no accepted image: every host is red until one is added (tactl ta image add)\n"
      : table(
          ["NAME", "VERSION", "ADDED", "SUMMARY"],
          images.map((i) => [plain(i.name), plain(i.version), shortTime(i.addedAt), plain(i.summary)]),
        ),
  );
  return EXIT.OK;
}

function digest(d: unknown): string {
  const o = obj(d);
  return typeof o.sha256 === "string" ? `sha256:${o.sha256}` : (Object.entries(o).map(([k, x]) => `${k}:${plain(x)}`)[0] ?? "-");
}

async function imageShow(v: Values, io: Io, [name]: string[]): Promise<number> {
  const r = obj(await api(io, "GET", `/api/v1/images/${enc(name)}`));
  if (v.json) return json(io, r);
  for (const m of arr(r.versions)) {
    const sb = obj(m.secureBoot);
    io.stdout(`${plain(m.name)} ${plain(m.version)} (added ${shortTime(m.addedAt)})\n`);
    io.stdout(
      `  Secure Boot  ${sb.enabled === true ? "on" : "off"} (db ${Array.isArray(sb.db) ? sb.db.length : 0}, dbx ${Array.isArray(sb.dbx) ? sb.dbx.length : 0} entries)\n`,
    );
    if (m.softwareVersion !== undefined) io.stdout(`  software     ${plain(m.softwareVersion)}\n`);
    const kernel = obj(m.kernel);
    if (m.kernel !== undefined) io.stdout(`  kernel       ${plain(kernel.path)} ${digest(kernel.digests)}\n`);
    if (m.initrd !== undefined) io.stdout(`  initrd       ${plain(obj(m.initrd).path)} ${digest(obj(m.initrd).digests)}\n`);
    if (m.kernelCommandLine !== undefined) io.stdout(`  command line ${plain(m.kernelCommandLine)}\n`);
    const chain = arr(m.bootChain);
    io.stdout(`  boot chain${chain.length === 0 ? "   (empty)" : ""}\n`);
    for (const b of chain) io.stdout(`    ${plain(b.kind ?? "application").padEnd(12)} ${plain(b.path)} ${digest(b.digests)}\n`);
    const fw = arr(m.firmware);
    if (fw.length > 0) io.stdout(`  firmware     ${fw.map((f) => plain(f.model)).join(", ")}\n`);
  }
  return EXIT.OK;
}

async function imageRemove(v: Values, io: Io, [name]: string[]): Promise<number> {
  const version = typeof v.version === "string" ? v.version : undefined;
  const r = obj(await api(io, "DELETE", `/api/v1/images/${enc(name)}${version === undefined ? "" : `?version=${enc(version)}`}`));
  if (v.json) return json(io, r);
  const n = typeof r.removed === "number" ? r.removed : 0;
  io.stdout(`removed image ${name}${version === undefined ? ` (${n} version${n === 1 ? "" : "s"})` : ` ${version}`}\n`);
  return EXIT.OK;
}

// ---------------------------------------------------------------- hosts

async function hostList(v: Values, io: Io): Promise<number> {
  const r = obj(await api(io, "GET", "/api/v1/hosts"));
  if (v.json) return json(io, r);
  const hosts = arr(r.hosts);
  const colour = io.colour === true;
  if (hosts.length > 0) {
    io.stdout(
      table(
        ["HOST", "STATUS", "LAST ATTEMPT", "TOKEN EXPIRES", "IMAGE", "MESSAGE"],
        hosts.map((h) => {
          const image = obj(h.image);
          return [
            plain(h.host),
            statusWord(String(h.status), colour),
            shortTime(h.lastAttempt),
            shortTime(h.tokenExpiresAt),
            h.image === undefined ? "-" : `${plain(image.name)} ${plain(image.version)}`,
            plain(h.message),
          ];
        }),
      ),
    );
  }
  const s = obj(r.summary);
  const n = (k: string) => (typeof s[k] === "number" ? (s[k] as number) : 0);
  io.stdout(
    `${n("total")} host${n("total") === 1 ? "" : "s"}: ${n("green")} ${statusWord("green", colour)}, ${n("red")} ${statusWord("red", colour)}, ${n("stale")} ${statusWord("stale", colour)}, ${n("unknown")} unknown\n`,
  );
  return EXIT.OK;
}

async function hostShow(v: Values, io: Io, [host]: string[]): Promise<number> {
  const r = obj(await api(io, "GET", `/api/v1/hosts/${enc(host)}`));
  if (v.json) return json(io, r);
  const colour = io.colour === true;
  io.stdout(`${plain(r.host)}: ${statusWord(String(r.status), colour)}: ${plain(r.message)}\n`);
  const e = r.enrollment === undefined ? undefined : obj(r.enrollment);
  if (e === undefined) io.stdout("  not enrolled\n");
  else io.stdout(`  enrolled        ${shortTime(e.enrolledAt)}\n  AK name         ${plain(e.akName)}\n  EK fingerprint  ${plain(e.ekFingerprint)}\n`);
  const history = arr(r.history);
  const last = history[0];
  if (last !== undefined && arr(last.failures).length > 0) {
    const failures = arr(last.failures);
    io.stdout(`\nfailed checks of the last attempt (${shortTime(last.at)}), ${failures.length}:\n`);
    for (const f of failures) io.stdout(failureLines(f as FailureLike).join("\n") + "\n");
  }
  io.stdout(`\nhistory (${history.length} attempt${history.length === 1 ? "" : "s"}, newest first):\n`);
  if (history.length > 0) {
    io.stdout(
      table(
        ["  AT", "RESULT", "IMAGE", "SECURE BOOT", "FAILED CHECKS"],
        history.map((a) => {
          const image = obj(a.image);
          const failures = arr(a.failures);
          return [
            `  ${shortTime(a.at)}`,
            statusWord(a.status === "affirming" ? "green" : "red", colour),
            a.image === undefined ? "-" : `${plain(image.name)} ${plain(image.version)}`,
            a.secureBoot === undefined ? "-" : a.secureBoot === true ? "on" : "off",
            failures.length === 0 ? "-" : [...new Set(failures.map((f) => plain(f.check)))].join(", "),
          ];
        }),
      ),
    );
  }
  return EXIT.OK;
}

async function hostRemove(v: Values, io: Io, [host]: string[]): Promise<number> {
  const r = await api(io, "DELETE", `/api/v1/hosts/${enc(host)}`);
  if (v.json) return json(io, r);
  io.stdout(`removed host ${host}: its enrollment and history are gone; it must enroll again\n`);
  return EXIT.OK;
}

async function events(v: Values, io: Io): Promise<number> {
  const count = typeof v.count === "string" ? v.count : undefined;
  if (count !== undefined && (!/^\d+$/.test(count) || Number(count) < 1)) throw new CliError("TACTL_USAGE", `--count "${count}" is not a positive number`);
  const s = await activeSession(home(io));
  const colour = io.colour === true;
  let seen = 0;
  await withLoginHint(s, () =>
    taFollow(endpointOf(s), "/api/v1/events", (e) => {
      if (e.event === "ready") {
        io.stderr(`following the status changes of ${s.server}${count === undefined ? " (Ctrl-C to stop)" : ""}\n`);
        return true;
      }
      if (e.event !== "status") return true;
      let x: Json;
      try {
        x = obj(JSON.parse(e.data));
      } catch {
        return true;
      }
      if (v.json) io.stdout(JSON.stringify(x) + "\n");
      else
        io.stdout(
          `${shortTime(x.at)}  ${plain(x.host)}  ${statusWord(String(x.previous), colour)} -> ${statusWord(String(x.status), colour)}  ${plain(x.message)}\n`,
        );
      seen += 1;
      return count === undefined || seen < Number(count);
    }),
  );
  return EXIT.OK;
}

// ---------------------------------------------------------------- accounts

async function accountAdd(v: Values, io: Io, [user]: string[]): Promise<number> {
  const groups = many(v, "group");
  if (groups.length === 0) throw new CliError("TACTL_USAGE", "give at least one --group (TrustedAdmins or TrustedReaders)");
  const body: Json = { user, groups };
  if (typeof v["password-file"] === "string") body.password = await readPassword(v["password-file"]);
  const r = obj(await api(io, "POST", "/api/v1/accounts", body));
  if (typeof r.password === "string" && typeof v["password-out"] === "string") {
    await writeFileAtomic(v["password-out"], `${r.password}\n`, 0o600);
  }
  if (v.json) return json(io, typeof v["password-out"] === "string" ? { ...r, password: undefined } : r);
  io.stdout(`added account ${user} (${groups.join(", ")})\n`);
  if (typeof r.password === "string") {
    io.stdout(
      typeof v["password-out"] === "string"
        ? `its generated password is in ${v["password-out"]} (0600)\n`
        : `its generated password (shown once): ${r.password}\n`,
    );
  }
  return EXIT.OK;
}

async function accountList(v: Values, io: Io): Promise<number> {
  const r = obj(await api(io, "GET", "/api/v1/accounts"));
  if (v.json) return json(io, r);
  io.stdout(
    table(
      ["USER", "CREATED", "GROUPS"],
      arr(r.accounts).map((a) => [plain(a.user), shortTime(a.createdAt), plain(a.groups)]),
    ),
  );
  return EXIT.OK;
}

async function accountRemove(v: Values, io: Io, [user]: string[]): Promise<number> {
  const r = await api(io, "DELETE", `/api/v1/accounts/${enc(user)}`);
  if (v.json) return json(io, r);
  io.stdout(`removed account ${user}\n`);
  return EXIT.OK;
}

// ---------------------------------------------------------------- cluster

async function exportIdentity(v: Values, io: Io): Promise<number> {
  const r = await api(io, "GET", "/api/v1/identity");
  const text = JSON.stringify(r, null, 2) + "\n";
  const out = typeof v.out === "string" ? v.out : undefined;
  if (out === undefined || out === "-") {
    io.stdout(text);
    return EXIT.OK;
  }
  // Public material (URLs, TLS CA, token verification keys): an ordinary file.
  await writeFileAtomic(out, text, 0o644);
  const id = obj(r);
  io.stderr(`wrote the identity of cluster ${plain(id.cluster)} (${plain(id.attestationService)}, ${arr(obj(id.jwks).keys).length} token key(s)) to ${out}\n`);
  return EXIT.OK;
}

/** The settings `--set` takes, and how each value is read from text. */
const SETTINGS: Record<string, (raw: string) => unknown> = {
  ekTrustMode: (s) => s,
  pcrSelection: (s) => s,
  secureBootRequired: (s) => {
    if (/^(true|on|yes|1)$/i.test(s)) return true;
    if (/^(false|off|no|0)$/i.test(s)) return false;
    throw new CliError("TACTL_USAGE", `--set secureBootRequired=${s}: give true or false`);
  },
  tokenLifetimeSeconds: integer,
  nonceLifetimeSeconds: integer,
  enrollmentLifetimeSeconds: integer,
  hashAlgorithms: (s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter((x) => x !== ""),
};

function integer(s: string): number {
  if (!/^\d+$/.test(s)) throw new CliError("TACTL_USAGE", `"${s}" is not a whole number of seconds`);
  return Number(s);
}

/** `--set key=value` pairs as the PATCH body; an unknown key or a bad value is a usage error naming it. */
export function parseSettings(pairs: readonly string[]): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const p of pairs) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new CliError("TACTL_USAGE", `--set "${p}": expected key=value`);
    const key = p.slice(0, eq).trim();
    const read = Object.hasOwn(SETTINGS, key) ? SETTINGS[key] : undefined;
    if (read === undefined) throw new CliError("TACTL_USAGE", `--set: unknown setting "${key}" (settings: ${Object.keys(SETTINGS).join(", ")})`);
    try {
      patch[key] = read(p.slice(eq + 1).trim());
    } catch (e) {
      throw new CliError("TACTL_USAGE", `--set ${key}: ${(e as Error).message}`, { cause: e });
    }
  }
  return patch;
}

async function settings(v: Values, io: Io): Promise<number> {
  const pairs = many(v, "set");
  const r = obj(pairs.length === 0 ? await api(io, "GET", "/api/v1/settings") : await api(io, "PATCH", "/api/v1/settings", parseSettings(pairs)));
  if (v.json) return json(io, r);
  const width = Math.max(...Object.keys(r).map((k) => k.length));
  for (const [k, x] of Object.entries(r)) io.stdout(`${k.padEnd(width)}  ${plain(x)}\n`);
  return EXIT.OK;
}

/** `s` cut to `max` characters with an ellipsis: a table line stays readable (`--json` has everything). */
function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

async function audit(v: Values, io: Io): Promise<number> {
  const limit = typeof v.limit === "string" ? v.limit : "50";
  if (!/^\d+$/.test(limit) || Number(limit) < 1) throw new CliError("TACTL_USAGE", `--limit "${limit}" is not a positive number`);
  const r = obj(await api(io, "GET", `/api/v1/audit?limit=${limit}`));
  if (v.json) return json(io, r);
  const entries = arr(r.entries);
  io.stdout(
    entries.length === 0
      ? "no audit entry\n"
      : table(
          ["AT", "ACTOR", "ACTION", "TARGET", "DETAILS"],
          entries.map((e) => [
            shortTime(e.at),
            plain(e.actor),
            plain(e.action),
            plain(e.target),
            e.details === undefined ? "" : clip(JSON.stringify(e.details), 100),
          ]),
        ),
  );
  return EXIT.OK;
}

async function signingKeyList(v: Values, io: Io): Promise<number> {
  const r = obj(await api(io, "GET", "/api/v1/signing-keys"));
  if (v.json) return json(io, r);
  io.stdout(
    table(
      ["KID", "STATE", "CREATED", "RETIRED", "LAST TOKEN EXPIRES"],
      arr(r.keys).map((k) => [
        plain(k.kid),
        k.active === true ? "active" : "retired",
        shortTime(k.createdAt),
        shortTime(k.retiredAt),
        shortTime(k.lastTokenExpiresAt),
      ]),
    ),
  );
  return EXIT.OK;
}

async function signingKeyRotate(v: Values, io: Io): Promise<number> {
  const r = obj(await api(io, "POST", "/api/v1/signing-keys/rotate"));
  if (v.json) return json(io, r);
  io.stdout(
    `new token signing key ${plain(r.kid)}${r.retired === undefined ? "" : `; ${plain(r.retired)} retired (published until its last token expires)`}\n`,
  );
  return EXIT.OK;
}

// ---------------------------------------------------------------- specs

const JSON_OPT = { json: { type: "boolean" as const } };

function spec(
  words: string[],
  summary: string,
  usage: string,
  options: CommandSpec["options"],
  run: CommandSpec["run"],
  extra: Partial<Pick<CommandSpec, "positionals" | "variadic" | "required">> = {},
): CommandSpec {
  return { path: ["ta", ...words], summary, usage, options: { ...options, ...JSON_OPT }, run, ...extra };
}

/** The `tactl ta` commands that talk to attestd. */
export const TA_ADMIN_COMMANDS: CommandSpec[] = [
  spec(
    ["login"],
    "sign in to attestd and keep the session (server, CA, admin token) in $TESSERA_HOME (0600)",
    "--server https://HOST:PORT [--ca CA.pem] --user U --password-file F [--json]\n" +
      "  --ca: the CA of attestd's TLS certificate (attestd's DATA_DIR/tls/ca.pem); without it, the system's trust store\n" +
      "  the session is $TESSERA_HOME/session.json (default ~/.config/tessera); it lasts as long as the token",
    { server: { type: "string" }, ca: { type: "string" }, user: { type: "string" }, "password-file": { type: "string" } },
    login,
    { required: ["server", "user", "password-file"] },
  ),
  spec(["logout"], "forget the session (the token stays valid on the server until it expires)", "[--json]", {}, logout),
  spec(["whoami"], "who the session signs in as, their groups, and until when", "[--json]", {}, whoami),
  spec(
    ["tpm-ca", "add"],
    "trust TPM manufacturer CAs (roots or intermediates): PEM or DER files, PEM bundles, or directories of them",
    "CERT… [--json]\n  CERT: a .pem/.cer/.crt/.der file, a PEM bundle, or a directory (its .pem/.cer/.crt/.der files)",
    {},
    tpmCaAdd,
    { positionals: ["CERT"], variadic: true },
  ),
  spec(["tpm-ca", "list"], "the trusted TPM CAs", "[--json]", {}, tpmCaList),
  spec(["tpm-ca", "remove"], "stop trusting a TPM CA (its id, or the start of it as listed)", "ID [--json]", {}, tpmCaRemove, { positionals: ["ID"] }),
  spec(["crl", "add"], "add a CRL of a TPM CA (PEM or DER)", "CRL_FILE [--json]", {}, crlAdd, { positionals: ["CRL_FILE"] }),
  spec(["crl", "list"], "the CRLs", "[--json]", {}, crlList),
  spec(["crl", "remove"], "remove a CRL (its id, or the start of it as listed)", "ID [--json]", {}, crlRemove, { positionals: ["ID"] }),
  spec(
    ["ek-pin", "add"],
    "pin a host's EK: its certificate, or its public key for a TPM without a certificate",
    "--host H (--ek-cert ek-cert.der|.pem | --ek-pub ek.pub) [--json]\n  --ek-pub: TPM2B_PUBLIC (tpm2_createek -u, tactl tpm ek) or a PEM public key",
    { host: { type: "string" }, "ek-cert": { type: "string" }, "ek-pub": { type: "string" } },
    ekPinAdd,
    { required: ["host"] },
  ),
  spec(["ek-pin", "list"], "the pinned EKs", "[--json]", {}, ekPinList),
  spec(["ek-pin", "remove"], "remove a host's EK pin", "HOST [--json]", {}, ekPinRemove, { positionals: ["HOST"] }),
  spec(
    ["image", "add"],
    "accept a host image version: from a known-good host's event log, a boot manifest, or an image JSON",
    "--name N --version V (--from-log FILE [--firmware [--firmware-model M]] | --manifest FILE | --image FILE) [--json]\n" +
      "  --from-log: binary_bios_measurements of a known-good host; --firmware also records its PCRs 0-6 for hardware model M (default: N)",
    {
      name: { type: "string" },
      version: { type: "string" },
      "from-log": { type: "string" },
      manifest: { type: "string" },
      image: { type: "string" },
      firmware: { type: "boolean" },
      "firmware-model": { type: "string" },
    },
    imageAdd,
    { required: ["name", "version"] },
  ),
  spec(["image", "list"], "the accepted host images, every version", "[--json]", {}, imageList),
  spec(["image", "show"], "an image's versions: boot chain, kernel, initrd, command line, Secure Boot", "NAME [--json]", {}, imageShow, {
    positionals: ["NAME"],
  }),
  spec(["image", "remove"], "remove an image, or one version of it", "NAME [--version V] [--json]", { version: { type: "string" } }, imageRemove, {
    positionals: ["NAME"],
  }),
  spec(["host", "list"], "every host's attestation status (green, red, stale, unknown) and message, and the fleet summary", "[--json]", {}, hostList),
  spec(
    ["host", "show"],
    "a host's status, enrollment and history; for a red host each failed check (PCR, bank, event, expected, measured, closest image)",
    "HOST [--json]",
    {},
    hostShow,
    { positionals: ["HOST"] },
  ),
  spec(["host", "remove"], "forget a host: enrollment, status and history (it must enroll again)", "HOST [--json]", {}, hostRemove, { positionals: ["HOST"] }),
  spec(
    ["events"],
    "follow host status changes as attestd pushes them (server-sent events); one line each, or JSON lines with --json",
    "[--count N] [--json]\n  --count: stop after N status changes (default: follow until interrupted)",
    { count: { type: "string" } },
    events,
  ),
  spec(
    ["account", "add"],
    "add a local account of TrustedAdmins or TrustedReaders (a generated password unless --password-file)",
    "USER --group TrustedAdmins|TrustedReaders … [--password-file F | --password-out F] [--json]\n" +
      "  --password-out: write the generated password to F (0600) instead of printing it",
    { group: { type: "string", multiple: true }, "password-file": { type: "string" }, "password-out": { type: "string" } },
    accountAdd,
    { positionals: ["USER"] },
  ),
  spec(["account", "list"], "the local accounts and their groups", "[--json]", {}, accountList),
  spec(["account", "remove"], "remove a local account", "USER [--json]", {}, accountRemove, { positionals: ["USER"] }),
  spec(["signing-key", "list"], "the token signing keys: the active one and the retired ones still published", "[--json]", {}, signingKeyList),
  spec(
    ["signing-key", "rotate"],
    "make a new token signing key active; the old one stays published until its last token expires",
    "[--json]",
    {},
    signingKeyRotate,
  ),
  spec(
    ["export-identity"],
    "the Trust Authority cluster's identity (service URLs, TLS CA, token keys) as one JSON file",
    "[-o FILE]\n  without -o (or with -o -), the identity goes to stdout",
    { out: { type: "string", short: "o" } },
    exportIdentity,
  ),
  spec(
    ["settings"],
    "show the attestation settings, or change them with --set key=value …",
    "[--set key=value …] [--json]\n" +
      "  keys: ekTrustMode=ca|pin, pcrSelection=sha256:0,1,…, secureBootRequired=true|false, tokenLifetimeSeconds=N,\n" +
      "        nonceLifetimeSeconds=N, enrollmentLifetimeSeconds=N, hashAlgorithms=sha256,sha384",
    { set: { type: "string", multiple: true } },
    settings,
  ),
  spec(["audit"], "the audit trail: who changed what, when (newest first)", "[--limit N] [--json]", { limit: { type: "string" } }, audit),
];
