/**
 * How `tactl kp` reaches kmxd: `--server URL` and `--ca F` name kmxd (its address and the CA of its TLS
 * certificate), and the bearer is the admin token of the `tactl ta login` session — kmxd accepts attestd's admin
 * tokens. Requests go through ta_client.ts, so refusals and transport failures are reported (and exit) as for
 * `tactl ta`.
 * @module
 */
import { taRequest, TaProblemError, type TaEndpoint } from "./ta_client.ts";
import { activeSession, readCaPem, serverUrl, tesseraHome } from "./ta_session.ts";

/** kmxd's endpoint with the session's token, and the attestd the session signed in to (for the log-in hint). */
export interface KpEndpoint extends TaEndpoint {
  /** The attestd of the session (its token is the one sent). */
  readonly attestd: string;
}

/**
 * kmxd's endpoint: `server` (https://HOST:PORT, or HOST:PORT), `caFile` read as PEM certificates (absent: the
 * system's trust store), the token of the session under $TESSERA_HOME (`env`). Throws TaSessionError when there
 * is no valid session.
 */
export async function kpEndpoint(server: string, caFile: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<KpEndpoint> {
  const url = serverUrl(server, "kmxd");
  const ca = caFile === undefined ? undefined : await readCaPem(caFile);
  const session = await activeSession(tesseraHome(env));
  return { server: url, token: session.token, attestd: session.server, ...(ca === undefined ? {} : { ca }) };
}

/**
 * One admin request to kmxd; resolves with the JSON body. A 401 means kmxd did not take the session's token
 * (expired on its clock, signed by another attestd, or a key kmxd has not fetched): the detail then says to log
 * in again to the attestd that kmxd trusts.
 */
export async function kpRequest(endpoint: KpEndpoint, method: string, pathAndQuery: string, body?: unknown): Promise<unknown> {
  try {
    return (await taRequest(endpoint, method, pathAndQuery, body)).body;
  } catch (e) {
    if (e instanceof TaProblemError && e.status === 401) {
      throw new TaProblemError(401, {
        ...e.problem,
        detail: `${e.detail}; the session is for ${endpoint.attestd}: log in again with \`tactl ta login --server <the attestd kmxd trusts> …\``,
      });
    }
    throw e;
  }
}
