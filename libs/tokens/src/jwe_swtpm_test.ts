/**
 * PROTOCOL.md's promise about kmxd's secrets, on a real TPM (swtpm): the JWE that encryptToJwk makes for a
 * binding key created inside the TPM has an RSA-OAEP-256 encrypted key that `tpm2_rsadecrypt -s oaep`
 * (tpm2-tools) opens, and the content then decrypts with A256GCM, using the protected header as additional
 * data. The key is made with tpm2-tools, as a host holding only tpm2-tools would (PROTOCOL.md §3); libs/tss
 * is type:feature, which this type:codec lib may not import even in tests.
 */
import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { base64url, exportJWK, generateKeyPair } from "jose";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { TPMA_OBJECT as A, unmarshalPublic, TPM_ALG, type TpmsRsaParms } from "@tessera/tpm2";
import { bindingKeyJwk } from "./binding_key_jwk.ts";
import { encryptToJwk } from "./jwe.ts";

const HANDLE = "0x81000100";

let sw: SwtpmInstance;
let publicBytes: Uint8Array;

test.before(async () => {
  sw = await startSwtpm({ eccP256Ek: false });
  const f = (n: string) => path.join(sw.dir, n);
  run("tpm2_createprimary", ["-C", "o", "-g", "sha256", "-G", "rsa2048", "-c", f("srk.ctx")]);
  // No resource manager in front of swtpm: free the transient slots after each tool (the .ctx files stay loadable).
  run("tpm2_flushcontext", ["-t"]);
  // PROTOCOL.md §3's binding key: RSA-2048, decrypt (not sign, not restricted), fixed, scheme null.
  run("tpm2_create", ["-C", f("srk.ctx"), "-G", "rsa2048:null:null", "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt", "-u", f("binding.pub"), "-r", f("binding.priv")]);
  run("tpm2_flushcontext", ["-t"]);
  run("tpm2_load", ["-C", f("srk.ctx"), "-u", f("binding.pub"), "-r", f("binding.priv"), "-c", f("binding.ctx")]);
  run("tpm2_evictcontrol", ["-C", "o", "-c", f("binding.ctx"), HANDLE]);
  run("tpm2_flushcontext", ["-t"]);
  publicBytes = new Uint8Array(await readFile(f("binding.pub")));
});

test.after.always(async () => {
  await sw?.stop();
});

/** Runs a tpm2-tools program against the swtpm; throws when it is missing; returns its exit status. */
function run(name: string, args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(name, ["-T", sw.tcti, ...args], { encoding: "utf8", timeout: 30_000 });
  if (r.error) throw new Error(`${name}: ${r.error.message} (install tpm2-tools: apt-get install tpm2-tools)`);
  if (r.status !== 0 && !name.endsWith("rsadecrypt")) throw new Error(`${name} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return { status: r.status, stderr: r.stderr };
}

function tool(t: ExecutionContext, name: string, args: string[]): { status: number | null; stderr: string } {
  const r = run(name, args);
  t.log(`${name} ${args.join(" ")} → ${r.status}`);
  return r;
}

async function aesGcmOpen(cek: Uint8Array, jwe: string): Promise<Uint8Array> {
  const [header, , iv, ciphertext, tag] = jwe.split(".");
  const key = await crypto.subtle.importKey("raw", new Uint8Array(cek), "AES-GCM", false, ["decrypt"]);
  const sealed = new Uint8Array([...base64url.decode(ciphertext!), ...base64url.decode(tag!)]);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: new Uint8Array(base64url.decode(iv!)), additionalData: new TextEncoder().encode(header), tagLength: 128 },
    key,
    sealed,
  );
  return new Uint8Array(plain);
}

test.serial("a JWE to a TPM-resident binding key: tpm2_rsadecrypt -s oaep recovers the content key, A256GCM opens the content", async (t) => {
  // The JWK from our TPM2B_PUBLIC equals the one from what tpm2_readpublic writes for the persistent key.
  const readBack = path.join(sw.dir, "readpublic.pub");
  t.is(tool(t, "tpm2_readpublic", ["-c", HANDLE, "-o", readBack]).status, 0);
  const area = unmarshalPublic(publicBytes);
  t.is(area.type, TPM_ALG.RSA);
  t.is((area.parameters as TpmsRsaParms).scheme.scheme, TPM_ALG.NULL);
  t.is(area.objectAttributes & (A.decrypt | A.sign | A.restricted | A.fixedTPM), A.decrypt | A.fixedTPM);
  const jwk = await bindingKeyJwk(publicBytes);
  t.deepEqual(await bindingKeyJwk(new Uint8Array(await readFile(readBack))), jwk);

  const secret = crypto.getRandomValues(new Uint8Array(32));
  const jwe = await encryptToJwk(secret, jwk);
  const encryptedKey = path.join(sw.dir, "cek.enc");
  const cekFile = path.join(sw.dir, "cek.bin");
  await writeFile(encryptedKey, base64url.decode(jwe.split(".")[1]!));
  const r = tool(t, "tpm2_rsadecrypt", ["-c", HANDLE, "-s", "oaep", "-o", cekFile, encryptedKey]);
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
  const r = tool(t, "tpm2_rsadecrypt", ["-c", HANDLE, "-s", "oaep", "-o", path.join(sw.dir, "other.bin"), encryptedKey]);
  t.not(r.status, 0);
  t.regex(r.stderr, /rsadecrypt|0x[0-9a-f]+/i);
});
