/**
 * Each test case runs as its own client identity: the OASIS cases assume a server that holds nothing but what
 * the case created (Locate, for one, must not find another case's objects), and kmipd scopes every object to
 * its owner. Certificates come from kmipd's local CA in its data directory.
 * @module
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { issueCertificate } from "@tessera/pki";
import type { ClientTls } from "@tessera/kmip-client";

/** A fresh client identity (CN = `name`) issued by the local CA of the kmipd whose data directory is `dataDir`. */
export async function caseIdentity(dataDir: string, name: string): Promise<ClientTls> {
  const tls = path.join(dataDir, "tls");
  const ca = { certificatePem: await readFile(path.join(tls, "ca.pem"), "utf8"), privateKeyPem: await readFile(path.join(tls, "ca-key.pem"), "utf8") };
  // A CN is at most 64 characters: long case names keep their start and a digest of the whole name.
  const cn = name.length <= 64 ? name : `${name.slice(0, 47)}-${createHash("sha256").update(name).digest("hex").slice(0, 16)}`;
  const leaf = await issueCertificate(ca, { commonName: cn, profile: "client", keyAlgorithm: "ecdsa-p256" });
  return { cert: leaf.certificatePem, key: leaf.privateKeyPem!, ca: ca.certificatePem };
}
