/**
 * The least a key-release server can do for one unwrap, as a bound for the kmx suite: an HTTPS server, in its own
 * process like kmxd, with kmxd's TLS settings (libs/http's), that answers `POST …/unwrap` with exactly the three
 * things an unwrap cannot avoid and nothing else: it reads the JSON body, sends the KMIP Decrypt of the wrapped key
 * on a pooled connection to the key server (the same client and pool size kmxd uses), and answers the key as a JWE
 * to a binding key (`encryptToJwk`, as kmxd does). No token check, no audit row, no routing, no logging, no
 * validation beyond what the wrapped form's decoder does. A kmxd that does more cannot be faster on the same
 * machine, so the ratios this server shows against the floor bound the ratios any kmxd can show there.
 *
 * Started by kmx.ts with an IPC channel: it receives {@link Setup}, listens on 127.0.0.1 on a port of the kernel's
 * choosing and sends back `{ port }`; it exits when the channel closes.
 * @module
 */
import type { JWK } from "jose";
import { createProviderClient, decodeWrapped, wrapAad } from "@tessera/key-provider";
import { encryptToJwk } from "@tessera/tokens";
import { answerJson, readText, serveBound } from "./_bound_https.ts";

/** What kmx.ts sends: the server's TLS, the key server and its client TLS, the primary key, the binding key. */
export interface Setup {
  readonly cert: string;
  readonly key: string;
  readonly kmip: { readonly host: string; readonly port: number; readonly cert: string; readonly key: string; readonly ca: string };
  readonly keyId: string;
  readonly poolSize: number;
  readonly bindingKey: JWK;
}

process.once("message", (setup: Setup) => {
  const kmip = createProviderClient({
    servers: [{ host: setup.kmip.host, port: setup.kmip.port }],
    tls: { cert: setup.kmip.cert, key: setup.kmip.key, ca: setup.kmip.ca },
    poolSize: setup.poolSize,
  });
  serveBound(
    setup,
    async (req, res) => {
      const { wrapped } = JSON.parse(await readText(req)) as { wrapped: string };
      const w = decodeWrapped(wrapped);
      const key = await kmip.decrypt(setup.keyId, w.ct, { iv: w.iv, aad: wrapAad(w.provider, w.kv), tag: w.tag });
      answerJson(res, 200, JSON.stringify({ key: await encryptToJwk(key, setup.bindingKey) }));
    },
    () => kmip.close(),
  );
});
