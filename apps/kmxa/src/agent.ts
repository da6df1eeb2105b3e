/**
 * The agent core: the host's TPM identity (tpm_identity.ts, state.ts), enrollment of its AK with attestd once per
 * AK, and attestations that keep a token fresh — at start, before the token's renewal point (80 % of its life),
 * every `--interval`, and on demand. attestd unreachable: exponential backoff with full jitter (1 s … 5 min) and
 * recovery without a restart; refused: the failures reported, retried on schedule. One TPM connection for the
 * process; attestations never overlap (callers join the one running).
 * @module
 */
import { readFile } from "node:fs/promises";
import type { Logger } from "@tessera/http";
import { ensurePrivateDir } from "@tessera/service";
import { parsePcrSelection, toHex, TpmResponseError } from "@tessera/tpm2";
import { Tpm, tpmInfo } from "@tessera/tss";
import { type Agent, AgentError, type AgentFailure, type AgentSettings, type AgentState, type AgentStatus, type HostIdentity, type TrustAuthority } from "./agent_types.ts";
import { AttestdError, type AttestdHostClient, createAttestdHostClient } from "./attestd_host_client.ts";
import type { KmxaConfig } from "./config.ts";
import { type AgentStateFile, loadState, saveState } from "./state.ts";
import { activateCredential, bindingKeyDecrypt, quote, setUpTpmIdentity, type TpmIdentity } from "./tpm_identity.ts";

/** What the agent core needs of the configuration. */
export type AgentConfig = Pick<KmxaConfig, "tcti" | "host" | "attestd" | "eventLog" | "dataDir" | "intervalSeconds" | "ek" | "ak"> & Partial<Pick<KmxaConfig, "kmxd">>;

/** The agent core with the settings of its local API (an imported Trust Authority, a default key provider). */
export type ConfigurableAgent = Agent & AgentSettings;

/** Options of {@link createAgent}. */
export interface CreateAgentOptions {
  readonly logger: Logger;
  /** Milliseconds since the epoch (default Date.now): token expiry and the times the status reports. */
  readonly clock?: { now(): number };
  /** A number in [0, 1) (default Math.random): the backoff's jitter. */
  readonly random?: () => number;
  /** Per call to attestd (default 30 s). */
  readonly attestdTimeoutMs?: number;
}

/** The first backoff step and the cap (PLAN: 1 s … 5 min). */
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_CAP_MS = 5 * 60_000;
/** A token is renewed when this share of its life has passed. */
export const RENEW_AT = 0.8;
/** A token with less than this left is not handed out: it could expire on its way to kmxd. */
export const MIN_REMAINING_MS = 5000;
/** After a failed attempt, token() waits this long before it attests on demand again (it answers NOT_ATTESTED meanwhile). */
export const ON_DEMAND_GAP_MS = 5000;
/** Never schedule the next attestation sooner than this after a success (a token with a very short life). */
const MIN_RENEW_DELAY_MS = 1000;

/**
 * The backoff before retry number `n` (0-based) after attestd could not be reached: full jitter — a random delay in
 * [1 s, min(5 min, 1 s · 2ⁿ)] — so a fleet that lost attestd together does not come back in step.
 */
export function backoffDelay(n: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(n, 30));
  return Math.max(BACKOFF_BASE_MS, Math.floor(random() * ceiling));
}

/** A failure of the host's side (TPM, event log): reported like attestd's, with the agent's own code. */
class LocalFailure extends Error {
  readonly failure: AgentFailure;
  constructor(code: string, detail: string, cause: unknown) {
    super(`${code}: ${detail}`, { cause });
    this.failure = { code, detail };
  }
}

/** Failure checks that say attestd holds another AK for this host name (another TPM enrolled under it since). */
const FOREIGN_AK_CHECKS: ReadonlySet<string> = new Set(["quote-signature", "binding-key"]);

/**
 * Whether a refusal is attestd not holding this host's AK — it lost the enrollment (`ak-not-enrolled`: a new
 * database), or another AK was enrolled under the name (only `quote-signature`/`binding-key` fail: the evidence is
 * fine but not signed by the AK attestd has) — which a new enrollment of this AK answers (once per attempt).
 */
export function needsEnrollment(e: AttestdError): boolean {
  if (e.kind !== "refused" || e.code !== "attestation-failed") return false;
  if (e.hasCheck("ak-not-enrolled")) return true;
  const f = e.failures ?? [];
  return f.length > 0 && f.every((x) => FOREIGN_AK_CHECKS.has(x.check));
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Opens the TPM, finds or makes the host's keys (saving state.json), and starts attesting in the background: the
 * agent is returned in state `starting`, before attestd answered.
 *
 * @example
 * ```ts
 * const agent = await createAgent(config, { logger });
 * const { token } = await agent.token();
 * ```
 * @throws AgentError STATE_INVALID (state.json does not fit), TPM_ERROR (the TPM cannot be reached or refused the set-up).
 */
export async function createAgent(config: AgentConfig, options: CreateAgentOptions): Promise<ConfigurableAgent> {
  const log = options.logger;
  const clock = options.clock ?? { now: () => Date.now() };
  const random = options.random ?? Math.random;
  await ensurePrivateDir(config.dataDir, (msg, fields) => log.warn(fields ?? {}, msg));
  let state: AgentStateFile | undefined = await loadState(config.dataDir);
  const tpm = Tpm.open(config.tcti, { onHandlesLost: (e) => log.warn({ err: e }, "TPM handles lost after the transport reopened") });
  let identity: TpmIdentity;
  try {
    const set = await setUpTpmIdentity(tpm, state, { ek: config.ek, ak: config.ak });
    for (const note of set.notes) log.warn({ tcti: config.tcti }, note);
    identity = set.identity;
    // The imported Trust Authority and the default provider are the host's settings, not the TPM's: kept whatever
    // the TPM set-up found (it rebuilds the state of its keys).
    const settings = { ...(state?.trustAuthority !== undefined ? { trustAuthority: state.trustAuthority } : {}), ...(state?.keyProvider !== undefined ? { keyProvider: state.keyProvider } : {}) };
    state = { ...set.state, ...settings };
    const e = state.enrollment;
    // An enrollment is of one AK, for one host name, at one attestd.
    // An imported Trust Authority (state.trustAuthority) wins over the configuration's.
    const attestdUrl = state.trustAuthority?.attestd.url ?? config.attestd.url;
    if (e !== undefined && (e.akName !== toHex(identity.ak.name) || e.host !== config.host || e.attestd !== attestdUrl)) {
      const { enrollment: _old, ...rest } = state;
      state = rest;
    }
    await saveState(config.dataDir, state);
  } catch (e) {
    await tpm.close().catch(() => undefined);
    if (e instanceof AgentError) throw e;
    throw new AgentError("TPM_ERROR", `cannot set up the host's keys in the TPM at ${config.tcti}: ${message(e)}`, { cause: e });
  }
  let info: HostIdentity["tpm"];
  try {
    const i = await tpmInfo(tpm);
    info = { manufacturer: i.manufacturer, vendorString: i.vendorString, firmwareVersion: i.firmwareVersion };
  } catch (e) {
    // Only shown to the administrator: a TPM that does not say is still attested.
    log.warn({ err: e }, "the TPM's properties cannot be read");
  }
  log.info(
    { host: config.host, tpm: info, tcti: config.tcti, ek: identity.ek.kind, ekFingerprint: identity.ek.fingerprint, akName: toHex(identity.ak.name), akHandle: identity.ak.handle, bindingKeyHandle: identity.bindingKey.handle },
    "TPM identity ready",
  );
  return new AgentImpl(config, options, clock, random, tpm, identity, info, state, log);
}

interface CurrentToken {
  token: string;
  /** attestd's expiry (its clock), as the token says. */
  expiresAt: number;
  /** The same moment on this host's clock: receipt + the token's life. A host clock off by more than a token's life must not make every token look expired (or everlasting). */
  localExpiresAt: number;
}

/** The token's life (exp − iat, ms) from its claims; undefined when they are not there. */
function tokenLifeMs(token: string): number | undefined {
  try {
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { iat?: unknown; exp?: unknown };
    if (typeof claims.iat === "number" && typeof claims.exp === "number" && claims.exp > claims.iat) return (claims.exp - claims.iat) * 1000;
  } catch {
    // Not a JWS we can read: the answer's expiresAt will do.
  }
  return undefined;
}

class AgentImpl implements ConfigurableAgent {
  readonly #config: AgentConfig;
  readonly #clock: { now(): number };
  readonly #random: () => number;
  readonly #tpm: Tpm;
  readonly #identity: TpmIdentity;
  readonly #info: HostIdentity["tpm"];
  readonly #log: Logger;
  #client: AttestdHostClient;
  readonly #attestdTimeoutMs: number | undefined;
  #ta: TrustAuthority;
  readonly #taListeners: ((ta: TrustAuthority) => void)[] = [];
  readonly #abort = new AbortController();
  #state: AgentStateFile;
  #agentState: AgentState = "starting";
  #since: number;
  #token: CurrentToken | undefined;
  #lastAttempt: number | undefined;
  #lastFailure: AgentFailure | undefined;
  #nextAttemptAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inflight: Promise<AgentStatus> | undefined;
  /** Consecutive attempts that could not reach attestd (or the TPM): the backoff's exponent. */
  #failedInARow = 0;
  #closed = false;

  constructor(
    config: AgentConfig,
    options: CreateAgentOptions,
    clock: { now(): number },
    random: () => number,
    tpm: Tpm,
    identity: TpmIdentity,
    info: HostIdentity["tpm"],
    state: AgentStateFile,
    log: Logger,
  ) {
    this.#info = info;
    this.#config = config;
    this.#clock = clock;
    this.#random = random;
    this.#tpm = tpm;
    this.#identity = identity;
    this.#state = state;
    this.#log = log;
    this.#since = clock.now();
    this.#attestdTimeoutMs = options.attestdTimeoutMs;
    const imported = state.trustAuthority;
    this.#ta =
      imported !== undefined
        ? { attestd: imported.attestd, kmxd: imported.kmxd, ...(imported.cluster !== undefined ? { cluster: imported.cluster } : {}), importedAt: Date.parse(imported.importedAt) }
        : { attestd: { url: config.attestd.url, ca: config.attestd.ca }, ...(config.kmxd !== undefined ? { kmxd: { url: config.kmxd.url, ca: config.kmxd.ca } } : {}) };
    this.#client = this.#makeClient();
    this.#schedule(0);
  }

  status(): AgentStatus {
    const now = this.#clock.now();
    const token = this.#token !== undefined && this.#token.localExpiresAt > now ? this.#token : undefined;
    return {
      host: this.#config.host,
      state: this.#agentState,
      since: this.#since,
      ...(token !== undefined ? { tokenExpiresAt: token.expiresAt } : {}),
      ...(this.#lastAttempt !== undefined ? { lastAttempt: this.#lastAttempt } : {}),
      ...(this.#lastFailure !== undefined ? { lastFailure: this.#lastFailure } : {}),
      ...(this.#nextAttemptAt !== undefined ? { nextAttemptAt: this.#nextAttemptAt } : {}),
      akName: toHex(this.#identity.ak.name),
      ekFingerprint: this.#identity.ek.fingerprint,
    };
  }

  async token(): Promise<{ token: string; expiresAt: number }> {
    this.#checkOpen();
    const usable = (): CurrentToken | undefined => {
      const t = this.#token;
      return t !== undefined && t.localExpiresAt - this.#clock.now() >= MIN_REMAINING_MS ? t : undefined;
    };
    const before = usable();
    // Valid, even past its renewal point: the schedule renews it (and backs off while attestd is away); a key
    // request does not wait for attestd while the token it has still works.
    if (before !== undefined) return { token: before.token, expiresAt: before.expiresAt };
    // No token: attest now — unless an attempt failed moments ago, so that a refused or cut-off host's key requests
    // do not each become an attestation (the schedule, and attestNow, still retry).
    const last = this.#lastAttempt;
    const recentFailure = this.#inflight === undefined && this.#lastFailure !== undefined && last !== undefined && this.#clock.now() - last < ON_DEMAND_GAP_MS;
    if (!recentFailure) await this.#attempt();
    const after = usable();
    if (after !== undefined) return { token: after.token, expiresAt: after.expiresAt };
    const failure = this.#lastFailure ?? { code: "not-attested", detail: "no attestation has succeeded yet" };
    throw new AgentError("NOT_ATTESTED", `${this.#config.host} is not attested: ${failure.code}: ${failure.detail}`, { failure });
  }

  async attestNow(): Promise<AgentStatus> {
    this.#checkOpen();
    return this.#attempt();
  }

  async identity(): Promise<HostIdentity> {
    this.#checkOpen();
    const id = this.#identity;
    let eventLog = new Uint8Array();
    try {
      eventLog = new Uint8Array(await readFile(this.#config.eventLog));
    } catch (e) {
      // The administrator's view still shows the keys; the missing log is the agent's attestation failure too.
      this.#log.warn({ eventLog: this.#config.eventLog, err: e }, "the event log cannot be read");
    }
    return {
      host: this.#config.host,
      ...(id.ek.certificate !== undefined ? { ekCertificate: id.ek.certificate } : {}),
      ekPublic: id.ek.publicBytes,
      ekSpki: id.ek.spki,
      ekFingerprint: id.ek.fingerprint,
      akName: toHex(id.ak.name),
      akPublic: id.ak.publicBytes,
      ...(this.#info !== undefined ? { tpm: this.#info } : {}),
      eventLog,
      eventLogPath: this.#config.eventLog,
    };
  }

  async rsaDecrypt(cipherText: Uint8Array): Promise<Uint8Array> {
    this.#checkOpen();
    try {
      return await bindingKeyDecrypt(this.#tpm, this.#identity.bindingKey, cipherText);
    } catch (e) {
      if (e instanceof TpmResponseError) {
        throw new AgentError("DECRYPT_FAILED", `the TPM refused to decrypt with the binding key (${e.code}): the ciphertext was not made for this host's binding key, or is damaged`, { cause: e });
      }
      throw new AgentError("TPM_ERROR", `decryption with the binding key: ${message(e)}`, { cause: e });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextAttemptAt = undefined;
    this.#abort.abort(new AgentError("CLOSED", "the agent was closed"));
    await this.#inflight?.catch(() => undefined);
    await this.#tpm.close().catch(() => undefined);
  }

  #makeClient(): AttestdHostClient {
    const t = this.#attestdTimeoutMs;
    return createAttestdHostClient({ url: this.#ta.attestd.url, ca: this.#ta.attestd.ca, ...(t !== undefined ? { timeoutMs: t } : {}) });
  }

  trustAuthority(): TrustAuthority {
    return structuredClone(this.#ta);
  }

  async setTrustAuthority(ta: { attestd: { url: string; ca: string }; kmxd: { url: string; ca: string }; cluster?: string }): Promise<AgentStatus> {
    this.#checkOpen();
    // An attempt under way finishes against the previous Trust Authority; its token is dropped below.
    await this.#inflight?.catch(() => undefined);
    const importedAt = this.#clock.now();
    const next: TrustAuthority = {
      attestd: { url: ta.attestd.url.replace(/\/+$/, ""), ca: ta.attestd.ca },
      kmxd: { url: ta.kmxd.url.replace(/\/+$/, ""), ca: ta.kmxd.ca },
      ...(ta.cluster !== undefined ? { cluster: ta.cluster } : {}),
      importedAt,
    };
    const { enrollment, ...rest } = this.#state;
    // An enrollment is at one attestd: another one must enroll the AK itself.
    const keep = enrollment !== undefined && enrollment.attestd === next.attestd.url ? { enrollment } : {};
    this.#state = {
      ...rest,
      ...keep,
      trustAuthority: { attestd: next.attestd, kmxd: next.kmxd!, ...(next.cluster !== undefined ? { cluster: next.cluster } : {}), importedAt: new Date(importedAt).toISOString() },
    };
    // Switched before the file is written: a scheduled attempt starting meanwhile already uses the new one.
    this.#ta = next;
    this.#client = this.#makeClient();
    // The previous Trust Authority's token means nothing to this one's kmxd.
    this.#token = undefined;
    this.#lastFailure = undefined;
    this.#failedInARow = 0;
    this.#setState("starting");
    await saveState(this.#config.dataDir, this.#state);
    this.#log.info({ attestd: next.attestd.url, kmxd: next.kmxd?.url, cluster: next.cluster }, "Trust Authority identity imported: attesting with it");
    for (const l of this.#taListeners) l(this.trustAuthority());
    return this.#attempt();
  }

  onTrustAuthorityChange(listener: (ta: TrustAuthority) => void): void {
    this.#taListeners.push(listener);
  }

  keyProvider(): string | undefined {
    return this.#state.keyProvider?.name;
  }

  async setKeyProvider(name: string | undefined): Promise<void> {
    this.#checkOpen();
    const { keyProvider: _old, ...rest } = this.#state;
    const next: AgentStateFile = name === undefined ? rest : { ...rest, keyProvider: { name, setAt: new Date(this.#clock.now()).toISOString() } };
    await saveState(this.#config.dataDir, next);
    this.#state = next;
    this.#log.info({ keyProvider: name ?? null }, "default key provider set");
  }

  #checkOpen(): void {
    if (this.#closed) throw new AgentError("CLOSED", "the agent was closed");
  }

  /** Runs `delayMs` from now (replacing any earlier schedule). */
  #schedule(delayMs: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#nextAttemptAt = this.#clock.now() + delayMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#attempt();
    }, delayMs);
    // The local API's servers keep the process alive; a pending attestation alone must not.
    this.#timer.unref();
  }

  #setState(next: AgentState): void {
    if (next !== this.#agentState) {
      this.#agentState = next;
      this.#since = this.#clock.now();
    }
  }

  /** One attestation (joining one already running); then the next one scheduled. Never rejects. */
  #attempt(): Promise<AgentStatus> {
    if (this.#inflight !== undefined) return this.#inflight;
    const run = (async (): Promise<AgentStatus> => {
      try {
        await this.#attestOnce();
      } finally {
        this.#inflight = undefined;
      }
      return this.status();
    })();
    this.#inflight = run;
    return run;
  }

  async #attestOnce(): Promise<void> {
    const signal = this.#abort.signal;
    try {
      let enrolledNow = false;
      if (this.#state.enrollment === undefined) {
        await this.#enroll(signal);
        enrolledNow = true;
      }
      let answer;
      try {
        answer = await this.#attestation(signal);
      } catch (e) {
        if (!(e instanceof AttestdError && needsEnrollment(e)) || enrolledNow) throw e;
        this.#log.warn({ host: this.#config.host, failures: e.failures }, "attestd does not hold this host's AK: enrolling again");
        await this.#enroll(signal);
        answer = await this.#attestation(signal);
      }
      const now = this.#clock.now();
      const life = tokenLifeMs(answer.token) ?? answer.expiresAt - now;
      const renewIn = Math.max(MIN_RENEW_DELAY_MS, Math.min(Math.floor(life * RENEW_AT), this.#config.intervalSeconds * 1000));
      this.#token = { token: answer.token, expiresAt: answer.expiresAt, localExpiresAt: now + life };
      this.#lastAttempt = now;
      this.#lastFailure = undefined;
      this.#failedInARow = 0;
      if (this.#agentState !== "attested") this.#log.info({ host: this.#config.host, expiresAt: new Date(answer.expiresAt).toISOString() }, "attested: token obtained");
      else this.#log.debug({ expiresAt: new Date(answer.expiresAt).toISOString() }, "token renewed");
      this.#setState("attested");
      this.#schedule(renewIn);
    } catch (e) {
      if (this.#closed) return;
      this.#lastAttempt = this.#clock.now();
      if (e instanceof AttestdError && e.kind === "refused") {
        // attestd's verdict: the host is not trustworthy now; the token it had is not to be used any more.
        this.#token = undefined;
        this.#lastFailure = e.toFailure();
        this.#failedInARow = 0;
        this.#log.warn({ host: this.#config.host, code: e.code, detail: e.detail, failures: e.failures }, "attestd refused the host");
        this.#setState("refused");
        this.#schedule(this.#config.intervalSeconds * 1000);
        return;
      }
      let failure: AgentFailure;
      let next: AgentState;
      if (e instanceof AttestdError) {
        failure = e.toFailure();
        next = "unreachable";
      } else if (e instanceof LocalFailure) {
        failure = e.failure;
        next = "refused";
      } else {
        // Not the TPM's nor attestd's (those are wrapped above): e.g. state.json cannot be written.
        failure = { code: "agent-error", detail: message(e) };
        next = "refused";
        this.#log.error({ err: e }, "attestation attempt failed");
      }
      const delay = backoffDelay(this.#failedInARow++, this.#random);
      this.#lastFailure = failure;
      this.#log.warn({ host: this.#config.host, code: failure.code, detail: failure.detail, retryInMs: delay }, next === "unreachable" ? "attestd cannot be reached" : "the attestation could not be made");
      this.#setState(next);
      this.#schedule(delay);
    }
  }

  /** §1: the EK and AK to attestd, ActivateCredential in the TPM, the secret back; recorded in state.json. */
  async #enroll(signal: AbortSignal): Promise<void> {
    const host = this.#config.host;
    const { ek, ak } = this.#identity;
    const e = await this.#client.enroll(host, { ...(ek.certificate !== undefined ? { ekCertificate: ek.certificate } : {}), ekPublic: ek.publicBytes, akPublic: ak.publicBytes }, signal);
    let secret: Uint8Array;
    try {
      secret = await activateCredential(this.#tpm, this.#identity, e.credential);
    } catch (cause) {
      throw new LocalFailure("tpm-error", `ActivateCredential of attestd's credential failed: ${message(cause)}`, cause);
    }
    const a = await this.#client.activate(host, e.enrollment, secret, signal);
    const akName = toHex(ak.name);
    if (a.akName !== akName) throw new LocalFailure("ak-name-mismatch", `attestd bound the AK ${a.akName}, not this host's ${akName}`, undefined);
    this.#state = { ...this.#state, enrollment: { host, attestd: this.#ta.attestd.url, akName, enrolledAt: new Date(this.#clock.now()).toISOString() } };
    await saveState(this.#config.dataDir, this.#state);
    this.#log.info({ host, akName, enrollment: e.enrollment }, "AK enrolled with attestd");
  }

  /** §2–3: a challenge, the quote of its selection with its nonce, the PCR values, the event log, the binding key. */
  async #attestation(signal: AbortSignal): Promise<{ token: string; expiresAt: number }> {
    const host = this.#config.host;
    const c = await this.#client.challenge(host, signal);
    let selection;
    try {
      selection = parsePcrSelection(c.pcrSelection);
    } catch (cause) {
      throw new AttestdError({ kind: "unreachable", code: "attestd-answer-invalid", detail: `pcrSelection ${JSON.stringify(c.pcrSelection)}: ${message(cause)}`, call: "challenge" }, { cause });
    }
    let evidence;
    try {
      evidence = await quote(this.#tpm, this.#identity.ak, c.nonce, selection);
    } catch (cause) {
      throw new LocalFailure("tpm-error", `the quote of ${c.pcrSelection} failed: ${message(cause)}`, cause);
    }
    let eventLog: Uint8Array;
    try {
      eventLog = new Uint8Array(await readFile(this.#config.eventLog));
    } catch (cause) {
      throw new LocalFailure("event-log-unreadable", `${this.#config.eventLog}: ${message(cause)}`, cause);
    }
    const bk = this.#identity.bindingKey;
    return this.#client.attest(
      host,
      { nonce: c.nonce, quote: evidence.quoted, signature: evidence.signature, pcrs: evidence.pcrs, eventLog, bindingKey: { public: bk.publicBytes, certifyInfo: bk.certifyInfo, signature: bk.signature } },
      signal,
    );
  }
}
