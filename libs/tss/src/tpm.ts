/**
 * The TPM: one generic `execute` that runs any command declared in @tessera/tpm2 (framing, Names,
 * sessions, response checks), and the commands Tessera needs built on it.
 * @module
 */
import {
  ActivateCredential,
  type Command,
  Certify,
  Create,
  CreatePrimary,
  EvictControl,
  FlushContext,
  frameCommand,
  GetCapability,
  GetRandom,
  handleName,
  Load,
  marshal,
  marshalParams,
  NV_DefineSpace,
  NV_Read,
  NV_ReadPublic,
  NV_UndefineSpace,
  NV_Write,
  parseResponse,
  PCR_Extend,
  PCR_Read,
  PolicyGetDigest,
  PolicyPCR,
  PolicySecret,
  Quote,
  ReadPublic,
  RSA_Decrypt,
  Unseal,
  SelfTest,
  Shutdown,
  Sign,
  StartAuthSession,
  Startup,
  TPM_ALG,
  TPM_CAP,
  TPM_HT,
  TPM_PT,
  TPM_RH,
  TPM_SE,
  TPM_ST,
  TPMA_SESSION,
  TPM2B_PUBLIC,
  TpmResponseError,
  type ResponseFrame,
  type TpmsCapabilityData,
  type TpmsNvPublic,
  type TpmsPcrSelection,
  type TpmtPublic,
  type TpmtSignature,
  type TpmtSigScheme,
  TPMT_SIGNATURE,
  unmarshal,
  unmarshalResponse,
  protectSeed,
  objectName,
  type PcrBanks,
  selectedPcrs,
  pcrSelection,
  HASH_SIZE,
  hashAlgByName,
  type TpmtRsaDecrypt,
} from "@tessera/tpm2";
import { randomBytes } from "node:crypto";
import { SessionLocks } from "./_session_locks.ts";
import { CommandAbortedError, CommandTimeoutError, HandlesLostError, TssError } from "./errors.ts";
import { type AuthEntity, HmacSession, PasswordSession, type Session } from "./session.ts";
import type { Transport } from "./transport.ts";
import { openTcti } from "./tcti.ts";
import type { TransportOptions } from "./transport.ts";

/** Per-call options of {@link Tpm.execute} and of the helpers built on it. */
export interface ExecuteOptions {
  /**
   * Aborts the command: queued, it is never sent; sent, the call rejects at once with a
   * CommandAbortedError (TSS_ABORTED) while the TPM's late answer is read and discarded (its session
   * nonces are still rolled, and an object it created is flushed), so the next command gets its own
   * answer. A command that times out (CommandTimeoutError, TSS_TIMEOUT) is treated the same way.
   */
  signal?: AbortSignal;
  /** Milliseconds to wait for the answer (default: the transport's timeout for the command's class). */
  timeoutMs?: number;
}

/** Options of {@link Tpm}. */
export interface TpmOptions {
  /**
   * Called when transient objects or sessions this Tpm loaded are found gone after the transport
   * reopened (e.g. /dev/tpmrm0 after a timeout), or a session became unusable because a command using
   * it timed out. Later use of those handles rejects with the same TSS_HANDLE_LOST error.
   */
  onHandlesLost?: (lost: HandlesLostError) => void;
}

/** A handle argument: a bare handle, or with its Name, authValue and the session that authorizes it. */
export type HandleArg = number | { handle: number; name?: Uint8Array; authValue?: Uint8Array; session?: Session };

/** The result of {@link Tpm.execute}: the response parameters and the returned handle, if any. */
export interface ExecuteResult<R> {
  response: R;
  handle: number | undefined;
}

const PASSWORD = new PasswordSession();
const RETRYABLE = new Set([0x922, 0x908, 0x90a]);
const MAX_RETRIES = 100;
const EMPTY: Uint8Array = new Uint8Array();
const NULL_SCHEME: TpmtSigScheme = { scheme: TPM_ALG.NULL, details: null };

function handleType(h: number): number {
  return h >>> 24;
}

function isSessionHandle(h: number): boolean {
  const t = handleType(h);
  return t === TPM_HT.HMAC_SESSION || t === TPM_HT.POLICY_SESSION;
}

function isTracked(h: number): boolean {
  return isSessionHandle(h) || handleType(h) === TPM_HT.TRANSIENT;
}

const hex = (h: number): string => `0x${h.toString(16).padStart(8, "0")}`;

/** The padding of {@link Tpm.rsaDecrypt}: OAEP, RSAES-PKCS1-v1_5, or `null` (the key's own scheme; raw RSA when that is null too). */
export type RsaDecryptScheme = "oaep" | "rsaes" | "null";

/** Options of {@link Tpm.rsaDecrypt}. */
export interface RsaDecryptOptions extends ExecuteOptions {
  /** The padding the ciphertext was made with. */
  scheme: RsaDecryptScheme;
  /** OAEP's hash, named as node:crypto or tpm2-tools do (default `sha256`: RSA-OAEP-256). Only for `oaep`. */
  hash?: string;
  /**
   * OAEP's label, exactly as the encrypter used it (default empty). The TPM refuses (TPM_RC_VALUE on
   * `label`) a non-empty label whose last byte is not 0: tpm2-tools' `-l` adds that NUL, node:crypto's
   * `oaepLabel` does not, so a label from node:crypto must carry it itself.
   */
  label?: Uint8Array;
  /** The key's authValue (default empty), used by the default password session or an HMAC `session`. */
  auth?: Uint8Array;
  /** The session authorizing the key (default: a password session with `auth`). */
  session?: Session;
}

/** A loaded object: handle, public area and Name. */
export interface LoadedObject {
  handle: number;
  public: TpmtPublic;
  /** The marshalled TPM2B_PUBLIC, as tpm2-tools writes it. */
  publicBytes: Uint8Array;
  name: Uint8Array;
}

/**
 * A TPM behind a transport. Safe for concurrent callers: commands through the same HMAC or policy session
 * are serialized (each is answered and verified before the next is authorized), other commands are
 * queued by the transport. It remembers the transient objects and sessions it loaded, so that when the
 * transport reopens it can tell which were lost (see {@link TpmOptions.onHandlesLost}).
 */
export class Tpm {
  /** The transport (TCTI). */
  readonly transport: Transport;
  readonly #onHandlesLost: ((lost: HandlesLostError) => void) | undefined;
  readonly #locks = new SessionLocks();
  /** Transient objects and sessions this Tpm loaded and did not flush. */
  readonly #loaded = new Set<number>();
  /** Lost handles and why. */
  readonly #lost = new Map<number, string>();
  #epoch: number;
  #reconciling: Promise<void> | undefined;

  /** @param transport where commands go */
  constructor(transport: Transport, options: TpmOptions = {}) {
    this.transport = transport;
    this.#onHandlesLost = options.onHandlesLost;
    this.#epoch = transport.epoch ?? 0;
  }

  /** Opens a TPM by TCTI string (`device:/dev/tpmrm0`, `swtpm:host=H,port=P`, `swtpm:path=S`). */
  static open(tcti: string, options?: TransportOptions & TpmOptions): Tpm {
    return new Tpm(openTcti(tcti, options), options);
  }

  /** The transient objects and sessions this Tpm loaded and has not flushed (nor lost). */
  get loadedHandles(): readonly number[] {
    return [...this.#loaded].sort((a, b) => a - b);
  }

  /** Closes the transport. */
  close(): Promise<void> {
    return this.transport.close();
  }

  /**
   * Runs any declared command. Handles needing authorization use their `session` (default: password with
   * their `authValue`); when a session other than a password session is involved, handle Names are
   * resolved (ReadPublic / NV_ReadPublic) unless given. Response HMACs are verified. Commands through the
   * same session wait for each other; a handle lost by a transport reopen rejects with TSS_HANDLE_LOST.
   */
  async execute<H extends string, P, R>(
    cmd: Command<H, P, R>,
    handles: Record<H, HandleArg>,
    params: P,
    options: ExecuteOptions = {},
  ): Promise<ExecuteResult<R>> {
    await this.#reconcile();
    return this.#run(cmd, handles, params, options);
  }

  async #run<H extends string, P, R>(cmd: Command<H, P, R>, handles: Record<H, HandleArg>, params: P, options: ExecuteOptions): Promise<ExecuteResult<R>> {
    const args = cmd.handles.map((h): Exclude<HandleArg, number> => {
      const a: HandleArg | undefined = handles[h.name];
      if (a === undefined) throw new TypeError(`${cmd.name}: handle ${h.name} is missing`);
      return typeof a === "number" ? { handle: a } : a;
    });
    const authIdx = cmd.handles.flatMap((h, i) => (h.auth ? [i] : []));
    const sessions = authIdx.map((i) => args[i].session ?? PASSWORD);
    const used = [...args.map((a) => a.handle), ...sessions.filter((s) => !(s instanceof PasswordSession)).map((s) => s.handle)];
    this.#refuseLost(cmd.name, used);
    const needNames = sessions.some((s) => !(s instanceof PasswordSession));
    const names = needNames ? await Promise.all(args.map((a) => (a.name ? a.name : this.#nameOf(a.handle, options)))) : [];
    const paramBytes = marshalParams(cmd, params);
    const entities: AuthEntity[] = authIdx.map((i) => ({ name: names[i] ?? EMPTY, authValue: args[i].authValue ?? EMPTY }));
    // A session's nonces roll with each command: authorize the next only after this one's answer is verified.
    const release = await this.#locks.acquire(used.filter(isSessionHandle), options.signal);
    let settleLater = false;
    try {
      this.#refuseLost(cmd.name, used);
      let frame: ResponseFrame;
      for (let attempt = 0; ; attempt++) {
        const auths = sessions.map((s, k) => s.authorize(cmd.code, names, paramBytes, entities[k]));
        let raw: Uint8Array;
        try {
          raw = await this.transport.send(
            frameCommand(
              cmd.code,
              args.map((a) => a.handle),
              paramBytes,
              auths,
            ),
            { signal: options.signal, timeoutMs: options.timeoutMs },
          );
        } catch (e) {
          if ((e instanceof CommandAbortedError || e instanceof CommandTimeoutError) && e.lateResponse) {
            settleLater = true;
            this.#settleLate(cmd, params, e.lateResponse, sessions, entities, release);
          } else if (e instanceof TssError && (e.code === "TSS_TIMEOUT" || e.code === "TSS_IO")) {
            this.#sessionsUnknown(cmd.name, sessions, e);
          }
          throw e;
        }
        try {
          frame = parseResponse(cmd, raw);
          break;
        } catch (e) {
          // TPM_RC_RETRY, _YIELDED and _TESTING mean "not started, send it again" (Part 2, 6.6.3).
          if (!(e instanceof TpmResponseError) || !RETRYABLE.has(e.rc) || attempt >= MAX_RETRIES) throw e;
          await new Promise((r) => setTimeout(r, Math.min(2 ** attempt, 50)));
        }
      }
      this.#verify(cmd, frame, sessions, entities);
      this.#track(cmd, params, frame, sessions);
      return { response: unmarshalResponse(cmd, frame.parameters), handle: frame.handle };
    } finally {
      if (!settleLater) release();
    }
  }

  #verify<H extends string, P, R>(cmd: Command<H, P, R>, frame: ResponseFrame, sessions: readonly Session[], entities: readonly AuthEntity[]): void {
    if (sessions.length === 0) return;
    if (frame.tag !== TPM_ST.SESSIONS || frame.auths.length !== sessions.length) {
      throw new TssError("TSS_RESPONSE_HMAC", `${cmd.name}: the response carries ${frame.auths.length} session(s), ${sessions.length} expected`);
    }
    sessions.forEach((s, k) => s.verify(cmd.code, frame.parameters, frame.auths[k], entities[k]));
  }

  /** Keeps the handles this Tpm loads and flushes up to date. */
  #track<H extends string, P, R>(cmd: Command<H, P, R>, params: P, frame: ResponseFrame, sessions: readonly Session[]): void {
    if (frame.handle !== undefined && isTracked(frame.handle)) {
      this.#loaded.add(frame.handle);
      this.#lost.delete(frame.handle);
    }
    if (cmd.code === FlushContext.code) {
      const h = (params as { flushHandle: number }).flushHandle;
      this.#loaded.delete(h);
      this.#lost.delete(h);
    }
    // A session used without continueSession ends with the command.
    sessions.forEach((s, k) => {
      if (!(s instanceof PasswordSession) && (frame.auths[k].sessionAttributes & TPMA_SESSION.continueSession) === 0) this.#loaded.delete(s.handle);
    });
  }

  /**
   * The answer of an aborted or timed-out command arrives later: verify it so the sessions' nonces roll
   * as the TPM's did, flush what it created (its caller is gone), then let the next command through the
   * sessions go. If it never comes, the sessions' nonces are unknown: they are reported lost.
   */
  #settleLate<H extends string, P, R>(
    cmd: Command<H, P, R>,
    params: P,
    late: Promise<Uint8Array>,
    sessions: readonly Session[],
    entities: readonly AuthEntity[],
    release: () => void,
  ): void {
    late
      .then((raw) => {
        const frame = parseResponse(cmd, raw);
        this.#verify(cmd, frame, sessions, entities);
        this.#track(cmd, params, frame, sessions);
        if (frame.handle !== undefined && isTracked(frame.handle)) {
          const h = frame.handle;
          this.#run(FlushContext, {}, { flushHandle: h }, {}).catch(() => undefined);
        }
      })
      .catch((e: unknown) => {
        // A TPM error leaves the sessions as they were; anything else leaves their nonces unknown.
        if (!(e instanceof TpmResponseError)) this.#sessionsUnknown(cmd.name, sessions, e);
      })
      .finally(release);
  }

  #sessionsUnknown(what: string, sessions: readonly Session[], cause: unknown): void {
    const hs = sessions.filter((s) => !(s instanceof PasswordSession)).map((s) => s.handle);
    if (hs.length === 0) return;
    const why = `${what} through it got no verified answer (${cause instanceof Error ? cause.message : String(cause)}): its nonces are unknown; flush it and start a new session`;
    for (const h of hs) this.#lost.set(h, why);
    this.#onHandlesLost?.(new HandlesLostError(hs, `session(s) ${hs.map(hex).join(", ")} unusable: ${why}`, { cause }));
  }

  #refuseLost(what: string, handles: readonly number[]): void {
    for (const h of handles) {
      const why = this.#lost.get(h);
      if (why !== undefined) throw new HandlesLostError([h], `${what}: handle ${hex(h)} was lost: ${why}`);
    }
  }

  /**
   * After the transport reopened (its epoch moved), asks the TPM which of the transient objects and
   * sessions this Tpm loaded still exist; the others are lost (always so behind a resource manager).
   */
  #reconcile(): Promise<void> {
    if (this.#reconciling) return this.#reconciling;
    const epoch = this.transport.epoch;
    if (epoch === undefined || epoch === this.#epoch) return Promise.resolve();
    if (this.#loaded.size === 0) {
      this.#epoch = epoch;
      return Promise.resolve();
    }
    this.#reconciling = (async () => {
      const present = new Set<number>();
      for (const type of [TPM_HT.TRANSIENT, TPM_HT.HMAC_SESSION, TPM_HT.POLICY_SESSION]) {
        let more = true;
        let next = (type << 24) >>> 0;
        while (more) {
          const { response } = await this.#run(GetCapability, {}, { capability: TPM_CAP.HANDLES, property: next, propertyCount: 254 }, {});
          const hs = (response.capabilityData.data as number[]).filter((h) => handleType(h) === type);
          hs.forEach((h) => present.add(h));
          more = Boolean(response.moreData) && hs.length > 0;
          if (hs.length > 0) next = hs[hs.length - 1] + 1;
        }
      }
      this.#epoch = epoch;
      const lost = [...this.#loaded].filter((h) => !present.has(h)).sort((a, b) => a - b);
      if (lost.length === 0) return;
      const why = `${this.transport.description} was reopened after a timeout or failure, and the TPM no longer has it`;
      for (const h of lost) {
        this.#loaded.delete(h);
        this.#lost.set(h, why);
      }
      this.#onHandlesLost?.(new HandlesLostError(lost, `${this.transport.description} reopened: lost ${lost.map(hex).join(", ")}`));
    })().finally(() => {
      this.#reconciling = undefined;
    });
    return this.#reconciling;
  }

  async #nameOf(handle: number, options: ExecuteOptions): Promise<Uint8Array> {
    const t = handleType(handle);
    if (t === TPM_HT.TRANSIENT || t === TPM_HT.PERSISTENT) return (await this.readPublic(handle, options)).name;
    if (t === TPM_HT.NV_INDEX) return (await this.nvReadPublic(handle, options)).name;
    return handleName(handle);
  }

  // ---- Start-up and capabilities ----

  /** TPM2_Startup(CLEAR or STATE). */
  async startup(state = false): Promise<void> {
    await this.execute(Startup, {}, { startupType: state ? 1 : 0 });
  }

  /** TPM2_Shutdown(CLEAR or STATE). */
  async shutdown(state = false): Promise<void> {
    await this.execute(Shutdown, {}, { shutdownType: state ? 1 : 0 });
  }

  /** TPM2_SelfTest. */
  async selfTest(full = true): Promise<void> {
    await this.execute(SelfTest, {}, { fullTest: full ? 1 : 0 });
  }

  /** TPM2_GetCapability, following moreData until `count` items or the end. Returns the raw capability data parts. */
  async getCapability(capability: number, property: number, count = 0xffff, options: ExecuteOptions = {}): Promise<TpmsCapabilityData[]> {
    const out: TpmsCapabilityData[] = [];
    let next = property;
    let remaining = count;
    for (let round = 0; round < 64 && remaining > 0; round++) {
      const { response } = await this.execute(GetCapability, {}, { capability, property: next, propertyCount: remaining }, options);
      out.push(response.capabilityData);
      const items = response.capabilityData.data as unknown[];
      remaining -= items.length;
      if (!response.moreData || items.length === 0) break;
      const last = items[items.length - 1] as number | { property?: number; alg?: number; tag?: number; handle?: number; hash?: number };
      const key = typeof last === "number" ? last : (last.property ?? last.alg ?? last.tag ?? last.handle ?? last.hash ?? 0);
      // TPMA_CC carries the command index in its low 16 bits; every other key is the whole 32-bit value.
      next = (capability === TPM_CAP.COMMANDS ? key & 0xffff : key >>> 0) + 1;
    }
    return out;
  }

  /** TPM properties (TPM_CAP_TPM_PROPERTIES) from `first`, as a map property → value. */
  async properties(first: number = TPM_PT.FAMILY_INDICATOR, count = 127, options: ExecuteOptions = {}): Promise<Map<number, number>> {
    const m = new Map<number, number>();
    for (const part of await this.getCapability(TPM_CAP.TPM_PROPERTIES, first, count, options)) {
      for (const p of part.data as { property: number; value: number }[]) m.set(p.property, p.value);
    }
    return m;
  }

  /** Handles of a type (TPM_HT_* << 24), e.g. persistent objects or NV indexes. */
  async handles(type: number, options: ExecuteOptions = {}): Promise<number[]> {
    const out: number[] = [];
    for (const part of await this.getCapability(TPM_CAP.HANDLES, (type << 24) >>> 0, 254, options)) out.push(...(part.data as number[]));
    return out.filter((h) => handleType(h) === type);
  }

  /** The PCR banks the TPM has allocated, with their selected PCRs. */
  async pcrBanks(): Promise<TpmsPcrSelection[]> {
    return (await this.getCapability(TPM_CAP.PCRS, 0, 1))[0].data as TpmsPcrSelection[];
  }

  /** TPM2_GetRandom for any number of bytes (the TPM returns at most a digest's worth per call). */
  async getRandom(n: number, options: ExecuteOptions = {}): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const { response } = await this.execute(GetRandom, {}, { bytesRequested: Math.min(n - got, 64) }, options);
      if (response.randomBytes.length === 0) throw new TssError("TSS_IO", "TPM2_GetRandom returned no bytes");
      out.set(response.randomBytes.subarray(0, n - got), got);
      got += response.randomBytes.length;
    }
    return out;
  }

  // ---- PCRs ----

  /** TPM2_PCR_Read of any number of PCRs in any banks (the TPM answers at most 8 digests per call). */
  async pcrRead(selections: readonly TpmsPcrSelection[], options: ExecuteOptions = {}): Promise<PcrBanks> {
    const banks: PcrBanks = new Map();
    const pending = selections.map((s) => ({ hash: s.hash, left: selectedPcrs(s) }));
    for (let round = 0; pending.some((p) => p.left.length > 0); round++) {
      if (round > 64) throw new TssError("TSS_IO", "TPM2_PCR_Read made no progress");
      const sel = pending.filter((p) => p.left.length > 0).map((p) => pcrSelection(p.hash, p.left));
      const { response } = await this.execute(PCR_Read, {}, { pcrSelectionIn: sel }, options);
      let k = 0;
      let progressed = false;
      for (const s of response.pcrSelectionOut) {
        const bank = banks.get(s.hash) ?? new Map<number, Uint8Array>();
        banks.set(s.hash, bank);
        const p = pending.find((x) => x.hash === s.hash);
        for (const i of selectedPcrs(s)) {
          const v = response.pcrValues[k++];
          if (!v) throw new TssError("TSS_IO", "TPM2_PCR_Read returned fewer digests than selected PCRs");
          bank.set(i, v);
          if (p) p.left = p.left.filter((x) => x !== i);
          progressed = true;
        }
      }
      // PCRs the TPM does not have in a bank come back unselected: stop asking for them.
      if (!progressed) {
        const missing = pending.filter((p) => p.left.length > 0).map((p) => `${p.hash}:${p.left.join(",")}`);
        throw new TssError("TSS_IO", `TPM2_PCR_Read: the TPM has no PCRs ${missing.join(" ")}`);
      }
    }
    return banks;
  }

  /** TPM2_PCR_Extend of one PCR with a digest per bank. */
  async pcrExtend(pcr: number, digests: readonly { hashAlg: number; digest: Uint8Array }[], session?: Session): Promise<void> {
    await this.execute(PCR_Extend, { pcrHandle: { handle: pcr, session } }, { digests: digests.map((d) => ({ hashAlg: d.hashAlg, digest: d.digest })) });
  }

  // ---- Objects ----

  /** TPM2_CreatePrimary under a hierarchy (TPM_RH_ENDORSEMENT, OWNER, …). The caller flushes the handle. */
  async createPrimary(
    hierarchy: number,
    template: TpmtPublic,
    options: { authValue?: Uint8Array; hierarchyAuth?: Uint8Array; session?: Session } & ExecuteOptions = {},
  ): Promise<LoadedObject> {
    const { response, handle } = await this.execute(
      CreatePrimary,
      { primaryHandle: { handle: hierarchy, authValue: options.hierarchyAuth, session: options.session } },
      { inSensitive: { userAuth: options.authValue ?? EMPTY, data: EMPTY }, inPublic: template, outsideInfo: EMPTY, creationPCR: [] },
      options,
    );
    return { handle: handle!, public: response.outPublic, publicBytes: marshal(TPM2B_PUBLIC, response.outPublic), name: response.name };
  }

  /** TPM2_Create under a loaded parent: returns the wrapped private and the public area (TPM2B forms). `data` seals caller data. */
  async create(
    parent: HandleArg,
    template: TpmtPublic,
    options: { authValue?: Uint8Array; data?: Uint8Array } & ExecuteOptions = {},
  ): Promise<{ privateBlob: Uint8Array; public: TpmtPublic; publicBytes: Uint8Array }> {
    const { response } = await this.execute(
      Create,
      { parentHandle: parent },
      { inSensitive: { userAuth: options.authValue ?? EMPTY, data: options.data ?? EMPTY }, inPublic: template, outsideInfo: EMPTY, creationPCR: [] },
      options,
    );
    return { privateBlob: response.outPrivate, public: response.outPublic, publicBytes: marshal(TPM2B_PUBLIC, response.outPublic) };
  }

  /** TPM2_Load of a private/public pair under a parent. The caller flushes the handle. */
  async load(parent: HandleArg, privateBlob: Uint8Array, pub: TpmtPublic, options: ExecuteOptions = {}): Promise<LoadedObject> {
    const { response, handle } = await this.execute(Load, { parentHandle: parent }, { inPrivate: privateBlob, inPublic: pub }, options);
    const name = objectName(pub);
    if (Buffer.compare(name, response.name) !== 0) throw new TssError("TSS_IO", "TPM2_Load returned a Name that differs from the public area's");
    return { handle: handle!, public: pub, publicBytes: marshal(TPM2B_PUBLIC, pub), name };
  }

  /** TPM2_ReadPublic. Checks that the Name the TPM reports is the Name of the public area it returned. */
  async readPublic(handle: number, options: ExecuteOptions = {}): Promise<LoadedObject & { qualifiedName: Uint8Array }> {
    const { response } = await this.execute(ReadPublic, { objectHandle: handle }, {}, options);
    const name = objectName(response.outPublic);
    if (Buffer.compare(name, response.name) !== 0)
      throw new TssError("TSS_IO", `TPM2_ReadPublic(0x${handle.toString(16)}): the Name does not match the public area`);
    return { handle, public: response.outPublic, publicBytes: marshal(TPM2B_PUBLIC, response.outPublic), name, qualifiedName: response.qualifiedName };
  }

  /** TPM2_FlushContext. Flushing a handle that was lost (TSS_HANDLE_LOST) forgets it and ignores TPM_RC_HANDLE. */
  async flush(handle: number, options: ExecuteOptions = {}): Promise<void> {
    if (this.#lost.delete(handle)) {
      await this.execute(FlushContext, {}, { flushHandle: handle }, options).catch((e: unknown) => {
        if (!(e instanceof TpmResponseError)) throw e;
      });
      return;
    }
    await this.execute(FlushContext, {}, { flushHandle: handle }, options);
  }

  /** Runs `fn` with a transient handle and flushes it afterwards, also when `fn` throws. */
  async withFlush<T extends { handle: number }, R>(make: Promise<T>, fn: (obj: T) => Promise<R>): Promise<R> {
    const obj = await make;
    try {
      return await fn(obj);
    } finally {
      await this.flush(obj.handle).catch(() => undefined);
    }
  }

  /** TPM2_EvictControl: make a transient object persistent at `persistent`, or evict a persistent one. */
  async evictControl(objectHandle: number, persistent: number, auth: HandleArg = TPM_RH.OWNER, options: ExecuteOptions = {}): Promise<void> {
    await this.execute(EvictControl, { auth, objectHandle }, { persistentHandle: persistent }, options);
  }

  // ---- NV ----

  /** The TPM's NV buffer size (TPM_PT_NV_BUFFER_MAX), cached. */
  #nvBufferMax: number | undefined;
  async nvBufferMax(): Promise<number> {
    if (this.#nvBufferMax === undefined) this.#nvBufferMax = (await this.properties(TPM_PT.NV_BUFFER_MAX, 1)).get(TPM_PT.NV_BUFFER_MAX) ?? 512;
    return this.#nvBufferMax;
  }

  /** TPM2_NV_DefineSpace. */
  async nvDefine(pub: TpmsNvPublic, options: { authValue?: Uint8Array; authHandle?: HandleArg } = {}): Promise<void> {
    await this.execute(NV_DefineSpace, { authHandle: options.authHandle ?? TPM_RH.OWNER }, { auth: options.authValue ?? EMPTY, publicInfo: pub });
  }

  /** TPM2_NV_UndefineSpace. */
  async nvUndefine(index: number, authHandle: HandleArg = TPM_RH.OWNER): Promise<void> {
    await this.execute(NV_UndefineSpace, { authHandle, nvIndex: index }, {});
  }

  /** TPM2_NV_ReadPublic. */
  async nvReadPublic(index: number, options: ExecuteOptions = {}): Promise<{ public: TpmsNvPublic; name: Uint8Array }> {
    const { response } = await this.execute(NV_ReadPublic, { nvIndex: index }, {}, options);
    return { public: response.nvPublic, name: response.nvName };
  }

  /** TPM2_NV_Write of any length, chunked by the TPM's NV buffer size. `authHandle` defaults to the index itself. */
  async nvWrite(index: number, data: Uint8Array, options: { offset?: number; authHandle?: HandleArg } & ExecuteOptions = {}): Promise<void> {
    const chunk = await this.nvBufferMax();
    const base = options.offset ?? 0;
    // At least one write, so that writing empty data still sets TPMA_NV_WRITTEN.
    for (let off = 0; off === 0 || off < data.length; off += chunk) {
      await this.execute(
        NV_Write,
        { authHandle: options.authHandle ?? index, nvIndex: index },
        { data: data.subarray(off, off + chunk), offset: base + off },
        options,
      );
    }
  }

  /** TPM2_NV_Read of any length (default: the whole index), chunked by the TPM's NV buffer size. */
  async nvRead(index: number, options: { size?: number; offset?: number; authHandle?: HandleArg } & ExecuteOptions = {}): Promise<Uint8Array> {
    const base = options.offset ?? 0;
    const size = options.size ?? (await this.nvReadPublic(index, options)).public.dataSize - base;
    const chunk = await this.nvBufferMax();
    const out = new Uint8Array(size);
    for (let off = 0; off < size; off += chunk) {
      const n = Math.min(chunk, size - off);
      const { response } = await this.execute(NV_Read, { authHandle: options.authHandle ?? index, nvIndex: index }, { size: n, offset: base + off }, options);
      if (response.data.length !== n) throw new TssError("TSS_IO", `TPM2_NV_Read returned ${response.data.length} bytes, ${n} asked`);
      out.set(response.data, off);
    }
    return out;
  }

  // ---- Sessions and policy ----

  /**
   * TPM2_StartAuthSession. `tpmKey` salts the session (its public area protects a random salt: RSA-OAEP
   * or ECDH, label "SECRET"); `bind` binds it to an entity's authValue.
   */
  async startAuthSession(
    options: {
      type?: number;
      hashAlg?: number;
      tpmKey?: { handle: number; public: TpmtPublic };
      bind?: { handle: number; name: Uint8Array; authValue?: Uint8Array };
      attributes?: number;
    } & ExecuteOptions = {},
  ): Promise<HmacSession> {
    const hashAlg = options.hashAlg ?? TPM_ALG.SHA256;
    const type = options.type ?? TPM_SE.HMAC;
    const nonceCaller = new Uint8Array(randomBytes(HASH_SIZE[hashAlg]));
    let salt = EMPTY;
    let encryptedSalt = EMPTY;
    if (options.tpmKey) {
      const p = protectSeed(options.tpmKey.public, "SECRET");
      salt = p.seed;
      encryptedSalt = p.secret;
    }
    const { response, handle } = await this.execute(
      StartAuthSession,
      { tpmKey: options.tpmKey?.handle ?? TPM_RH.NULL, bind: options.bind?.handle ?? TPM_RH.NULL },
      { nonceCaller, encryptedSalt, sessionType: type, symmetric: { algorithm: TPM_ALG.NULL, keyBits: null, mode: null }, authHash: hashAlg },
      options,
    );
    return new HmacSession({
      handle: handle!,
      type,
      hashAlg,
      nonceCaller,
      nonceTPM: response.nonceTPM,
      salt,
      bind: options.bind ? { name: options.bind.name, authValue: options.bind.authValue ?? EMPTY } : undefined,
      attributes: options.attributes,
    });
  }

  /** TPM2_PolicySecret: asserts knowledge of `authHandle`'s authValue (authorized by `authSession`, default password). */
  async policySecret(
    policy: HmacSession,
    authHandle: HandleArg,
    options: { cpHashA?: Uint8Array; policyRef?: Uint8Array; expiration?: number } = {},
  ): Promise<void> {
    await this.execute(
      PolicySecret,
      { authHandle, policySession: policy.handle },
      {
        nonceTPM: options.expiration ? policy.nonceTPM : EMPTY,
        cpHashA: options.cpHashA ?? EMPTY,
        policyRef: options.policyRef ?? EMPTY,
        expiration: options.expiration ?? 0,
      },
    );
  }

  /** TPM2_PolicyPCR: binds the policy to the current (or given) digest of the selected PCRs. */
  async policyPcr(policy: HmacSession, pcrs: readonly TpmsPcrSelection[], pcrDigest: Uint8Array = EMPTY): Promise<void> {
    await this.execute(PolicyPCR, { policySession: policy.handle }, { pcrDigest, pcrs: [...pcrs] });
  }

  /** TPM2_PolicyGetDigest. */
  async policyGetDigest(policy: HmacSession): Promise<Uint8Array> {
    return (await this.execute(PolicyGetDigest, { policySession: policy.handle }, {})).response.policyDigest;
  }

  /**
   * A policy session satisfying the TCG EK policy (PolicySecret(TPM_RH_ENDORSEMENT)), flushed after `fn`
   * (the session is started without continueSession, so a successful use also ends it).
   */
  async withEkPolicy<R>(fn: (session: HmacSession) => Promise<R>, endorsementAuth?: Uint8Array): Promise<R> {
    const s = await this.startAuthSession({ type: TPM_SE.POLICY, attributes: 0 });
    try {
      await this.policySecret(s, { handle: TPM_RH.ENDORSEMENT, authValue: endorsementAuth });
      return await fn(s);
    } finally {
      await this.flush(s.handle).catch(() => undefined);
    }
  }

  /** TPM2_Unseal of a loaded sealed-data object. */
  async unseal(item: HandleArg, options: ExecuteOptions = {}): Promise<Uint8Array> {
    return (await this.execute(Unseal, { itemHandle: item }, {}, options)).response.outData;
  }

  // ---- Attestation ----

  /** TPM2_ActivateCredential: `activate` is the credentialed object (AK), `key` the EK. */
  async activateCredential(
    activate: HandleArg,
    key: HandleArg,
    credentialBlob: Uint8Array,
    secret: Uint8Array,
    options: ExecuteOptions = {},
  ): Promise<Uint8Array> {
    return (await this.execute(ActivateCredential, { activateHandle: activate, keyHandle: key }, { credentialBlob, secret }, options)).response.certInfo;
  }

  /** TPM2_Quote over `pcrs` with `nonce` as qualifying data. Returns the signed TPMS_ATTEST bytes and the signature. */
  async quote(
    signer: HandleArg,
    nonce: Uint8Array,
    pcrs: readonly TpmsPcrSelection[],
    scheme: TpmtSigScheme = NULL_SCHEME,
    options: ExecuteOptions = {},
  ): Promise<{ quoted: Uint8Array; signature: TpmtSignature; signatureBytes: Uint8Array }> {
    const { response } = await this.execute(Quote, { signHandle: signer }, { qualifyingData: nonce, inScheme: scheme, pcrSelect: [...pcrs] }, options);
    return { quoted: response.quoted, signature: response.signature, signatureBytes: marshal(TPMT_SIGNATURE, response.signature) };
  }

  /** TPM2_Certify: `signer` attests that `object` is loaded in this TPM. */
  async certify(
    object: HandleArg,
    signer: HandleArg,
    qualifyingData: Uint8Array,
    scheme: TpmtSigScheme = NULL_SCHEME,
    options: ExecuteOptions = {},
  ): Promise<{ certifyInfo: Uint8Array; signature: TpmtSignature }> {
    const { response } = await this.execute(Certify, { objectHandle: object, signHandle: signer }, { qualifyingData, inScheme: scheme }, options);
    return { certifyInfo: response.certifyInfo, signature: response.signature };
  }

  // ---- Decryption ----

  /**
   * TPM2_RSA_Decrypt (Part 3, 14.3) by a loaded unrestricted RSA decryption key, such as a binding key: what
   * was encrypted to its public key (e.g. a JWE's content key under RSA-OAEP-256) comes back in the clear.
   * A ciphertext, label or key that does not match fails with the TPM's TpmResponseError (e.g. TPM_RC_VALUE
   * on `cipherText` for a wrong key or label; TPM_RC_KEY/TPM_RC_ATTRIBUTES for a key that cannot decrypt).
   * @throws TssError TSS_ARGUMENT for an unknown scheme or hash name.
   * @example
   * ```ts
   * const cek = await tpm.rsaDecrypt(bindingKey.handle, encryptedKey, { scheme: "oaep", hash: "sha256" });
   * ```
   */
  async rsaDecrypt(key: HandleArg, cipherText: Uint8Array, options: RsaDecryptOptions): Promise<Uint8Array> {
    const inScheme = rsaDecryptScheme(options.scheme, options.hash);
    const keyHandle: HandleArg =
      typeof key === "number"
        ? { handle: key, authValue: options.auth, session: options.session }
        : { ...key, authValue: options.auth ?? key.authValue, session: options.session ?? key.session };
    const { response } = await this.execute(RSA_Decrypt, { keyHandle }, { cipherText, inScheme, label: options.label ?? EMPTY }, options);
    return response.message;
  }

  /** TPM2_Sign of a digest by an unrestricted signing key. */
  async sign(key: HandleArg, digest: Uint8Array, scheme: TpmtSigScheme = NULL_SCHEME, options: ExecuteOptions = {}): Promise<TpmtSignature> {
    const validation = { tag: TPM_ST.HASHCHECK, hierarchy: TPM_RH.NULL, digest: EMPTY };
    return (await this.execute(Sign, { keyHandle: key }, { digest, inScheme: scheme, validation }, options)).response.signature;
  }
}

function rsaDecryptScheme(scheme: RsaDecryptScheme, hash: string | undefined): TpmtRsaDecrypt {
  if (scheme === "oaep") {
    const hashAlg = hashAlgByName(hash ?? "sha256");
    if (hashAlg === undefined) throw new TssError("TSS_ARGUMENT", `rsaDecrypt: unknown OAEP hash ${JSON.stringify(hash)}`);
    return { scheme: TPM_ALG.OAEP, details: { hashAlg } };
  }
  if (hash !== undefined) throw new TssError("TSS_ARGUMENT", `rsaDecrypt: a hash (${JSON.stringify(hash)}) is only for scheme "oaep", not ${JSON.stringify(scheme)}`);
  if (scheme === "rsaes") return { scheme: TPM_ALG.RSAES, details: null };
  if (scheme === "null") return { scheme: TPM_ALG.NULL, details: null };
  throw new TssError("TSS_ARGUMENT", `rsaDecrypt: unknown scheme ${JSON.stringify(scheme)} (oaep, rsaes or null)`);
}

/** Parses a TPMT_SIGNATURE from bytes (as `tpm2_quote -s` writes). */
export function parseSignature(bytes: Uint8Array): TpmtSignature {
  return unmarshal(TPMT_SIGNATURE, bytes);
}
