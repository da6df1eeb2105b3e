/**
 * The set-up workflow of DESIGN.md's seven steps, the commands that are not another group's:
 * 1. `tactl host export-identity --agent SOCKET [-o F]`: the host's identity from its agent (kmxa's socket).
 * 2. `tactl ta enable --kmxd URL [--kmxd-ca F]`: attestd and kmxd answer, and kmxd takes this attestd's tokens.
 * 3. `tactl ta import-host-identity F`: the host's EK trusted (pinned, or checked against attestd's TPM CAs) and
 *    its boot's event log accepted as a host image.
 * 4. `tactl kp create` (kp.ts); 5. `tactl ta export-identity` (ta_admin.ts).
 * 6. `tactl cluster import-ta-identity F --agent SOCKET`: the agent uses that Trust Authority from now on.
 * 7. `tactl cluster set-key-provider KP --agent SOCKET`: the agent's default key provider.
 * And `tactl status`: the fleet as attestd sees it. Output and exit codes as `tactl ta`: 0 ok, 1 refused (or a
 * check failed), 2 usage or input, 3 a server or the agent out of reach.
 * @module
 */
import type { CommandSpec, Io } from "../cli.ts";
import { CliError, EXIT } from "../errors.ts";
import { readText, writeFileAtomic } from "../files.ts";
import { kpEndpoint } from "../kp_client.ts";
import { taRequest, TaProblemError, type TaEndpoint } from "../ta_client.ts";
import { plain, shortTime, statusWord, table } from "../ta_format.ts";
import { activeSession, readCaPem, tesseraHome, type TaSession } from "../ta_session.ts";
import { agentRequest } from "../wf_agent_client.ts";
import { HOST_IDENTITY_FORMAT, parseHostIdentity, parseTaIdentity } from "../wf_identity.ts";
import { arr, json, type Json, obj, opt, str, type Values } from "../values.ts";

function endpointOf(s: TaSession): TaEndpoint {
  return { server: s.server, token: s.token, ...(s.ca === undefined ? {} : { ca: s.ca }) };
}

/** attestd's admin API with the session (a 401 says to log in again, as `tactl ta` does). */
async function attestd(io: Io, method: string, pathAndQuery: string, body?: unknown): Promise<unknown> {
  const s = await activeSession(tesseraHome(io.env ?? process.env));
  try {
    return (await taRequest(endpointOf(s), method, pathAndQuery, body)).body;
  } catch (e) {
    if (e instanceof TaProblemError && e.status === 401) {
      throw new TaProblemError(401, { ...e.problem, detail: `${e.detail}; log in again with \`tactl ta login --server ${s.server} …\`` });
    }
    throw e;
  }
}

// ---------------------------------------------------------------- step 1

async function exportHostIdentity(v: Values, io: Io): Promise<number> {
  const socket = str(v, "agent");
  const q = new URLSearchParams();
  const name = opt(v, "image-name");
  const version = opt(v, "image-version");
  if (name !== undefined) q.set("name", name);
  if (version !== undefined) q.set("version", version);
  const id = obj(await agentRequest(socket, "GET", `/api/v1/identity${q.size > 0 ? `?${q.toString()}` : ""}`));
  // Checked on the way out too: a file the import would refuse is not written.
  const checked = parseHostIdentity(JSON.stringify(id), `the agent's identity (${socket})`);
  const text = JSON.stringify({ format: HOST_IDENTITY_FORMAT, ...id }, null, 2) + "\n";
  const out = opt(v, "out");
  if (out === undefined || out === "-") {
    io.stdout(text);
    return EXIT.OK;
  }
  // Public material (EK certificate or public key, the measured boot): an ordinary file.
  await writeFileAtomic(out, text, 0o644);
  const img = checked.image === undefined ? `no image (${plain(id.imageError)})` : `image ${checked.image.name} ${checked.image.version}`;
  io.stderr(
    `wrote the identity of ${checked.host} to ${out}: EK ${checked.ekCertificate !== undefined ? `certificate issued by ${plain(checked.caChain[0]?.issuer)}` : "public key (no certificate)"}, ` +
      `TPM ${plain(checked.tpm.manufacturer)} ${plain(checked.tpm.model)} firmware ${plain(checked.tpm.firmware)}, ${img}\n`,
  );
  return EXIT.OK;
}

// ---------------------------------------------------------------- step 2

async function enable(v: Values, io: Io): Promise<number> {
  const s = await activeSession(tesseraHome(io.env ?? process.env));
  const me = obj(await attestd(io, "GET", "/api/v1/whoami"));
  const identity = obj(await attestd(io, "GET", "/api/v1/identity"));
  const kx = await kpEndpoint(str(v, "kmxd"), opt(v, "kmxd-ca"), io.env ?? process.env);
  // Health needs no token: kmxd answering at all, and whether it follows attestd's host status events.
  const health = obj((await taRequest({ server: kx.server, ...(kx.ca === undefined ? {} : { ca: kx.ca }) }, "GET", "/api/v1/health")).body);
  let kmxdMe: Json | undefined;
  let refusal: string | undefined;
  try {
    kmxdMe = obj((await taRequest(kx, "GET", "/api/v1/whoami")).body);
  } catch (e) {
    if (!(e instanceof TaProblemError) || (e.status !== 401 && e.status !== 403)) throw e;
    refusal = `${e.title}: ${e.detail}`;
  }
  const providers = kmxdMe === undefined ? undefined : arr(obj((await taRequest(kx, "GET", "/api/v1/providers")).body).providers);
  const named = typeof identity.keyProviderService === "string" ? identity.keyProviderService.replace(/\/+$/, "") : undefined;
  const result = {
    attestd: { url: s.server, cluster: identity.cluster ?? null, subject: me.subject ?? s.subject, groups: me.groups ?? s.groups, issuer: me.issuer ?? null },
    kmxd: {
      url: kx.server,
      health: health.status ?? null,
      attestdEvents: health.attestdEvents ?? null,
      trustsAttestd: kmxdMe !== undefined,
      ...(refusal === undefined ? {} : { refusal }),
      ...(providers === undefined ? {} : { providers: providers.length }),
    },
    identityNamesKmxd: named === undefined ? false : named === kx.server,
    enabled: kmxdMe !== undefined,
  };
  if (v.json) {
    json(io, result);
    return result.enabled ? EXIT.OK : EXIT.REFUSED;
  }
  io.stdout(
    `attestd  ${s.server}: cluster ${plain(identity.cluster)}, signed in as ${plain(result.attestd.subject)} (${plain(result.attestd.groups)})\n` +
      `kmxd     ${kx.server}: ${plain(health.status)}, attestd's host events ${plain(health.attestdEvents)}\n`,
  );
  if (kmxdMe === undefined) {
    io.stderr(`tactl: kmxd at ${kx.server} does not take this attestd's admin tokens (${refusal}): start kmxd with --attestd ${s.server} and attestd's CA\n`);
    return EXIT.REFUSED;
  }
  io.stdout(
    `         takes this attestd's tokens (issuer ${plain(kmxdMe.issuer)}); ${providers?.length ?? 0} key provider${providers?.length === 1 ? "" : "s"}\n` +
      `enabled: hosts attest with ${s.server} and get keys from ${kx.server}\n`,
  );
  if (named === undefined)
    io.stderr(`note: attestd's exported identity names no kmxd (attestd --key-provider-url ${kx.server}); hosts importing it need --kmxd ${kx.server}\n`);
  else if (named !== kx.server) io.stderr(`note: attestd's exported identity names kmxd ${named}, not ${kx.server}\n`);
  if (health.status !== "ok") io.stderr(`note: kmxd is ${plain(health.status)}: it does not follow attestd's host status events now\n`);
  return EXIT.OK;
}

// ---------------------------------------------------------------- step 3

async function importHostIdentity(v: Values, io: Io, [file]: string[]): Promise<number> {
  const id = parseHostIdentity(await readText(file, "host identity"), file);
  const settings = obj(await attestd(io, "GET", "/api/v1/settings"));
  const pinMode = settings.ekTrustMode === "pin";
  const pin = v.pin === true || pinMode || id.ekCertificate === undefined;
  const report: Json = { host: id.host, ekFingerprint: id.ekFingerprint };
  const lines: string[] = [];
  if (pin) {
    const body = { host: id.host, ekPublic: id.ekPublic, ...(id.ekCertificate === undefined ? {} : { ekCertificate: id.ekCertificate }) };
    const r = obj(await attestd(io, "POST", "/api/v1/ek-pins", body));
    const p = obj(r.pin);
    report.ek = { trust: "pinned", by: id.ekCertificate === undefined ? "public key" : "certificate", ekFingerprint: p.ekFingerprint ?? id.ekFingerprint };
    const why = v.pin === true ? "--pin" : pinMode ? "attestd is in pin mode" : "the TPM has no EK certificate";
    lines.push(
      `pinned the EK of ${id.host} by its ${id.ekCertificate === undefined ? "public key" : "certificate"} (${why}): ${plain(p.ekFingerprint ?? id.ekFingerprint)}`,
    );
  } else {
    const issuer = id.caChain[0]?.issuer;
    const cas = arr(obj(await attestd(io, "GET", "/api/v1/tpm-cas")).cas);
    const ca = issuer === undefined ? undefined : cas.find((c) => c.subject === issuer);
    if (ca === undefined) {
      io.stderr(
        `tactl: the EK certificate of ${id.host} is issued by ${issuer ?? "(unknown: the identity names no issuer)"}, which is not among attestd's ${cas.length} TPM CA${cas.length === 1 ? "" : "s"}: ` +
          `add the TPM maker's CA with \`tactl ta tpm-ca add CA.pem\`, or pin this host's EK with --pin\n`,
      );
      if (v.json) json(io, { ...report, ek: { trust: "untrusted", issuer: issuer ?? null } });
      return EXIT.REFUSED;
    }
    report.ek = { trust: "ca", ca: { id: ca.id, subject: ca.subject } };
    lines.push(`the EK certificate of ${id.host} is issued by a trusted TPM CA: ${plain(ca.subject)} (${String(ca.id).slice(0, 16)})`);
  }
  if (v["no-image"] === true) {
    report.image = null;
  } else if (id.eventLog === "") {
    throw new CliError(
      "TACTL_INPUT",
      `${file}: the host's identity holds no event log, so no image can be made of it: give --no-image, or export it again on a booted host`,
    );
  } else {
    const name = opt(v, "image-name") ?? id.image?.name ?? id.host;
    const version = opt(v, "image-version") ?? id.image?.version ?? "measured";
    try {
      const r = obj(await attestd(io, "POST", "/api/v1/images", { name, version, eventLog: id.eventLog }));
      const i = obj(r.image);
      report.image = { name, version, added: true, summary: i.summary ?? null };
      lines.push(`accepted image ${name} ${version}: ${plain(i.summary)}`);
    } catch (e) {
      // A host of a kind already imported: its image is there (a new version needs --image-version).
      if (!(e instanceof TaProblemError && e.status === 409)) throw e;
      report.image = { name, version, added: false };
      lines.push(`image ${name} ${version} is already accepted (not replaced; give --image-version for a new version)`);
    }
  }
  if (v.json) return json(io, report);
  io.stdout(lines.join("\n") + "\n");
  return EXIT.OK;
}

// ---------------------------------------------------------------- steps 6 and 7

function agentStatusLine(st: Json, colour: boolean): string {
  const state = String(st.state);
  // The agent's words, in the fleet's colours: attested is green, refused red.
  const word = colour && state === "attested" ? `\x1b[32m${state}\x1b[0m` : colour && state === "refused" ? `\x1b[31m${state}\x1b[0m` : state;
  const f = obj(st.lastFailure);
  // Each check once: an image mismatch is one failure per differing component, all `image-unknown`.
  const failures = [...new Set(arr(f.failures).map((x) => plain(x.check)))].join(", ");
  return `${plain(st.host)}: ${word}${st.lastFailure === undefined ? "" : ` (${plain(f.code)}: ${plain(f.detail)}${failures === "" ? "" : `; checks: ${failures}`})`}${
    st.tokenExpiresAt === undefined ? "" : `, token until ${shortTime(st.tokenExpiresAt)}`
  }`;
}

async function importTaIdentity(v: Values, io: Io, [file]: string[]): Promise<number> {
  const ta = parseTaIdentity(await readText(file, "Trust Authority identity"), file);
  const socket = str(v, "agent");
  const kmxdGiven = opt(v, "kmxd");
  const kmxdUrl = (kmxdGiven ?? ta.keyProviderService)?.replace(/\/+$/, "");
  if (kmxdUrl === undefined) {
    throw new CliError("TACTL_USAGE", `${file} names no Key Provider Service (attestd runs without --key-provider-url): give --kmxd https://HOST:PORT`);
  }
  if (!/^https:\/\//.test(kmxdUrl)) throw new CliError("TACTL_USAGE", `--kmxd "${kmxdUrl}": kmxd speaks HTTPS only (https://host:port)`);
  const kmxdCaFile = opt(v, "kmxd-ca");
  const kmxdCa = kmxdCaFile !== undefined ? await readCaPem(kmxdCaFile, "--kmxd-ca") : (ta.keyProviderServiceCa ?? ta.tlsCa);
  const body = { attestd: { url: ta.attestationService, ca: ta.tlsCa }, kmxd: { url: kmxdUrl, ca: kmxdCa }, cluster: ta.cluster };
  const r = obj(await agentRequest(socket, "PUT", "/api/v1/ta-identity", body));
  const st = obj(r.status);
  if (v.json) return json(io, r);
  io.stdout(
    `the agent at ${socket} now uses Trust Authority ${ta.cluster}: attestd ${ta.attestationService}, kmxd ${kmxdUrl}\n` +
      `${agentStatusLine(st, io.colour === true)}\n`,
  );
  return EXIT.OK;
}

async function setKeyProvider(v: Values, io: Io, [name]: string[]): Promise<number> {
  const socket = str(v, "agent");
  const previous = obj(await agentRequest(socket, "GET", "/api/v1/key-provider")).name ?? null;
  const r = obj(await agentRequest(socket, "PUT", "/api/v1/key-provider", { name }));
  let check: Json | undefined;
  if (v.check === true) {
    // One data key through the agent proves the whole path (token, grant, key server, TPM); the key is dropped.
    let dk: Json;
    try {
      dk = obj(await agentRequest(socket, "POST", "/api/v1/data-keys", {}));
    } catch (e) {
      // A provider that does not serve this host is not left as its default.
      await agentRequest(socket, "PUT", "/api/v1/key-provider", { name: previous }).catch(() => undefined);
      throw e;
    }
    check = { dataKey: typeof dk.key === "string" ? Buffer.from(dk.key, "base64").length : 0, wrapped: typeof dk.wrapped === "string" };
    if (typeof dk.key === "string") dk.key = "";
  }
  if (v.json) return json(io, { ...r, ...(check === undefined ? {} : { check }) });
  io.stdout(`the agent at ${socket} uses key provider ${plain(r.name)} by default (POST /api/v1/data-keys on its socket)\n`);
  if (check !== undefined) io.stdout(`checked: a ${plain(check.dataKey)}-byte data key came through the agent, opened in its TPM\n`);
  return EXIT.OK;
}

// ---------------------------------------------------------------- status

async function status(v: Values, io: Io): Promise<number> {
  const r = obj(await attestd(io, "GET", "/api/v1/hosts"));
  if (v.json) return json(io, r);
  const hosts = arr(r.hosts);
  const colour = io.colour === true;
  if (hosts.length > 0) {
    io.stdout(
      table(
        ["HOST", "STATUS", "IMAGE", "LAST ATTESTATION", "MESSAGE"],
        hosts.map((h) => {
          const image = obj(h.image);
          return [
            plain(h.host),
            statusWord(String(h.status), colour),
            h.image === undefined ? "-" : `${plain(image.name)} ${plain(image.version)}`,
            shortTime(h.lastAttempt),
            plain(h.message),
          ];
        }),
      ),
    );
  }
  const s = obj(r.summary);
  const n = (k: string): number => (typeof s[k] === "number" ? (s[k] as number) : 0);
  io.stdout(
    `${n("total")} host${n("total") === 1 ? "" : "s"}: ${n("green")} ${statusWord("green", colour)}, ${n("red")} ${statusWord("red", colour)}, ${n("stale")} ${statusWord("stale", colour)}, ${n("unknown")} unknown\n`,
  );
  return EXIT.OK;
}

// ---------------------------------------------------------------- specs

const JSON_OPT = { json: { type: "boolean" as const } };
const AGENT = { agent: { type: "string" as const } };
const AGENT_HELP = "\n  --agent: the host agent's Unix socket (kmxa's --socket, default DATA_DIR/kmxa.sock; 0600: run as its user or root)";

/** `tactl host …` commands of the workflow. */
export const WF_HOST_COMMANDS: CommandSpec[] = [
  {
    path: ["host", "export-identity"],
    summary: "a host's identity from its agent: EK certificate or public key, its CA, TPM maker/model/firmware, the boot's event log",
    usage:
      "--agent SOCKET [-o FILE] [--image-name N] [--image-version V]\n" +
      "  -o: write the identity there (default stdout); --image-name/--image-version: how the image of its boot is named\n" +
      '  (default: the host\'s name and "measured")' +
      AGENT_HELP,
    options: { ...AGENT, out: { type: "string", short: "o" }, "image-name": { type: "string" }, "image-version": { type: "string" } },
    required: ["agent"],
    run: exportHostIdentity,
  },
];

/** `tactl ta …` commands of the workflow. */
export const WF_TA_COMMANDS: CommandSpec[] = [
  {
    path: ["ta", "enable"],
    summary: "check the trusted-host services: attestd and kmxd answer, and kmxd takes this attestd's tokens; print what is enabled",
    usage:
      "--kmxd https://HOST:7888 [--kmxd-ca CA.pem] [--json]\n" +
      "  --kmxd-ca: the CA of kmxd's TLS certificate (kmxd's DATA_DIR/tls/ca.pem); attestd is the `tactl ta login` session's\n" +
      "  exit 1 when kmxd does not take this attestd's admin tokens",
    options: { kmxd: { type: "string" }, "kmxd-ca": { type: "string" }, ...JSON_OPT },
    required: ["kmxd"],
    run: enable,
  },
  {
    path: ["ta", "import-host-identity"],
    summary: "trust a host's TPM (EK pinned, or checked against the trusted TPM CAs) and accept the image its boot measured",
    usage:
      "FILE [--pin] [--image-name N] [--image-version V] [--no-image] [--json]\n" +
      "  FILE: from `tactl host export-identity`\n" +
      "  --pin: pin the host's EK (certificate, or public key) instead of trusting its CA; always so in pin mode or without a certificate\n" +
      "  --image-name/--image-version: the accepted image's name and version (default: the file's); --no-image: the EK only\n" +
      "  exit 1 when the EK certificate's CA is not trusted (add it with `tactl ta tpm-ca add`, or give --pin)",
    options: { pin: { type: "boolean" }, "image-name": { type: "string" }, "image-version": { type: "string" }, "no-image": { type: "boolean" }, ...JSON_OPT },
    positionals: ["FILE"],
    run: importHostIdentity,
  },
];

/** `tactl cluster …` commands: the trusted cluster's side (its hosts' agents). */
export const WF_CLUSTER_COMMANDS: CommandSpec[] = [
  {
    path: ["cluster", "import-ta-identity"],
    summary: "make a host's agent use a Trust Authority (its exported identity): kept by the agent, which attests with it at once",
    usage:
      "FILE --agent SOCKET [--kmxd https://HOST:PORT] [--kmxd-ca CA.pem] [--json]\n" +
      "  FILE: from `tactl ta export-identity`; --kmxd: kmxd's URL when the identity names none (or another);\n" +
      "  --kmxd-ca: kmxd's TLS CA when it is not the identity's tlsCa" +
      AGENT_HELP,
    options: { ...AGENT, kmxd: { type: "string" }, "kmxd-ca": { type: "string" }, ...JSON_OPT },
    required: ["agent"],
    positionals: ["FILE"],
    run: importTaIdentity,
  },
  {
    path: ["cluster", "set-key-provider"],
    summary: "make a trusted key provider the default of a host's agent (its keys without naming a provider)",
    usage:
      "KP --agent SOCKET [--check] [--json]\n  --check: then fetch one data key through the agent (discarded) to prove the provider serves this host;\n" +
      "  when it does not, the previous default is put back and the refusal shown (exit 1)" +
      AGENT_HELP,
    options: { ...AGENT, check: { type: "boolean" }, ...JSON_OPT },
    required: ["agent"],
    positionals: ["KP"],
    run: setKeyProvider,
  },
];

/** `tactl status`. */
export const WF_STATUS_COMMANDS: CommandSpec[] = [
  {
    path: ["status"],
    summary: "the fleet: each host's status (green, red, stale), image version, last attestation and message",
    usage: "[--json]\n  attestd is the `tactl ta login` session's",
    options: { ...JSON_OPT },
    run: status,
  },
];

/** Every workflow command, for the registration in cli.ts. */
export const WORKFLOW_COMMANDS: CommandSpec[] = [...WF_HOST_COMMANDS, ...WF_TA_COMMANDS, ...WF_CLUSTER_COMMANDS, ...WF_STATUS_COMMANDS];
