import test from "ava";
import { createRemoteJWKSet, customFetch, jwtVerify } from "jose";
import { fetchWithCa } from "@tessera/http";
import { startOidcIssuer } from "./oidc_issuer.ts";

test("publishes discovery and a JWKS over HTTPS; its tokens verify against them, the other key's do not", async (t) => {
  const idp = await startOidcIssuer("demo");
  t.teardown(() => idp.server.close());
  const fetch = fetchWithCa(idp.ca);
  const meta = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
  t.is(meta.issuer, idp.issuer);
  const keys = createRemoteJWKSet(new URL(meta.jwks_uri), { [customFetch]: fetch });
  const { payload } = await jwtVerify(await idp.sign({ sub: "alice", groups: ["g"] }), keys, { issuer: idp.issuer, audience: "demo" });
  t.is(payload.sub, "alice");
  await t.throwsAsync(jwtVerify(await idp.sign({ sub: "mallory" }, "other"), keys, { issuer: idp.issuer }));
});
