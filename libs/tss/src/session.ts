/**
 * Authorization sessions (Part 1, 19): password, HMAC (bound and/or salted) and policy sessions. A
 * session turns (command code, handle Names, parameters) into a TPMS_AUTH_COMMAND and checks the
 * TPMS_AUTH_RESPONSE that comes back: cpHash/rpHash, rolling nonces, HMAC key = sessionKey || authValue.
 * @module
 */
import { randomBytes } from "node:crypto";
import { concat, equalBytes, hash, HASH_SIZE, hmac, kdfa, u32be, TPM_RS_PW, TPMA_SESSION, type TpmsAuthCommand, type TpmsAuthResponse } from "@tessera/tpm2";
import { TssError } from "./errors.ts";

/** The entity a session authorizes: its Name and authValue. */
export interface AuthEntity {
  /** The entity's Name (object/NV Name or handle bytes). */
  name: Uint8Array;
  /** The entity's authValue (empty by default). */
  authValue: Uint8Array;
}

/** A session that can authorize a command. */
export interface Session {
  /** Session handle (TPM_RS_PW for password). */
  readonly handle: number;
  /** Builds this session's TPMS_AUTH_COMMAND for a command. `names` are the Names of all the command's handles. */
  authorize(code: number, names: readonly Uint8Array[], params: Uint8Array, entity: AuthEntity): TpmsAuthCommand;
  /** Checks the TPMS_AUTH_RESPONSE and rolls the nonces. Throws TssError TSS_RESPONSE_HMAC on a bad HMAC. */
  verify(code: number, params: Uint8Array, auth: TpmsAuthResponse, entity: AuthEntity): void;
}

/** Strips trailing zero octets from an authValue, as the TPM does before using it in an HMAC key (Part 1, 19.6.5). */
export function trimAuth(a: Uint8Array): Uint8Array {
  let n = a.length;
  while (n > 0 && a[n - 1] === 0) n--;
  return a.subarray(0, n);
}

/** A password session (TPM_RS_PW): sends the entity's authValue in the clear. */
export class PasswordSession implements Session {
  readonly handle = TPM_RS_PW;
  authorize(_code: number, _names: readonly Uint8Array[], _params: Uint8Array, entity: AuthEntity): TpmsAuthCommand {
    return { sessionHandle: TPM_RS_PW, nonce: new Uint8Array(), sessionAttributes: TPMA_SESSION.continueSession, hmac: entity.authValue };
  }
  verify(_code: number, _params: Uint8Array, auth: TpmsAuthResponse): void {
    if (auth.hmac.length !== 0 || auth.nonce.length !== 0) {
      throw new TssError("TSS_RESPONSE_HMAC", "password session response carries a nonce or HMAC");
    }
  }
}

/** What StartAuthSession produced, to build an {@link HmacSession} from. */
export interface SessionState {
  handle: number;
  /** TPM_SE_HMAC, TPM_SE_POLICY or TPM_SE_TRIAL. */
  type: number;
  hashAlg: number;
  nonceCaller: Uint8Array;
  nonceTPM: Uint8Array;
  /** The salt (seed) protected to tpmKey, or empty. */
  salt: Uint8Array;
  /** Bind entity, or undefined for an unbound session. */
  bind?: AuthEntity;
  /** TPMA_SESSION bits to send (continueSession by default). */
  attributes?: number;
}

/**
 * An HMAC or policy session. For a policy session the authValue enters the HMAC only after
 * PolicyAuthValue (`needAuthValue`), and after PolicyPassword the authValue is sent as the HMAC.
 */
export class HmacSession implements Session {
  readonly handle: number;
  readonly type: number;
  readonly hashAlg: number;
  /** The session key: KDFa(hash, bindAuth || salt, "ATH", nonceTPM, nonceCaller) or empty. */
  readonly sessionKey: Uint8Array;
  /** TPMA_SESSION bits sent with each command. */
  attributes: number;
  /** Policy sessions: PolicyAuthValue was run, include the authValue in the HMAC key. */
  needAuthValue = false;
  /** Policy sessions: PolicyPassword was run, send the authValue as the HMAC. */
  needPassword = false;
  #nonceCaller: Uint8Array;
  #nonceTPM: Uint8Array;
  readonly #bindName: Uint8Array | undefined;
  #lastAttributes = 0;

  /** Builds the session from StartAuthSession's inputs and outputs. */
  constructor(s: SessionState) {
    this.handle = s.handle;
    this.type = s.type;
    this.hashAlg = s.hashAlg;
    this.#nonceCaller = s.nonceCaller;
    this.#nonceTPM = s.nonceTPM;
    this.attributes = s.attributes ?? TPMA_SESSION.continueSession;
    this.#bindName = s.bind?.name;
    const keyInput = concat(trimAuth(s.bind?.authValue ?? new Uint8Array()), s.salt);
    const size = HASH_SIZE[s.hashAlg];
    // The TPM derives a session key whenever the session is bound or salted, even from an empty input.
    this.sessionKey = s.bind === undefined && s.salt.length === 0 ? new Uint8Array() : kdfa(s.hashAlg, keyInput, "ATH", s.nonceTPM, s.nonceCaller, size * 8);
  }

  /** The TPM's latest nonce (PolicySecret and PolicySigned sign over it). */
  get nonceTPM(): Uint8Array {
    return this.#nonceTPM;
  }

  get #isPolicy(): boolean {
    return this.type !== 0;
  }

  #hmacKey(entity: AuthEntity): Uint8Array {
    let includeAuth: boolean;
    if (this.#isPolicy) includeAuth = this.needAuthValue;
    // A session bound to the very entity it authorizes already has its authValue in the session key.
    else includeAuth = !(this.#bindName && Buffer.compare(this.#bindName, entity.name) === 0);
    return includeAuth ? concat(this.sessionKey, trimAuth(entity.authValue)) : this.sessionKey;
  }

  authorize(code: number, names: readonly Uint8Array[], params: Uint8Array, entity: AuthEntity): TpmsAuthCommand {
    this.#nonceCaller = new Uint8Array(randomBytes(this.#nonceCaller.length || HASH_SIZE[this.hashAlg]));
    this.#lastAttributes = this.attributes;
    if (this.needPassword) {
      return { sessionHandle: this.handle, nonce: this.#nonceCaller, sessionAttributes: this.attributes, hmac: entity.authValue };
    }
    const cpHash = hash(this.hashAlg, u32be(code), ...names, params);
    const mac = hmac(this.hashAlg, this.#hmacKey(entity), cpHash, this.#nonceCaller, this.#nonceTPM, new Uint8Array([this.attributes]));
    return { sessionHandle: this.handle, nonce: this.#nonceCaller, sessionAttributes: this.attributes, hmac: mac };
  }

  verify(code: number, params: Uint8Array, auth: TpmsAuthResponse, entity: AuthEntity): void {
    this.#nonceTPM = auth.nonce;
    if (this.needPassword) {
      if (auth.hmac.length !== 0) throw new TssError("TSS_RESPONSE_HMAC", `session 0x${this.handle.toString(16)}: password policy response carries an HMAC`);
      return;
    }
    const rpHash = hash(this.hashAlg, u32be(0), u32be(code), params);
    const expected = hmac(this.hashAlg, this.#hmacKey(entity), rpHash, auth.nonce, this.#nonceCaller, new Uint8Array([auth.sessionAttributes]));
    if (!equalBytes(auth.hmac, expected)) {
      throw new TssError("TSS_RESPONSE_HMAC", `session 0x${this.handle.toString(16)}: the response HMAC does not verify; the response may have been altered`);
    }
    if ((auth.sessionAttributes & TPMA_SESSION.continueSession) === 0 && (this.#lastAttributes & TPMA_SESSION.continueSession) !== 0) {
      throw new TssError("TSS_RESPONSE_HMAC", `session 0x${this.handle.toString(16)}: the TPM dropped continueSession`);
    }
  }
}
