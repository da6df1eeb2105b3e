/**
 * `tactl kp create|list|show|remove|rotate|rewrap|trust-setup|grant|revoke` and `tactl kp cluster
 * set|list|remove`: the client of kmxd's admin API (PLAN.md "Admin REST"). Each takes `--server URL --ca F`
 * naming kmxd and sends the admin token of the `tactl ta login` session (kmxd takes attestd's admin tokens).
 * As `tactl ta`: reads print a table or a listing, or with `--json` kmxd's JSON document as it came; a refusal
 * prints kmxd's problem as `tactl: <title>: <detail>` and exits 1; bad usage or input exits 2; kmxd out of reach
 * or a TLS failure exits 3.
 * @module
 */
import type { CommandSpec, Io } from "../cli.ts";
import { CliError, EXIT } from "../errors.ts";
import { readText, writeFileAtomic } from "../files.ts";
import { checkName, clusterRules, parseKmipServers, parseWrapMode, parseWrapped, readClientCredentials } from "../kp_args.ts";
import { kpEndpoint, kpRequest, type KpEndpoint } from "../kp_client.ts";
import { auditTable, clusterTable, currentVersion, modeOf, providerListing, providerTable } from "../kp_format.ts";
import { plain } from "../ta_format.ts";
import { readCaPem } from "../ta_session.ts";
import { arr, json, type Json, many, obj, opt, str, type Values } from "../values.ts";


const enc = encodeURIComponent;

/** kmxd's endpoint from `--server`/`--ca` and the session's token. */
function endpoint(v: Values, io: Io): Promise<KpEndpoint> {
  return kpEndpoint(str(v, "server"), opt(v, "ca"), io.env ?? process.env);
}

/** A provider view: the document itself, or its `provider` member when kmxd wraps it. */
function providerOf(r: unknown): Json {
  const o = obj(r);
  return typeof o.provider === "object" && o.provider !== null ? obj(o.provider) : o;
}

// ---------------------------------------------------------------- providers

async function create(v: Values, io: Io, [name]: string[]): Promise<number> {
  checkName(name, "provider name");
  const kmipServers = parseKmipServers(many(v, "kmip-server"));
  const keyId = str(v, "key-id");
  if (keyId.trim() === "") throw new CliError("TACTL_USAGE", "--key-id is empty");
  const serverCa = await readCaPem(str(v, "server-ca"), "--server-ca");
  const creds = await readClientCredentials(str(v, "cert"), opt(v, "key"));
  const wrapMode = parseWrapMode(opt(v, "wrap-mode"));
  const e = await endpoint(v, io);
  const body: Json = {
    name,
    kmipServers,
    keyId,
    serverCa,
    clientCertificate: creds.certificate,
    ...(creds.key === undefined ? {} : { clientKey: creds.key }),
    ...(wrapMode === undefined ? {} : { wrapMode }),
  };
  const r = await kpRequest(e, "POST", "/api/v1/providers", body);
  if (v.json) return json(io, r);
  const p = providerOf(r);
  const cur = currentVersion(p);
  io.stdout(
    `created provider ${name}: key ${plain(cur?.keyId ?? keyId)} (version ${plain(cur?.version ?? 1)}, mode ${modeOf(p)}) on ${kmipServers.join(", ")}\n` +
      `it serves no cluster until granted: tactl kp grant ${name} --cluster C --server ${e.server} …\n`,
  );
  return EXIT.OK;
}

async function list(v: Values, io: Io): Promise<number> {
  const r = await kpRequest(await endpoint(v, io), "GET", "/api/v1/providers");
  if (v.json) return json(io, r);
  io.stdout(providerTable(Array.isArray(r) ? arr(r) : arr(obj(r).providers)));
  return EXIT.OK;
}

async function show(v: Values, io: Io, [name]: string[]): Promise<number> {
  const r = await kpRequest(await endpoint(v, io), "GET", `/api/v1/providers/${enc(name)}`);
  if (v.json) return json(io, r);
  io.stdout(providerListing(providerOf(r)));
  return EXIT.OK;
}

async function remove(v: Values, io: Io, [name]: string[]): Promise<number> {
  const r = await kpRequest(await endpoint(v, io), "DELETE", `/api/v1/providers/${enc(name)}`);
  if (v.json) return json(io, r ?? { removed: name });
  io.stdout(`removed provider ${name}: kmxd no longer serves it (its keys stay on the key servers)\n`);
  return EXIT.OK;
}

async function rotate(v: Values, io: Io, [name]: string[]): Promise<number> {
  const keyId = opt(v, "key-id");
  if (keyId !== undefined && keyId.trim() === "") throw new CliError("TACTL_USAGE", "--key-id is empty");
  const r = await kpRequest(await endpoint(v, io), "POST", `/api/v1/providers/${enc(name)}/rotate`, keyId === undefined ? {} : { keyId });
  if (v.json) return json(io, r);
  const o = obj(r);
  // The answer is the new version, or the provider with it as its current one.
  const ver = o.version !== undefined && o.keyId !== undefined ? o : (currentVersion(providerOf(r)) ?? {});
  io.stdout(
    `provider ${name}: key version ${plain(ver.version)} is current (key ${plain(ver.keyId)}${ver.mode === undefined ? "" : `, mode ${plain(ver.mode)}`}); ` +
      `keys wrapped under older versions still unwrap; move them with \`tactl kp rewrap ${name}\`\n`,
  );
  return EXIT.OK;
}

async function rewrap(v: Values, io: Io, [name]: string[]): Promise<number> {
  const given = opt(v, "wrapped");
  const file = opt(v, "file");
  if ((given === undefined) === (file === undefined)) throw new CliError("TACTL_USAGE", "give --wrapped B64 or --file F (one of them)");
  const wrapped = given !== undefined ? parseWrapped(given, "--wrapped") : parseWrapped(await readText(file!, "wrapped key"), `--file ${file}`);
  const r = obj(await kpRequest(await endpoint(v, io), "POST", `/api/v1/admin/providers/${enc(name)}/rewrap`, { wrapped }));
  if (typeof r.wrapped !== "string") throw new CliError("TACTL_INPUT", `kmxd answered the rewrap without a wrapped key: is --server kmxd?`);
  const out = opt(v, "out");
  // A wrapped key is no secret (only the key server can open it): an ordinary file.
  if (out !== undefined) await writeFileAtomic(out, `${r.wrapped}\n`, 0o644);
  if (v.json) return json(io, r);
  if (out === undefined) io.stdout(`${r.wrapped}\n`);
  else io.stderr(`wrote the key rewrapped under the current version of ${name} to ${out}\n`);
  return EXIT.OK;
}

async function trustSetup(v: Values, io: Io, [name]: string[]): Promise<number> {
  checkName(name, "provider name");
  const kmipServers = parseKmipServers(many(v, "kmip-server"));
  const serverCa = await readCaPem(str(v, "server-ca"), "--server-ca");
  const e = await endpoint(v, io);
  const r = obj(await kpRequest(e, "POST", "/api/v1/trust-setups", { name, kmipServers, serverCa }));
  if (typeof r.csr !== "string") throw new CliError("TACTL_INPUT", "kmxd answered the trust set-up without a CSR: is --server kmxd?");
  const out = opt(v, "csr-out");
  // A CSR is public: an ordinary file.
  if (out !== undefined && out !== "-") await writeFileAtomic(out, r.csr.endsWith("\n") ? r.csr : `${r.csr}\n`, 0o644);
  if (v.json) return json(io, r);
  if (out === undefined || out === "-") io.stdout(r.csr.endsWith("\n") ? r.csr : `${r.csr}\n`);
  io.stderr(
    `${out === undefined || out === "-" ? "the CSR above" : `wrote the CSR to ${out}`}: have the key server's CA issue a client certificate for it, then\n` +
      `  tactl kp create ${name} --kmip-server ${kmipServers.join(",")} --key-id ID --server-ca F --cert ISSUED.pem --server ${e.server} …\n`,
  );
  return EXIT.OK;
}

async function grant(v: Values, io: Io, [name]: string[]): Promise<number> {
  const cluster = checkName(str(v, "cluster"), "--cluster");
  const r = await kpRequest(await endpoint(v, io), "POST", `/api/v1/providers/${enc(name)}/grants`, { cluster });
  if (v.json) return json(io, r ?? { provider: name, cluster });
  io.stdout(`hosts of cluster ${cluster} may now use provider ${name}\n`);
  return EXIT.OK;
}

async function revoke(v: Values, io: Io, [name]: string[]): Promise<number> {
  const cluster = checkName(str(v, "cluster"), "--cluster");
  const r = await kpRequest(await endpoint(v, io), "DELETE", `/api/v1/providers/${enc(name)}/grants/${enc(cluster)}`);
  if (v.json) return json(io, r ?? { provider: name, cluster });
  io.stdout(`hosts of cluster ${cluster} may no longer use provider ${name}\n`);
  return EXIT.OK;
}

// ---------------------------------------------------------------- clusters

async function clusterSet(v: Values, io: Io, [name]: string[]): Promise<number> {
  checkName(name, "cluster name");
  if (name === "default") throw new CliError("TACTL_USAGE", `cluster "default" has no rules: it holds every host that no other cluster takes`);
  const rules = await clusterRules(many(v, "host"), many(v, "ek"), many(v, "tpm-ca"));
  const r = await kpRequest(await endpoint(v, io), "PUT", `/api/v1/clusters/${enc(name)}`, { rules });
  if (v.json) return json(io, r ?? { name, rules });
  io.stdout(`cluster ${name}: ${rules.length} rule${rules.length === 1 ? "" : "s"} (a host is in it when any matches)\n`);
  return EXIT.OK;
}

async function clusterList(v: Values, io: Io): Promise<number> {
  const r = await kpRequest(await endpoint(v, io), "GET", "/api/v1/clusters");
  if (v.json) return json(io, r);
  io.stdout(clusterTable(Array.isArray(r) ? arr(r) : arr(obj(r).clusters)));
  return EXIT.OK;
}

async function clusterRemove(v: Values, io: Io, [name]: string[]): Promise<number> {
  if (name === "default") throw new CliError("TACTL_USAGE", `cluster "default" cannot be removed: it holds every host that no other cluster takes`);
  const r = await kpRequest(await endpoint(v, io), "DELETE", `/api/v1/clusters/${enc(name)}`);
  if (v.json) return json(io, r ?? { removed: name });
  io.stdout(`removed cluster ${name}: its hosts are in cluster default again, and its grants are gone\n`);
  return EXIT.OK;
}

// ---------------------------------------------------------------- audit

async function audit(v: Values, io: Io): Promise<number> {
  const limit = opt(v, "limit") ?? "50";
  if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000) throw new CliError("TACTL_USAGE", `--limit "${limit}" is not a number from 1 to 1000`);
  const q = new URLSearchParams({ limit });
  const provider = opt(v, "provider");
  const host = opt(v, "host");
  if (provider !== undefined) q.set("provider", checkName(provider, "--provider"));
  if (host !== undefined) q.set("host", host);
  const r = await kpRequest(await endpoint(v, io), "GET", `/api/v1/audit?${q.toString()}`);
  if (v.json) return json(io, r);
  io.stdout(auditTable(arr(obj(r).entries)));
  return EXIT.OK;
}

// ---------------------------------------------------------------- specs

const CONNECT = { server: { type: "string" as const }, ca: { type: "string" as const }, json: { type: "boolean" as const } };
const CONNECT_USAGE = "--server https://KMXD:7888 [--ca CA.pem] [--json]";
const CONNECT_HELP =
  "\n  --server, --ca: kmxd's address and the CA of its TLS certificate (kmxd's DATA_DIR/tls/ca.pem); the token is the `tactl ta login` session's";

/** The usage with the connection options at the end of its first line (the lines after it explain options). */
function withConnect(usage: string): string {
  const nl = usage.indexOf("\n");
  const first = nl === -1 ? usage : usage.slice(0, nl);
  const rest = nl === -1 ? "" : usage.slice(nl);
  return `${first}${first === "" ? "" : " "}${CONNECT_USAGE}${rest}${CONNECT_HELP}`;
}

function spec(
  words: string[],
  summary: string,
  usage: string,
  options: CommandSpec["options"],
  run: CommandSpec["run"],
  extra: Partial<Pick<CommandSpec, "positionals" | "variadic" | "required">> = {},
): CommandSpec {
  return {
    path: ["kp", ...words],
    summary,
    usage: withConnect(usage),
    options: { ...options, ...CONNECT },
    run,
    ...extra,
    required: ["server", ...(extra.required ?? [])],
  };
}

/** The `tactl kp` commands (kmxd's admin API). */
export const KP_COMMANDS: CommandSpec[] = [
  spec(
    ["create"],
    "make a trusted key provider: its primary key on KMIP servers (checked: exists, Active), kmxd's client certificate",
    "NAME --kmip-server HOST:PORT[,HOST:PORT…] --key-id ID --server-ca F --cert F [--key F] [--wrap-mode auto|A256GCM|CBC-HMAC-SHA256]\n" +
      "  --kmip-server: the key servers holding the key, tried in this order (repeatable)\n" +
      "  --server-ca: the CA of the key servers' TLS certificates; --cert/--key: kmxd's client certificate and key for them\n" +
      "    (without --key: the key of `tactl kp trust-setup NAME`, whose CSR --cert was issued for)\n" +
      "  --wrap-mode: how data keys are wrapped (default auto: AES-GCM when the server has it, else AES-CBC + HMAC-SHA256)",
    {
      "kmip-server": { type: "string", multiple: true },
      "key-id": { type: "string" },
      "server-ca": { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "wrap-mode": { type: "string" },
    },
    create,
    { positionals: ["NAME"], required: ["kmip-server", "key-id", "server-ca", "cert"] },
  ),
  spec(["list"], "the trusted key providers: current key version, mode, KMIP servers, clusters granted", "", {}, list),
  spec(["show"], "a key provider: KMIP servers, mode, clusters granted, every key version", "NAME", {}, show, { positionals: ["NAME"] }),
  spec(["remove"], "remove a key provider (its keys stay on the key servers)", "NAME", {}, remove, { positionals: ["NAME"] }),
  spec(
    ["rotate"],
    "make a new primary key version current: a given key, or a new AES-256 key made on the key server; older wrapped keys still unwrap",
    "NAME [--key-id ID]\n  --key-id: an existing Active key on the provider's servers (default: kmxd creates and activates one)",
    { "key-id": { type: "string" } },
    rotate,
    { positionals: ["NAME"] },
  ),
  spec(
    ["rewrap"],
    "move a wrapped key to the provider's current key version (on the key server: no secret leaves it)",
    "NAME (--wrapped B64 | --file F) [--out F]\n  --file: a file holding the wrapped key (base64); --out: write the rewrapped key there instead of stdout",
    { wrapped: { type: "string" }, file: { type: "string" }, out: { type: "string" } },
    rewrap,
    { positionals: ["NAME"] },
  ),
  spec(
    ["trust-setup"],
    "begin trust with key servers: kmxd makes its client key (kept wrapped) and a CSR for their CA to issue",
    "NAME --kmip-server HOST:PORT[,HOST:PORT…] --server-ca F [--csr-out F]\n  --csr-out: write the CSR there (default: stdout)",
    { "kmip-server": { type: "string", multiple: true }, "server-ca": { type: "string" }, "csr-out": { type: "string" } },
    trustSetup,
    { positionals: ["NAME"], required: ["kmip-server", "server-ca"] },
  ),
  spec(["grant"], "let the hosts of a trusted cluster use a provider", "NAME --cluster C", { cluster: { type: "string" } }, grant, {
    positionals: ["NAME"],
    required: ["cluster"],
  }),
  spec(["revoke"], "stop the hosts of a trusted cluster using a provider", "NAME --cluster C", { cluster: { type: "string" } }, revoke, {
    positionals: ["NAME"],
    required: ["cluster"],
  }),
  spec(
    ["cluster", "set"],
    "define a trusted cluster (or replace its rules): its hosts by name pattern, EK fingerprint or TPM CA",
    "C [--host GLOB …] [--ek FINGERPRINT …] [--tpm-ca CERT.pem …]\n" +
      "  a host is in the cluster when any rule matches; hosts in no cluster are in `default`\n" +
      "  --host: name pattern (* any run of characters); --ek: SHA-256 of the EK's public key (tactl ta ek-pin list);\n" +
      "  --tpm-ca: hosts whose EK certificate chains to this CA (PEM or DER; a PEM bundle gives one rule per certificate)",
    { host: { type: "string", multiple: true }, ek: { type: "string", multiple: true }, "tpm-ca": { type: "string", multiple: true } },
    clusterSet,
    { positionals: ["C"] },
  ),
  spec(["cluster", "list"], "the trusted clusters and their rules", "", {}, clusterList),
  spec(["cluster", "remove"], "remove a trusted cluster (not default): its hosts go back to default, its grants go", "C", {}, clusterRemove, {
    positionals: ["C"],
  }),
  spec(
    ["audit"],
    "kmxd's audit trail: every key operation (host, provider, key version, result) and every change, newest first",
    "[--provider P] [--host H] [--limit N]\n  --limit: at most N entries (1-1000, default 50)",
    { provider: { type: "string" }, host: { type: "string" }, limit: { type: "string" } },
    audit,
  ),
];
