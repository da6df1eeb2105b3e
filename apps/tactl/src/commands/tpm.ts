/**
 * `tactl tpm …`: TPM inspection and the attestation primitives, with files in the TPM's own wire formats
 * so they interoperate with tpm2-tools.
 * @module
 */
import { X509Certificate } from "node:crypto";
import path from "node:path";
import {
  algName,
  type AkKind,
  decodeCredentialFile,
  type EkKind,
  encodeCredentialFile,
  formatPcrSelection,
  fromHex,
  makeCredential,
  objectName,
  parsePcrSelection,
  publicKeyPem,
  toHex,
  unmarshal,
  verifyQuote,
  TPMT_SIGNATURE,
} from "@tessera/tpm2";
import { activateAkCredential, type AkBlobs, createAk, parseAkBlobs, Tpm, tpmInfo, withAk, withEk } from "@tessera/tss";
import type { CommandSpec } from "../cli.ts";
import { CliError, EXIT } from "../errors.ts";
import { readBytes, readText, writeFileAtomic } from "../files.ts";
import { pcrsToJson, readPcrValues, readPublicArea } from "../public_file.ts";
import { json, str, type Values } from "../values.ts";


const TCTI = { type: "string" as const };

function hexArg(v: Values, k: string): Uint8Array {
  try {
    return fromHex(str(v, k));
  } catch {
    throw new CliError("TACTL_INPUT", `--${k}: "${str(v, k)}" is not hex`);
  }
}

function ekKind(alg: string | undefined): EkKind {
  const kinds: Record<string, EkKind> = {
    rsa: "rsa2048",
    ecc: "ecc-p256",
    rsa2048: "rsa2048",
    "ecc-p256": "ecc-p256",
    "rsa-high": "rsa2048-high",
    "ecc-high": "ecc-p256-high",
  };
  const k = kinds[alg ?? "rsa"];
  if (!k) throw new CliError("TACTL_USAGE", `--ek-alg/--alg "${alg}" is not rsa, ecc, rsa-high or ecc-high`);
  return k;
}

async function withTpm<R>(v: Values, fn: (tpm: Tpm) => Promise<R>): Promise<R> {
  const tpm = Tpm.open(str(v, "tcti"));
  try {
    return await fn(tpm);
  } finally {
    await tpm.close();
  }
}

/** Metadata written beside the AK blobs: which EK it lives under. */
interface AkMeta {
  ek: EkKind;
  alg: AkKind;
  name: string;
}

async function readAkDir(dir: string, ekAlg: string | undefined): Promise<{ blobs: AkBlobs; ek: EkKind }> {
  const blobs = parseAkBlobs(await readBytes(path.join(dir, "ak.pub"), "AK public area"), await readBytes(path.join(dir, "ak.priv"), "AK private area"));
  let ek = ekKind(ekAlg);
  if (ekAlg === undefined) {
    try {
      const meta = JSON.parse(await readText(path.join(dir, "ak.json"), "AK metadata")) as Partial<AkMeta>;
      if (meta.ek) ek = ekKind(meta.ek);
    } catch (e) {
      // No ak.json: an AK made by tpm2_createak, which uses the RSA EK by default.
      if (!(e instanceof CliError)) throw e;
    }
  }
  return { blobs, ek };
}

function certSummary(der: Uint8Array | undefined): Record<string, string> | null {
  if (!der) return null;
  const c = new X509Certificate(der);
  return {
    subject: c.subject,
    issuer: c.issuer,
    serialNumber: c.serialNumber,
    validFrom: c.validFrom,
    validTo: c.validTo,
    subjectAltName: c.subjectAltName ?? "",
  };
}

/** The `tactl tpm` commands. */
export const TPM_COMMANDS: CommandSpec[] = [
  {
    path: ["tpm", "info"],
    summary: "manufacturer, vendor strings, firmware version, PCR banks and limits (JSON)",
    usage: "--tcti T",
    options: { tcti: TCTI },
    required: ["tcti"],
    run: (v, io) => withTpm(v, async (tpm) => json(io, await tpmInfo(tpm))),
  },
  {
    path: ["tpm", "ek"],
    summary: "recreate the EK, check it against its certificate, write ek.pub, ek.pem, ek-cert.der",
    usage: "--tcti T --out-dir D [--alg rsa|ecc|rsa-high|ecc-high]",
    options: { tcti: TCTI, "out-dir": { type: "string" }, alg: { type: "string" } },
    required: ["tcti", "out-dir"],
    run: (v, io) =>
      withTpm(v, (tpm) =>
        withEk(tpm, ekKind(v.alg as string | undefined), async (ek) => {
          const dir = str(v, "out-dir");
          const files = [path.join(dir, "ek.pub"), path.join(dir, "ek.pem")];
          await writeFileAtomic(files[0], ek.publicBytes);
          await writeFileAtomic(files[1], publicKeyPem(ek.public));
          if (ek.certificate) {
            files.push(path.join(dir, "ek-cert.der"));
            await writeFileAtomic(files[2], ek.certificate);
          }
          return json(io, { kind: ek.kind, type: algName(ek.public.type), name: toHex(ek.name), certificate: certSummary(ek.certificate), files });
        }),
      ),
  },
  {
    path: ["tpm", "ak", "create"],
    summary: "create a restricted signing AK under the EK; write ak.pub, ak.priv, ak.name, ak.json",
    usage: "--tcti T --out-dir D [--alg rsa|ecc] [--ek-alg rsa|ecc]",
    options: { tcti: TCTI, "out-dir": { type: "string" }, alg: { type: "string", default: "rsa" }, "ek-alg": { type: "string" } },
    required: ["tcti", "out-dir"],
    run: (v, io) => {
      const alg = str(v, "alg");
      if (alg !== "rsa" && alg !== "ecc") throw new CliError("TACTL_USAGE", `--alg "${alg}" is not rsa or ecc`);
      const kind = ekKind(v["ek-alg"] as string | undefined);
      return withTpm(v, (tpm) =>
        withEk(tpm, kind, async (ek) => {
          const ak = await createAk(tpm, ek, alg);
          const dir = str(v, "out-dir");
          await writeFileAtomic(path.join(dir, "ak.pub"), ak.publicBytes);
          await writeFileAtomic(path.join(dir, "ak.priv"), ak.privateBytes, 0o600);
          await writeFileAtomic(path.join(dir, "ak.name"), ak.name);
          const meta: AkMeta = { ek: kind, alg, name: toHex(ak.name) };
          await writeFileAtomic(path.join(dir, "ak.json"), JSON.stringify(meta, null, 2) + "\n");
          return json(io, { ...meta, ekName: toHex(ek.name), dir });
        }),
      );
    },
  },
  {
    path: ["tpm", "quote"],
    summary: "quote PCRs with the AK and a nonce; write quote.msg, quote.sig (as tpm2_quote -m/-s) and pcrs.json",
    usage: "--tcti T --ak DIR --pcrs sha256:0,1,2 --nonce HEX --out-dir D [--ek-alg rsa|ecc]",
    options: {
      tcti: TCTI,
      ak: { type: "string" },
      pcrs: { type: "string", default: "sha256:0,1,2,3,4,5,6,7" },
      nonce: { type: "string" },
      "out-dir": { type: "string" },
      "ek-alg": { type: "string" },
    },
    required: ["tcti", "ak", "nonce", "out-dir"],
    run: async (v, io) => {
      const nonce = hexArg(v, "nonce");
      const sel = parsePcrSelection(str(v, "pcrs"));
      const { blobs, ek: kind } = await readAkDir(str(v, "ak"), v["ek-alg"] as string | undefined);
      return withTpm(v, (tpm) =>
        withEk(tpm, kind, (ek) =>
          withAk(tpm, ek, blobs, async (ak) => {
            const q = await tpm.quote(ak.handle, nonce, sel);
            const pcrs = await tpm.pcrRead(sel);
            // The PCRs may change between the quote and the read: check now so the files are consistent.
            verifyQuote(blobs.public, q.quoted, q.signature, { nonce, pcrs });
            const dir = str(v, "out-dir");
            await writeFileAtomic(path.join(dir, "quote.msg"), q.quoted);
            await writeFileAtomic(path.join(dir, "quote.sig"), q.signatureBytes);
            await writeFileAtomic(path.join(dir, "pcrs.json"), JSON.stringify(pcrsToJson(pcrs), null, 2) + "\n");
            return json(io, {
              akName: toHex(ak.name),
              nonce: toHex(nonce),
              pcrs: formatPcrSelection(sel),
              files: ["quote.msg", "quote.sig", "pcrs.json"].map((f) => path.join(dir, f)),
            });
          }),
        ),
      );
    },
  },
  {
    path: ["tpm", "verify-quote"],
    summary: "verify a quote: signature by the AK, magic, type, nonce and (with --pcrs) the PCR digest; exit 1 if invalid",
    usage: "--ak ak.pub --msg quote.msg --sig quote.sig --nonce HEX [--pcrs pcrs.json|pcrread.yaml]",
    options: { ak: { type: "string" }, msg: { type: "string" }, sig: { type: "string" }, nonce: { type: "string" }, pcrs: { type: "string" } },
    required: ["ak", "msg", "sig", "nonce"],
    run: async (v, io) => {
      const ak = await readPublicArea(str(v, "ak"), "AK public key", { ak: "rsa" });
      const msg = await readBytes(str(v, "msg"), "quote message");
      const sig = unmarshal(TPMT_SIGNATURE, await readBytes(str(v, "sig"), "quote signature"));
      const pcrs = typeof v.pcrs === "string" ? await readPcrValues(v.pcrs) : undefined;
      const r = verifyQuote(ak, msg, sig, { nonce: hexArg(v, "nonce"), pcrs });
      return json(io, {
        valid: true,
        akName: toHex(objectName(ak)),
        signer: toHex(r.attest.qualifiedSigner),
        hashAlg: algName(r.hashAlg),
        pcrs: formatPcrSelection(r.quote.pcrSelect),
        pcrDigest: toHex(r.quote.pcrDigest),
        pcrsChecked: r.pcrsChecked,
        clock: r.attest.clockInfo.clock.toString(),
        resetCount: r.attest.clockInfo.resetCount,
        restartCount: r.attest.clockInfo.restartCount,
        safe: r.attest.clockInfo.safe === 1,
        firmwareVersion: `0x${r.attest.firmwareVersion.toString(16)}`,
      });
    },
  },
  {
    path: ["tpm", "make-credential"],
    summary: "protect a secret to an EK for an object Name; write tpm2_makecredential's file format",
    usage: "--ek ek.pub|ek.pem --name NAME_FILE --secret HEX --out F",
    options: { ek: { type: "string" }, name: { type: "string" }, secret: { type: "string" }, out: { type: "string" } },
    required: ["ek", "name", "secret", "out"],
    run: async (v, io) => {
      const ek = await readPublicArea(str(v, "ek"), "EK public key", { ek: "rsa2048" });
      const raw = await readBytes(str(v, "name"), "object Name");
      const asText = new TextDecoder().decode(raw).trim();
      const name = /^[0-9a-f]+$/i.test(asText) && asText.length % 2 === 0 && raw.length !== 34 ? fromHex(asText) : raw;
      const cred = makeCredential(ek, name, hexArg(v, "secret"));
      await writeFileAtomic(str(v, "out"), encodeCredentialFile(cred));
      return json(io, { ekName: toHex(objectName(ek)), objectName: toHex(name), out: str(v, "out") });
    },
  },
  {
    path: ["tpm", "activate-credential"],
    summary: "recover a MakeCredential secret with the EK and the AK (prints it as hex)",
    usage: "--tcti T --ak DIR --in F [--ek-alg rsa|ecc]",
    options: { tcti: TCTI, ak: { type: "string" }, in: { type: "string" }, "ek-alg": { type: "string" } },
    required: ["tcti", "ak", "in"],
    run: async (v, io) => {
      const cred = decodeCredentialFile(await readBytes(str(v, "in"), "credential file"));
      const { blobs, ek: kind } = await readAkDir(str(v, "ak"), v["ek-alg"] as string | undefined);
      return withTpm(v, (tpm) =>
        withEk(tpm, kind, (ek) =>
          withAk(tpm, ek, blobs, async (ak) => {
            const secret = await activateAkCredential(tpm, ek, ak, cred.credentialBlob, cred.secret);
            io.stdout(toHex(secret) + "\n");
            return EXIT.OK;
          }),
        ),
      );
    },
  },
];
