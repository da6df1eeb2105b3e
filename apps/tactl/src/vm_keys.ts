/**
 * Where a vTPM's data key comes from: a trusted key provider through the host's agent (kmxa's socket: kmxd releases
 * the key only to an attested host, as a JWE its TPM opens), or a standard key provider — a KMIP server used
 * directly with the host's own credentials, the key wrapped there by @tessera/key-provider. The data key is never
 * written anywhere; the envelope keeps only its wrapped form.
 * @module
 */
import { readFile } from "node:fs/promises";
import type { KmipClient } from "@tessera/kmip-client";
import { createProviderClient, decodeWrapped, parseKmipServer, probeProvider, unwrap, wrap, WrappedKeyError, type ProviderKey } from "@tessera/key-provider";
import type { EnvelopeHeader, EnvelopeKey, StandardProviderConfig, VtpmProvider } from "@tessera/vtpm";
import { TaProblemError, TaTransportError } from "./ta_client.ts";
import { agentRequest } from "./wf_agent_client.ts";
import { VmError } from "./vm_errors.ts";

/** A new data key and what the envelope records of it. */
export interface NewDataKey {
  readonly dataKey: Uint8Array;
  readonly key: EnvelopeKey;
}

/** The data keys of one provider. */
export interface DataKeySource {
  /** A new 32-byte data key, wrapped by the provider. */
  newDataKey(): Promise<NewDataKey>;
  /** The data key of an envelope sealed under this provider. */
  dataKeyOf(header: EnvelopeHeader): Promise<Uint8Array>;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** A refusal of the agent or kmxd, or an agent out of reach, as a VmError saying what it means for the vTPM. */
function agentFailure(e: unknown, provider: string, what: string): never {
  if (e instanceof TaProblemError) {
    const code = e.problemCode ?? "refused";
    const meaning =
      code === "not-attested"
        ? "the host is not attested (or is red): a trusted key provider's keys reach attested hosts only"
        : code === "host-untrusted"
          ? "the Trust Authority reports this host red"
          : `the agent answered ${e.status} ${code}`;
    throw new VmError("VM_KEY_REFUSED", `${what} of trusted key provider ${provider}: ${meaning}: ${e.message}`, { cause: e });
  }
  if (e instanceof TaTransportError) throw new VmError("VM_AGENT_UNREACHABLE", `${what} of trusted key provider ${provider}: ${e.message}`, { cause: e });
  throw e;
}

function keyOf(answer: unknown, what: string): Uint8Array {
  const k = (answer as { key?: unknown } | undefined)?.key;
  if (typeof k !== "string") throw new VmError("VM_AGENT_ANSWER", `the agent's answer to ${what} has no key`);
  const b = new Uint8Array(Buffer.from(k, "base64"));
  if (b.length !== 32) throw new VmError("VM_AGENT_ANSWER", `the agent's ${what} gave a ${b.length}-byte key, not 32`);
  return b;
}

/** A trusted key provider through the agent at `socket`. */
export function trustedSource(socket: string, provider: string): DataKeySource {
  const base = `/api/v1/providers/${encodeURIComponent(provider)}`;
  return {
    async newDataKey() {
      let answer: unknown;
      try {
        answer = await agentRequest(socket, "POST", `${base}/data-keys`, { bytes: 32 });
      } catch (e) {
        agentFailure(e, provider, "a new data key");
      }
      const wrapped = (answer as { wrapped?: unknown }).wrapped;
      if (typeof wrapped !== "string") throw new VmError("VM_AGENT_ANSWER", "the agent's data key came without its wrapped form");
      // The wrapped form is kmxd's; it names the primary-key version, which the envelope shows (never the key).
      let kv = 0;
      try {
        kv = decodeWrapped(wrapped).kv;
      } catch (e) {
        if (!(e instanceof WrappedKeyError)) throw e;
      }
      return {
        dataKey: keyOf(answer, "data key"),
        key: { provider: { name: provider, kind: "trusted" }, key: { id: provider, version: kv }, wrappedDataKey: utf8.encode(wrapped) },
      };
    },
    async dataKeyOf(header) {
      let answer: unknown;
      try {
        answer = await agentRequest(socket, "POST", `${base}/unwrap`, { wrapped: fromUtf8.decode(header.wrappedDataKey) });
      } catch (e) {
        agentFailure(e, provider, "the data key");
      }
      return keyOf(answer, "unwrap");
    },
  };
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw new VmError("VM_INPUT", `${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** A KMIP client of a standard provider, with the host's own credentials (files on this host). */
async function clientOf(p: Omit<StandardProviderConfig, "mode">): Promise<KmipClient> {
  const tls = {
    cert: await readPem(p.clientCertificate, "client certificate"),
    key: await readPem(p.clientKey, "client key"),
    ca: await readPem(p.serverCa, "server CA"),
  };
  return createProviderClient({ servers: p.kmipServers.map((s) => parseKmipServer(s)), tls });
}

/** A standard key provider: the host's own KMIP credentials; one connection per call. */
export function standardSource(p: StandardProviderConfig): DataKeySource {
  const providerKey: ProviderKey = { provider: p.name, version: 1, keyId: p.keyId, mode: p.mode };
  async function withClient<T>(fn: (c: KmipClient) => Promise<T>): Promise<T> {
    const client = await clientOf(p);
    try {
      return await fn(client);
    } catch (e) {
      if (e instanceof VmError) throw e;
      throw new VmError("VM_KEY_REFUSED", `standard key provider ${p.name} (${p.kmipServers.join(", ")}, key ${p.keyId}): ${(e as Error).message}`, {
        cause: e,
      });
    } finally {
      client.close();
    }
  }
  return {
    newDataKey: () =>
      withClient(async (c) => {
        const dataKey = new Uint8Array(crypto.getRandomValues(new Uint8Array(32)));
        const wrapped = await wrap(c, providerKey, dataKey);
        return { dataKey, key: { provider: { name: p.name, kind: "standard" }, key: { id: p.keyId, version: 1 }, wrappedDataKey: utf8.encode(wrapped) } };
      }),
    dataKeyOf: (header) => withClient((c) => unwrap(c, (kv) => (kv === 1 ? providerKey : undefined), fromUtf8.decode(header.wrappedDataKey))),
  };
}

/**
 * A standard provider's configuration, checked against its KMIP servers: the key exists, is Active, and the mode
 * the server wraps in.
 */
export async function probeStandard(p: Omit<StandardProviderConfig, "mode">): Promise<StandardProviderConfig> {
  const client = await clientOf(p);
  try {
    const r = await probeProvider(client, p.keyId);
    return { ...p, mode: r.mode };
  } catch (e) {
    throw new VmError("VM_KEY_REFUSED", `standard key provider ${p.name}: key ${p.keyId} on ${p.kmipServers.join(", ")}: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    client.close();
  }
}

/** The source of `provider`'s data keys (`socket`: the agent, for a trusted one). */
export function sourceOf(provider: VtpmProvider, socket: string): DataKeySource {
  return provider.kind === "trusted" ? trustedSource(socket, provider.name) : standardSource(provider);
}
