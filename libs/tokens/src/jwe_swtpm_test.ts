/**
 * PROTOCOL.md's promise about kmxd's secrets, on a real TPM (swtpm): the JWE that encryptToJwk makes for a
 * binding key created inside the TPM (through @tessera/tss) has an RSA-OAEP-256 encrypted key that
 * `tpm2_rsadecrypt -s oaep` (tpm2-tools) opens, and the content then decrypts with A256GCM, using the
 * protected header as additional data.
 */
import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { base64url, exportJWK, generateKeyPair } from "jose";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { TPM_ALG, TPM_RH, srkTemplate, TPMA_OBJECT as A, type TpmtPublic } from "@tessera/tpm2";
import { makePersistent, Tpm } from "@tessera/tss";
import { bindingKeyJwk } from "./binding_key_jwk.ts";
import { encryptToJwk } from "./jwe.ts";

const HANDLE = 0x81000100;

/** PROTOCOL.md §3's binding key: RSA-2048, decrypt, not sign nor restricted, fixed, scheme null. */
function bindingKeyTemplate(): TpmtPublic {
  return {
    type: TPM_ALG.RSA,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.decrypt,
    authPolicy: new Uint8Array(),
    parameters: {
      symmetric: { algorithm: TPM_ALG.NULL, keyBits: null, mode: null },
      scheme: { scheme: TPM_ALG.NULL, details: null },
      keyBits: 2048,
      exponent: 0,
    },
    unique: new Uint8Array(),
  };
}

let sw: SwtpmInstance;
let publicBytes: Uint8Array;

test.before(async () => {
  sw = await startSwtpm({ eccP256Ek: false });
  const tpm = Tpm.open(sw.tcti);
  try {
    const srk = await tpm.createPrimary(TPM_RH.OWNER, srkTemplate());
    const key = await tpm.create(srk.handle, bindingKeyTemplate());
    const loaded = await tpm.load(srk.handle, key.privateBlob, key.public);
    await makePersistent(tpm, loaded, HANDLE);
    await tpm.flush(loaded.handle);
    await tpm.flush(srk.handle);
    publicBytes = key.publicBytes;
  } finally {
    await tpm.close(); // swtpm serves one client: tpm2-tools connects next
  }
});

test.after.always(async () => {
  await sw?.stop();
});

/** Runs a tpm2-tools program against the swtpm; fails loudly when it is missing. */
function tool(t: ExecutionContext, name: string, args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(name, ["-T", sw.tcti, ...args], { encoding: "utf8", timeout: 30_000 });
  if (r.error) throw new Error(`${name}: ${r.error.message} (install tpm2-tools: apt-get install tpm2-tools)`);
  t.log(`${name} ${args.join(" ")} → ${r.status}`);
  return { status: r.status, stderr: r.stderr };
}

async function aesGcmOpen(cek: Uint8Array, jwe: string): Promise<Uint8Array> {
  const [header, , iv, ciphertext, tag] = jwe.split(".");
  const key = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["decrypt"]);
  const sealed = new Uint8Array([...base64url.decode(ciphertext!), ...base64url.decode(tag!)]);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: base64url.decode(iv!), additionalData: new TextEncoder().encode(header), tagLength: 128 },
    key,
    sealed,
  );
  return new Uint8Array(plain);
}

test.serial("a JWE to a TPM-resident binding key: tpm2_rsadecrypt -s oaep recovers the content key, A256GCM opens the content", async (t) => {
  // The JWK from our TPM2B_PUBLIC equals the one from what tpm2_readpublic writes for the persistent key.
  const readBack = path.join(sw.dir, "binding.pub");
  t.is(tool(t, "tpm2_readpublic", ["-c", `0x${HANDLE.toString(16)}`, "-o", readBack]).status, 0);
  const jwk = await bindingKeyJwk(publicBytes);
  t.deepEqual(await bindingKeyJwk(new Uint8Array(await readFile(readBack))), jwk);

  const secret = crypto.getRandomValues(new Uint8Array(32));
  const jwe = await encryptToJwk(secret, jwk);
  const encryptedKey = path.join(sw.dir, "cek.enc");
  const cekFile = path.join(sw.dir, "cek.bin");
  await writeFile(encryptedKey, base64url.decode(jwe.split(".")[1]!));
  const r = tool(t, "tpm2_rsadecrypt", ["-c", `0x${HANDLE.toString(16)}`, "-s", "oaep", "-o", cekFile, encryptedKey]);
  t.is(r.status, 0, r.stderr);
  const cek = new Uint8Array(await readFile(cekFile));
  t.is(cek.length, 32, "A256GCM content key");
  t.deepEqual(await aesGcmOpen(cek, jwe), secret);
});

test.serial("a JWE to another RSA key is refused by the TPM's binding key (the test can fail)", async (t) => {
  const other = await generateKeyPair("RSA-OAEP-256", { modulusLength: 2048, extractable: true });
  const jwe = await encryptToJwk(new Uint8Array(32), { ...(await exportJWK(other.publicKey)), alg: "RSA-OAEP-256" });
  const encryptedKey = path.join(sw.dir, "other.enc");
  await writeFile(encryptedKey, base64url.decode(jwe.split(".")[1]!));
  const r = tool(t, "tpm2_rsadecrypt", ["-c", `0x${HANDLE.toString(16)}`, "-s", "oaep", "-o", path.join(sw.dir, "other.bin"), encryptedKey]);
  t.not(r.status, 0);
  t.regex(r.stderr, /rsadecrypt|0x[0-9a-f]+/i);
});
