/**
 * `tactl kmip …`: a KMIP client for kmipd or any KMIP server (PyKMIP, vendors'), over mutually
 * authenticated TLS. Every command takes `--server host:port --cert F --key F --ca F` (several `--server`
 * separated by commas are tried in order) and `--kmip-version 1.4|2.1`; `--json` prints JSON.
 * `encrypt` writes the codebase's one envelope (@tessera/vtpm): the server encrypts only a random data key, which
 * encrypts the file here; `decrypt` reads it, and still the older `TKE1` files (the server encrypted the whole file).
 * @module
 */
import { createPrivateKey, randomBytes, X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";
import { enumText, type KmipVersion, type Ttlv, TTLV_TYPE, tagName } from "@tessera/kmip";
import { KmipClient } from "@tessera/kmip-client";
import { EnvelopeError, isEnvelope, openEnvelope, readEnvelopeHeader, sealEnvelopeParts, type EnvelopeHeader } from "@tessera/vtpm";
import type { CommandSpec, Io } from "../cli.ts";
import { CliError, EXIT } from "../errors.ts";
import { readBytes, readText, writeFileAtomic } from "../files.ts";
import { str, type Values } from "../values.ts";

const CONNECTION = {
  server: { type: "string" as const },
  cert: { type: "string" as const },
  key: { type: "string" as const },
  ca: { type: "string" as const },
  "kmip-version": { type: "string" as const, default: "1.4" },
  json: { type: "boolean" as const },
};
const CONNECTION_USAGE = "--server HOST:PORT[,HOST:PORT…] --cert F --key F --ca F [--kmip-version 1.4|2.1] [--json]";
const REQUIRED = ["server", "cert", "key", "ca"];

function version(v: Values): KmipVersion {
  const m = /^(\d+)\.(\d+)$/.exec(str(v, "kmip-version"));
  if (!m) throw new CliError("TACTL_USAGE", `--kmip-version "${v["kmip-version"]}" is not MAJOR.MINOR`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

async function withClient<R>(v: Values, fn: (c: KmipClient) => Promise<R>): Promise<R> {
  const servers = str(v, "server")
    .split(",")
    .map((s) => {
      const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(s.trim());
      if (!m) throw new CliError("TACTL_USAGE", `--server "${s}" is not HOST:PORT`);
      return { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) };
    });
  const tls = await readTls(v);
  const client = new KmipClient({ servers, tls, version: version(v), poolSize: 1 });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/**
 * Reads `--cert`, `--key` and `--ca` and checks them before any connection, so that a file that is not a key or
 * certificate, or a key that is not the certificate's, is bad input (exit 2) naming the file rather than a TLS
 * failure (exit 3).
 */
async function readTls(v: Values): Promise<{ cert: string; key: string; ca: string }> {
  const [certFile, keyFile, caFile] = [str(v, "cert"), str(v, "key"), str(v, "ca")];
  const cert = await readText(certFile, "client certificate");
  const key = await readText(keyFile, "client key");
  const ca = await readText(caFile, "server CA");
  const bad = (what: string, e: unknown) => new CliError("TACTL_INPUT", `${what}: ${(e as Error).message}`, { cause: e });
  try {
    createPrivateKey(key);
  } catch (e) {
    throw bad(`--key ${keyFile} is not a private key (PEM)`, e);
  }
  try {
    new X509Certificate(cert);
  } catch (e) {
    throw bad(`--cert ${certFile} is not a certificate (PEM)`, e);
  }
  const caCerts = ca.match(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g) ?? [];
  try {
    if (caCerts.length === 0) throw new Error("no PEM certificate in it");
    for (const c of caCerts) new X509Certificate(c);
  } catch (e) {
    throw bad(`--ca ${caFile} is not a CA certificate (PEM)`, e);
  }
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    throw bad(`--key ${keyFile} does not match --cert ${certFile}`, e);
  }
  return { cert, key, ca };
}

/** `--aad` as bytes: hex, else bad input. */
function aadArg(v: Values): Uint8Array | undefined {
  if (typeof v.aad !== "string") return undefined;
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(v.aad)) throw new CliError("TACTL_INPUT", `--aad: "${v.aad}" is not hex`);
  return new Uint8Array(Buffer.from(v.aad, "hex"));
}

/**
 * Result reasons with which a server says it cannot take the request's parameters (InvalidMessage, "Error parsing
 * request message", from a strict 1.x parser; KMIP 2.x servers: UnsupportedCryptographicParameters), rather than refusing the key,
 * its state or the client (PermissionDenied, WrongKeyLifecycleState, ItemNotFound, …: no hint then).
 */
const NOT_UNDERSTOOD = new Set(["InvalidMessage", "FeatureNotSupported", "UnsupportedCryptographicParameters"]);

/**
 * Encrypts with tactl's default mode, AES-GCM, unless `--mode` was given. A server that has no AES-GCM (one that
 * answers "Error parsing request message" to it) is told apart from one refusing the key or the client: the
 * failure then says the server does not support AES-GCM and how to choose another mode.
 */
async function encryptWithHint(c: KmipClient, id: string, data: Uint8Array, mode: string, aad: Uint8Array | undefined, defaulted: boolean) {
  try {
    return await c.encrypt(id, data, { mode, aad });
  } catch (e) {
    const err = e as Error & { reason?: string };
    if (mode === "GCM" && err.name === "KmipResultError" && err.reason !== undefined && NOT_UNDERSTOOD.has(err.reason)) {
      err.message += ` (this server does not support AES-GCM${defaulted ? ", tactl's default mode" : ""}: choose another with --mode CBC)`;
    }
    throw e;
  }
}

function out(io: Io, v: Values, value: unknown, text: string): number {
  io.stdout(
    v.json
      ? JSON.stringify(value, (_k, x) => (typeof x === "bigint" ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString("hex") : x), 2) + "\n"
      : text + "\n",
  );
  return EXIT.OK;
}

/** A readable rendering of an attribute value. */
function show(t: Ttlv): unknown {
  switch (t.type) {
    case TTLV_TYPE.Structure:
      return Object.fromEntries(t.value.map((c) => [tagName(c.tag), show(c)]));
    case TTLV_TYPE.Enumeration:
      try {
        return enumText(t);
      } catch {
        return t.value;
      }
    case TTLV_TYPE.DateTime:
      return new Date(Number(t.value) * 1000).toISOString();
    case TTLV_TYPE.ByteString:
      return Buffer.from(t.value).toString("hex");
    case TTLV_TYPE.LongInteger:
    case TTLV_TYPE.BigInteger:
    case TTLV_TYPE.DateTimeExtended:
      return t.value.toString();
    default:
      return t.value;
  }
}

/** A KMIP server's Encrypt answer as bytes (the `TKE1` layout): "TKE1", mode, IV and tag (each size-prefixed), ciphertext. */
interface KmipSealed {
  mode: string;
  iv?: Uint8Array;
  tag?: Uint8Array;
  data: Uint8Array;
}

const TKE1 = "TKE1";

/**
 * The `TKE1` layout: "TKE1", then mode, IV and tag each as one size byte and its bytes, then the ciphertext. It was
 * the whole file of `tactl kmip encrypt` before the envelope; it is now the envelope's wrapped data key (what the KMIP
 * server made of the data key: self-describing, so decrypt knows the mode, IV and tag to send back).
 */
function encodeTke1(s: KmipSealed): Uint8Array {
  const m = Buffer.from(s.mode, "utf8");
  const i = s.iv ?? new Uint8Array();
  const t = s.tag ?? new Uint8Array();
  return new Uint8Array(Buffer.concat([Buffer.from(TKE1), Buffer.from([m.length]), m, Buffer.from([i.length]), i, Buffer.from([t.length]), t, s.data]));
}

/** Reads the `TKE1` layout; `what` names it in the error (a file, or a file's wrapped data key). */
function decodeTke1(b: Uint8Array, what: string): KmipSealed {
  const bad = (why: string) => new CliError("TACTL_INPUT", `${what} is not a TKE1 structure (mode, IV, tag, ciphertext): ${why}`);
  if (b.length < 7 || Buffer.from(b.subarray(0, 4)).toString() !== TKE1) throw bad("it does not start with TKE1");
  let p = 4;
  const take = (field: string) => {
    if (p >= b.length) throw bad(`cut short before its ${field} (byte ${p})`);
    const n = b[p++];
    if (p + n > b.length) throw bad(`its ${field} of ${n} bytes at byte ${p} runs past the end`);
    const x = b.subarray(p, p + n);
    p += n;
    return x;
  };
  const mode = Buffer.from(take("mode")).toString("utf8");
  const iv = take("IV");
  const tag = take("tag");
  return { mode, iv: iv.length ? iv : undefined, tag: tag.length ? tag : undefined, data: b.subarray(p) };
}

/** The envelope's provider for a KMIP server used directly with the client's own credentials. */
const KMIP_PROVIDER = { name: "kmip", kind: "standard" } as const;

/** An envelope that cannot be read or opened, as bad input (exit 2) naming the file. */
function envelopeInput(file: string, e: unknown): unknown {
  return e instanceof EnvelopeError ? new CliError("TACTL_INPUT", `${file}: ${e.message}`, { cause: e }) : e;
}

/** The header of an envelope `tactl kmip encrypt` wrote with key `id`, checked before asking the server anything. */
function kmipHeader(bytes: Uint8Array, file: string, id: string): EnvelopeHeader {
  let h: EnvelopeHeader;
  try {
    h = readEnvelopeHeader(bytes);
  } catch (e) {
    throw envelopeInput(file, e);
  }
  if (h.provider.name !== KMIP_PROVIDER.name || h.provider.kind !== KMIP_PROVIDER.kind) {
    throw new CliError(
      "TACTL_INPUT",
      `${file} is an envelope of key provider "${h.provider.name}" (${h.provider.kind}), not of a KMIP server through tactl kmip encrypt`,
    );
  }
  if (h.key.id !== id) throw new CliError("TACTL_INPUT", `${file} was encrypted with KMIP key ${h.key.id}, not ${id}`);
  return h;
}

function cmd(path: string[], summary: string, usage: string, extra: CommandSpec["options"], run: CommandSpec["run"], positionals: string[] = []): CommandSpec {
  return {
    path: ["kmip", ...path],
    summary,
    usage: `${positionals.join(" ")}${positionals.length ? " " : ""}${CONNECTION_USAGE}${usage ? " " + usage : ""}`,
    options: { ...CONNECTION, ...extra },
    required: REQUIRED,
    positionals,
    run,
  };
}

/** The `tactl kmip` commands. */
export const KMIP_COMMANDS: CommandSpec[] = [
  cmd(["discover"], "the protocol versions the server speaks", "", {}, (v, io) =>
    withClient(v, async (c) => {
      const vs = await c.discoverVersions();
      return out(
        io,
        v,
        vs.map((x) => `${x.major}.${x.minor}`),
        vs.map((x) => `${x.major}.${x.minor}`).join("\n"),
      );
    }),
  ),
  cmd(["query"], "operations and object types the server supports", "", {}, (v, io) =>
    withClient(v, async (c) => {
      const q = await c.query();
      return out(io, v, q, `vendor: ${q.vendor ?? "?"}\noperations: ${q.operations.join(", ")}\nobject types: ${q.objectTypes.join(", ")}`);
    }),
  ),
  cmd(
    ["create"],
    "create a symmetric key; prints its id",
    '--alg AES --length 256 [--name N] [--usage "Encrypt Decrypt"]',
    {
      alg: { type: "string", default: "AES" },
      length: { type: "string", default: "256" },
      name: { type: "string" },
      usage: { type: "string", default: "Encrypt Decrypt" },
    },
    (v, io) =>
      withClient(v, async (c) => {
        const length = Number(v.length);
        if (!Number.isInteger(length) || length <= 0) throw new CliError("TACTL_USAGE", `--length "${v.length}" is not a number of bits`);
        const id = await c.create({ algorithm: str(v, "alg"), length, name: v.name as string | undefined, usage: str(v, "usage") });
        return out(io, v, { id }, id);
      }),
  ),
  cmd(
    ["register"],
    "register a symmetric key or secret data from a file; prints its id",
    "--in F [--type SymmetricKey|SecretData] [--alg AES] [--name N] [--usage U]",
    {
      in: { type: "string" },
      type: { type: "string", default: "SymmetricKey" },
      alg: { type: "string", default: "AES" },
      name: { type: "string" },
      usage: { type: "string" },
    },
    (v, io) =>
      withClient(v, async (c) => {
        const t = str(v, "type");
        if (t !== "SymmetricKey" && t !== "SecretData") throw new CliError("TACTL_USAGE", `--type "${t}" is not SymmetricKey or SecretData`);
        const id = await c.register({
          objectType: t,
          material: await readBytes(str(v, "in"), "key material"),
          algorithm: str(v, "alg"),
          name: v.name as string | undefined,
          usage: v.usage as string | undefined,
        });
        return out(io, v, { id }, id);
      }),
  ),
  cmd(
    ["get"],
    "an object's type, algorithm, length and key material (hex), or write the material to --out (0600)",
    "[--out F]",
    { out: { type: "string" } },
    async (v, io, [id]) =>
      withClient(v, async (c) => {
        const g = await c.get(id);
        if (typeof v.out === "string" && g.material) await writeFileAtomic(v.out, g.material, 0o600);
        const hex = g.material && typeof v.out !== "string" ? Buffer.from(g.material).toString("hex") : undefined;
        return out(
          io,
          v,
          { id, objectType: g.objectType, algorithm: g.algorithm, length: g.length, material: hex, out: v.out },
          `${g.objectType} ${g.algorithm ?? ""} ${g.length ?? ""}${hex ? `\n${hex}` : ""}`,
        );
      }),
    ["ID"],
  ),
  cmd(
    ["get-attributes"],
    "an object's attributes",
    "",
    {},
    (v, io, [id]) =>
      withClient(v, async (c) => {
        const attrs = await c.getAttributes(id);
        const obj = Object.fromEntries([...attrs].map(([k, vals]) => [k, vals.length === 1 ? show(vals[0]) : vals.map(show)]));
        return out(
          io,
          v,
          obj,
          Object.entries(obj)
            .map(([k, x]) => `${k}: ${typeof x === "object" ? JSON.stringify(x) : String(x)}`)
            .join("\n"),
        );
      }),
    ["ID"],
  ),
  cmd(
    ["locate"],
    "ids of the objects matching a name and/or object type",
    "[--name N] [--type SymmetricKey] [--max N] [--offset N]",
    {
      name: { type: "string" },
      type: { type: "string" },
      max: { type: "string" },
      offset: { type: "string" },
    },
    (v, io) =>
      withClient(v, async (c) => {
        const ids = await c.locate({
          name: v.name as string | undefined,
          objectType: v.type as string | undefined,
          maxItems: v.max !== undefined ? Number(v.max) : undefined,
          offset: v.offset !== undefined ? Number(v.offset) : undefined,
        });
        return out(io, v, ids, ids.join("\n"));
      }),
  ),
  cmd(
    ["activate"],
    "Pre-Active → Active",
    "",
    {},
    (v, io, [id]) => withClient(v, async (c) => (await c.activate(id), out(io, v, { id, state: "Active" }, `${id} activated`))),
    ["ID"],
  ),
  cmd(
    ["revoke"],
    "revoke (Active → Deactivated, or Compromised with --reason KeyCompromise)",
    "[--reason Unspecified|KeyCompromise|…] [--message M]",
    {
      reason: { type: "string", default: "Unspecified" },
      message: { type: "string" },
    },
    (v, io, [id]) =>
      withClient(
        v,
        async (c) => (await c.revoke(id, str(v, "reason"), v.message as string | undefined), out(io, v, { id, revoked: v.reason }, `${id} revoked`)),
      ),
    ["ID"],
  ),
  cmd(
    ["destroy"],
    "destroy the key material",
    "",
    {},
    (v, io, [id]) => withClient(v, async (c) => (await c.destroy(id), out(io, v, { id, destroyed: true }, `${id} destroyed`))),
    ["ID"],
  ),
  cmd(
    ["grant"],
    "share an object with another client (kmipd): it may then get and use it, not change it",
    "--to SUBJECT (the client certificate's subject as kmipd names it, e.g. CN=bob,O=Example)",
    { to: { type: "string" } },
    (v, io, [id]) =>
      withClient(
        v,
        async (c) => (await c.addCustomAttribute(id, "tessera-grant", str(v, "to")), out(io, v, { id, granted: v.to }, `${id} shared with ${v.to}`)),
      ),
    ["ID"],
  ),
  cmd(
    ["ungrant"],
    "stop sharing an object with a client (kmipd)",
    "--to SUBJECT",
    { to: { type: "string" } },
    (v, io, [id]) =>
      withClient(
        v,
        async (c) => (
          await c.deleteCustomAttribute(id, "tessera-grant", str(v, "to")),
          out(io, v, { id, ungranted: v.to }, `${id} no longer shared with ${v.to}`)
        ),
      ),
    ["ID"],
  ),
  cmd(
    ["encrypt"],
    "encrypt a file into an envelope: a random data key encrypts it here, the KMIP server encrypts that key with a managed key (AES-GCM by default)",
    "--in F --out F [--mode GCM|CBC] [--aad HEX]",
    {
      in: { type: "string" },
      out: { type: "string" },
      mode: { type: "string" },
      aad: { type: "string" },
    },
    async (v, io, [id]) => {
      const aad = aadArg(v);
      return withClient(v, async (c) => {
        const data = await readBytes(str(v, "in"), "input");
        const mode = v.mode === undefined ? "GCM" : str(v, "mode");
        // Only the 32-byte data key goes to the server: a file of any size costs one small Encrypt, and the file's
        // content never leaves this machine.
        const dataKey = new Uint8Array(randomBytes(32));
        try {
          const r = await encryptWithHint(c, id, dataKey, mode, aad, v.mode === undefined);
          // The envelope's pieces go to the file as they are (writev): a large file is not copied once more to join them.
          const env = sealEnvelopeParts(data, dataKey, {
            provider: KMIP_PROVIDER,
            key: { id, version: 1 },
            wrappedDataKey: encodeTke1({ mode, iv: r.iv, tag: r.tag, data: r.data }),
          });
          await writeFileAtomic(str(v, "out"), env);
          const bytes = env.reduce((n, p) => n + p.length, 0);
          return out(io, v, { id, mode, bytes, out: v.out }, `encrypted ${data.length} bytes to ${v.out}`);
        } finally {
          dataKey.fill(0);
        }
      });
    },
    ["ID"],
  ),
  cmd(
    ["decrypt"],
    "decrypt a `tactl kmip encrypt` file (an envelope, or an older TKE1 file): the KMIP server decrypts its data key",
    "--in F --out F [--aad HEX]",
    {
      in: { type: "string" },
      out: { type: "string" },
      aad: { type: "string" },
    },
    async (v, io, [id]) => {
      const aad = aadArg(v);
      const file = str(v, "in");
      const bytes = await readBytes(file, "input");
      // Everything that can be checked without the server is checked first: a wrong file is bad input (exit 2).
      const header = isEnvelope(bytes) ? kmipHeader(bytes, file, id) : undefined;
      const sealed = header ? decodeTke1(header.wrappedDataKey, `${file}'s wrapped data key`) : undefined;
      if (!header && Buffer.from(bytes.subarray(0, 4)).toString() !== TKE1) {
        throw new CliError("TACTL_INPUT", `${file} is not a tactl kmip encrypt output (neither an envelope, TENV, nor an older TKE1 file)`);
      }
      return withClient(v, async (c) => {
        let plain: Uint8Array;
        if (sealed) {
          const dataKey = await c.decrypt(id, sealed.data, { mode: sealed.mode, iv: sealed.iv, tag: sealed.tag, aad });
          try {
            if (dataKey.length !== 32) {
              throw new CliError(
                "TACTL_INPUT",
                `${file}: the KMIP server decrypted its data key to ${dataKey.length} bytes, not 32 (another key, or another --aad?)`,
              );
            }
            plain = openEnvelope(bytes, dataKey).plaintext;
          } catch (e) {
            throw envelopeInput(file, e);
          } finally {
            dataKey.fill(0);
          }
        } else {
          // A file of the format before the envelope: the server decrypts the whole content.
          const e = decodeTke1(bytes, file);
          plain = await c.decrypt(id, e.data, { mode: e.mode, iv: e.iv, tag: e.tag, aad });
        }
        await writeFileAtomic(str(v, "out"), plain, 0o600);
        return out(io, v, { id, bytes: plain.length, out: v.out }, `decrypted ${plain.length} bytes to ${v.out}`);
      });
    },
    ["ID"],
  ),
];
