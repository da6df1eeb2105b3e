/**
 * A minimal OpenID Connect issuer for tests: discovery and a JWKS over real HTTPS (its own CA), ES256 tokens signed
 * with its key — or with another key, to see a forged token refused.
 * @module
 */
import { generateKeyPairSync } from "node:crypto";
import { serveHttps, type HttpsService } from "@tessera/http";
import { createCa, issueCertificate } from "@tessera/pki";
import { exportJWK, importPKCS8, SignJWT } from "jose";

/** A running test issuer. */
export interface TestOidcIssuer {
  readonly server: HttpsService;
  /** The CA (PEM) that issued its TLS certificate. */
  readonly ca: string;
  /** `https://127.0.0.1:PORT`: its `iss`. */
  readonly issuer: string;
  /**
   * A token with `claims` (`aud` defaults to the issuer's default audience), issued now for 5 minutes, signed with
   * the published key (`"own"`) or with a key it does not publish (`"other"`).
   */
  sign(claims: Record<string, unknown>, key?: "own" | "other"): Promise<string>;
}

/**
 * Starts the issuer on a loopback port; `defaultAudience` is the `aud` of tokens whose claims name none.
 * @example
 * ```ts
 * const idp = await startOidcIssuer("kmxd");
 * const token = await idp.sign({ sub: "alice", groups: ["TrustedAdmins"] });
 * await idp.server.close();
 * ```
 */
export async function startOidcIssuer(defaultAudience: string): Promise<TestOidcIssuer> {
  const ca = await createCa({ commonName: "OIDC Test CA" });
  const tls = await issueCertificate(ca, { commonName: "localhost", profile: "server", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
  const own = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...(await exportJWK(own.publicKey)), kid: "idp-1", alg: "ES256", use: "sig" };
  let issuer = "";
  const server = await serveHttps(
    (req: Request) => {
      const p = new URL(req.url).pathname;
      if (p === "/.well-known/openid-configuration") return Response.json({ issuer, jwks_uri: `${issuer}/jwks` });
      if (p === "/jwks") return Response.json({ keys: [jwk] });
      return new Response("not found", { status: 404 });
    },
    { host: "127.0.0.1", port: 0, cert: tls.certificatePem, key: tls.privateKeyPem ?? "" },
  );
  issuer = `https://127.0.0.1:${server.port}`;
  return {
    server,
    ca: ca.certificatePem,
    issuer,
    async sign(claims, which = "own") {
      const pem = (which === "own" ? own : other).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
      return new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid: "idp-1", typ: "JWT" })
        .setIssuer(issuer)
        .setAudience(typeof claims["aud"] === "string" ? claims["aud"] : defaultAudience)
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(await importPKCS8(pem, "ES256"));
    },
  };
}
