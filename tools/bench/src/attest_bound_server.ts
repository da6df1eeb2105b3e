/**
 * The least an attestation server can do, as a bound for the attest suite: an HTTPS server, in its own process like
 * attestd, with attestd's TLS settings (libs/http's), that answers PROTOCOL.md's challenge and attestation with only
 * what the in-process part measures and what HTTP cannot avoid. A challenge is 32 random bytes kept in a Map (no
 * store, nothing durable, one node); an attestation reads the JSON body, decodes it with no schema library, spends
 * the nonce from the Map, and runs `appraiseAndSign` (the in-process part's appraise + binding key JWK + issueEar).
 * No logging, no audit, no history, no status, no events. attestd must also keep nonces single-use across nodes
 * and durable, and record every attempt, so it cannot do less per attestation on the same machine: this server's
 * CPU and rate bound what attestd can show there.
 *
 * Started by attest_api.ts with an IPC channel: it receives {@link Setup} (the TLS material and the hosts' AKs; the
 * event log, image and policy are the suite's fixture, made here as the in-process part makes them), listens on
 * 127.0.0.1 on a port of the kernel's choosing and sends back `{ port }`; it exits when the channel closes.
 * @module
 */
import { randomBytes } from "node:crypto";
import { generateSigningKey } from "@tessera/tokens";
import { fromHex, hashAlgByName, type PcrBanks } from "@tessera/tpm2";
import { answerJson, readText, serveBound } from "./_bound_https.ts";
import { appraiseAndSign, ATTEST_PCRS, attestFixture } from "./attest_inprocess.ts";

/** What attest_api.ts sends: the server's TLS and each host's name with its AK's TPM2B_PUBLIC in base64. */
export interface Setup {
  readonly cert: string;
  readonly key: string;
  readonly hosts: readonly (readonly [name: string, akPublic: string])[];
}

/** The attestation body of PROTOCOL.md §3, as the bench sends it. */
interface AttestationBody {
  nonce: string;
  quote: string;
  signature: string;
  pcrs: Record<string, Record<string, string>>;
  eventLog: string;
  bindingKey: { public: string; certifyInfo: string; signature: string };
}

const NONCE_LIFETIME_MS = 60_000;
const ROUTE = /^\/api\/v1\/hosts\/([^/]+)\/(challenges|attestations)$/;
/** The decoded bytes, as a view (attestd's base64 fields are views too: no copy of the 34 KB log). */
const bytes = (b64: string): Uint8Array => {
  const b = Buffer.from(b64, "base64");
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
};

function banks(pcrs: AttestationBody["pcrs"]): PcrBanks {
  const out: PcrBanks = new Map();
  for (const [name, values] of Object.entries(pcrs)) {
    const alg = hashAlgByName(name);
    if (alg === undefined) throw new Error(`pcrs.${name}: not a hash algorithm`);
    out.set(alg, new Map(Object.entries(values).map(([i, hex]) => [Number(i), fromHex(hex)])));
  }
  return out;
}

process.once("message", (setup: Setup) => {
  const f = attestFixture();
  const aks = new Map(setup.hosts.map(([name, ak]) => [name, bytes(ak)]));
  const nonces = new Map<string, { host: string; expiresAt: number }>();
  const selection = `sha256:${ATTEST_PCRS.join(",")}`;
  const signing = generateSigningKey();

  serveBound(setup, async (req, res) => {
    const m = req.method === "POST" ? ROUTE.exec(req.url ?? "") : null;
    if (m === null) return answerJson(res, 404, "{}");
    const host = m[1]!;
    const body = await readText(req);
    const now = Date.now();
    if (m[2] === "challenges") {
      const nonce = randomBytes(32).toString("hex");
      nonces.set(nonce, { host, expiresAt: now + NONCE_LIFETIME_MS });
      return answerJson(res, 201, JSON.stringify({ nonce, pcrSelection: selection, expiresAt: new Date(now + NONCE_LIFETIME_MS).toISOString() }));
    }
    const a = JSON.parse(body) as AttestationBody;
    const live = nonces.get(a.nonce);
    const akPublic = aks.get(host);
    if (live === undefined || live.host !== host || live.expiresAt < now || akPublic === undefined) return answerJson(res, 403, `{"check":"nonce-unknown"}`);
    nonces.delete(a.nonce);
    const token = await appraiseAndSign(
      {
        akPublic,
        quote: bytes(a.quote),
        signature: bytes(a.signature),
        pcrs: banks(a.pcrs),
        eventLog: bytes(a.eventLog),
        bindingKey: { public: bytes(a.bindingKey.public), certifyInfo: bytes(a.bindingKey.certifyInfo), signature: bytes(a.bindingKey.signature) },
      },
      f.policy,
      fromHex(a.nonce),
      await signing,
    );
    answerJson(res, 200, JSON.stringify({ status: "affirming", token, expiresAt: new Date(now + 600_000).toISOString() }));
  });
});
