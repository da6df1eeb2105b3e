/**
 * TPM benchmarks.
 *
 * 1. Quote verification: unmarshal + verify of a real swtpm quote (signature, magic, type, nonce, PCR
 *    digest) against the bare signature check of the same bytes by node:crypto (OpenSSL) measured in the
 *    same run; and tpm2_checkquote (tpm2-tools) per invocation.
 * 2. MakeCredential: RSA and ECC EKs, against the bare RSA-OAEP encryption / ECDH it contains, and
 *    tpm2_makecredential --tcti none per invocation.
 * Prints a Markdown table; BENCHMARKS.md records a run.
 * @module
 */
import { spawnSync } from "node:child_process";
import { constants, publicEncrypt, verify, randomBytes, diffieHellman, generateKeyPairSync } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startSwtpm } from "@tessera/swtpm-testing";
import {
  makeCredential,
  parsePcrSelection,
  publicKeyOf,
  publicKeyPem,
  TPM2B_PUBLIC,
  TPMT_SIGNATURE,
  type TpmsSignatureEcc,
  type TpmsSignatureRsa,
  toHex,
  unmarshal,
  verifyQuote,
  marshal,
} from "@tessera/tpm2";
import { createAk, Tpm, withAk, withEk } from "@tessera/tss";
import { type Measurement, measure, measureCommand } from "./measure.ts";

/** Runs the TPM benchmarks on a fresh swtpm; returns a Markdown table. */
export async function benchTpm(): Promise<string> {
  const rows: { group: string; m: Measurement; vs?: Measurement }[] = [];
  const work = await mkdtemp(path.join(os.tmpdir(), "tessera-bench-"));
  const sw = await startSwtpm();
  try {
    const tpm = Tpm.open(sw.tcti);
    for (const [ekKind, akKind] of [
      ["rsa2048", "rsa"],
      ["ecc-p256", "ecc"],
    ] as const) {
      await withEk(tpm, ekKind, async (ek) => {
        const ak = await createAk(tpm, ek, akKind);
        const sel = parsePcrSelection("sha256:0,1,2,3,4,5,6,7");
        const nonce = new Uint8Array(randomBytes(20));
        const q = await withAk(tpm, ek, ak, (loaded) => tpm.quote(loaded.handle, nonce, sel));
        const pcrs = await tpm.pcrRead(sel);
        const akPub = ak.public;
        const sigBytes = q.signatureBytes;
        const key = publicKeyOf(akPub);
        // The bare check: the one signature verification inside a quote verification, same key object.
        let bare: () => boolean;
        if (akKind === "rsa") {
          const s = (q.signature.signature as TpmsSignatureRsa).sig;
          bare = () => verify("sha256", q.quoted, { key, padding: constants.RSA_PKCS1_PADDING }, s);
        } else {
          const e = q.signature.signature as TpmsSignatureEcc;
          const rs = new Uint8Array(64);
          rs.set(e.signatureR, 32 - e.signatureR.length);
          rs.set(e.signatureS, 64 - e.signatureS.length);
          bare = () => verify("sha256", q.quoted, { key, dsaEncoding: "ieee-p1363" }, rs);
        }
        if (!bare()) throw new Error("bare signature check failed");
        const sigCheck = measure(`${akKind} signature verify (node:crypto/OpenSSL, bare)`, bare);
        const full = measure(`${akKind} quote unmarshal + verify (Tessera, AK bound)`, () =>
          verifyQuote(akPub, q.quoted, unmarshal(TPMT_SIGNATURE, sigBytes), { nonce, pcrs }),
        );
        const akBytes = marshal(TPM2B_PUBLIC, akPub);
        const cold = measure(`${akKind} quote unmarshal + verify, AK parsed each time`, () =>
          verifyQuote(unmarshal(TPM2B_PUBLIC, akBytes), q.quoted, sigBytes, { nonce, pcrs }),
        );
        rows.push({ group: "quote", m: sigCheck }, { group: "quote", m: full, vs: sigCheck }, { group: "quote", m: cold, vs: sigCheck });
        // tpm2-tools' checker, whole process per quote (what a shell-script verifier pays).
        const dir = path.join(work, akKind);
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        await writeFile(path.join(dir, "ak.pub"), akBytes);
        await writeFile(path.join(dir, "quote.msg"), q.quoted);
        await writeFile(path.join(dir, "quote.sig"), sigBytes);
        const checkquote = () => {
          const r = spawnSync("tpm2_checkquote", [
            "-u",
            path.join(dir, "ak.pub"),
            "-m",
            path.join(dir, "quote.msg"),
            "-s",
            path.join(dir, "quote.sig"),
            "-q",
            toHex(nonce),
          ]);
          if (r.status !== 0) throw new Error(`tpm2_checkquote failed: ${r.stderr}`);
        };
        rows.push({ group: "quote", m: measureCommand(`${akKind} tpm2_checkquote (tpm2-tools, per process)`, checkquote), vs: sigCheck });

        // MakeCredential against the asymmetric operation it contains.
        const secret = new Uint8Array(randomBytes(32));
        const ekKey = publicKeyOf(ek.public);
        let inner: () => unknown;
        if (ekKind === "rsa2048") {
          inner = () => publicEncrypt({ key: ekKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, secret);
        } else {
          inner = () => diffieHellman({ privateKey: generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey, publicKey: ekKey });
        }
        const innerM = measure(`${ekKind} EK: bare ${ekKind === "rsa2048" ? "RSA-OAEP encrypt" : "P-256 keygen + ECDH"} (node:crypto)`, inner);
        const mc = measure(`${ekKind} EK: makeCredential (Tessera)`, () => makeCredential(ek.public, ak.name, secret));
        rows.push({ group: "makecredential", m: innerM }, { group: "makecredential", m: mc, vs: innerM });
        await writeFile(path.join(dir, "ek.pem"), publicKeyPem(ek.public));
        await writeFile(path.join(dir, "secret.bin"), secret);
        const tools = () => {
          const r = spawnSync("tpm2_makecredential", [
            "-T",
            "none",
            "-u",
            path.join(dir, "ek.pem"),
            "-G",
            ekKind === "rsa2048" ? "rsa" : "ecc",
            "-s",
            path.join(dir, "secret.bin"),
            "-n",
            toHex(ak.name),
            "-o",
            path.join(dir, "cred.out"),
          ]);
          if (r.status !== 0) throw new Error(`tpm2_makecredential failed: ${r.stderr}`);
        };
        rows.push({ group: "makecredential", m: measureCommand(`${ekKind} EK: tpm2_makecredential -T none (per process)`, tools), vs: innerM });
      });
    }
    await tpm.close();
  } finally {
    await sw.stop();
    await rm(work, { recursive: true, force: true });
  }

  const lines = [
    `Run: ${new Date().toISOString()} · Node ${process.version} · ${os.cpus()[0]?.model ?? "cpu"} · one core, single thread`,
    "",
    "| case | ops/s | µs/op | ratio to the bare operation |",
    "| --- | ---: | ---: | ---: |",
    ...rows.map(
      ({ m, vs }) =>
        `| ${m.name} | ${m.opsPerSec.toFixed(0)} | ${m.usPerOp.toFixed(1)} | ${vs ? (m.usPerOp / vs.usPerOp).toFixed(2) + "×" : "1.00× (baseline)"} |`,
    ),
  ];
  return lines.join("\n");
}
