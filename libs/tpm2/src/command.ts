/**
 * Commands as data (after go-tpm): a command is its code, the roles of its handles, a parameter
 * schema and a response schema. This module frames and unframes commands and responses; the
 * procedural parts (sessions, HMACs, transports) live in @tessera/tss, which runs any command
 * declared here through one generic `execute`.
 * @module
 */
import { commandName, TPM_ST } from "./constants.ts";
import { TpmResponseError } from "./errors.ts";
import { type Codec, decodeFault, decoding, type Infer, marshal, reader, struct, type StructOf, u16, u32, type UnionField, written, writer } from "./schema.ts";
import { TPMS_AUTH_COMMAND, TPMS_AUTH_RESPONSE, type TpmsAuthCommand, type TpmsAuthResponse } from "./structures.ts";

/** Whether a handle needs an authorization session (Part 3's "Auth Index" / "Auth Role"). */
export type HandleRole = "auth" | "noauth";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fields = Record<string, Codec<any> | UnionField<any>>;

/** A TPM command declared as data. `P` is the parameter value type, `R` the response value type. */
export interface Command<H extends string, P, R> {
  /** TPM_CC. */
  readonly code: number;
  /** Specification name, e.g. `TPM2_Quote`. */
  readonly name: string;
  /** Handles in order, with whether each needs authorization. */
  readonly handles: readonly { readonly name: H; readonly auth: boolean }[];
  /** Parameter schema (the bytes after the handles and the authorization area). */
  readonly params: Codec<P>;
  /** Name of the handle the response returns, if any (e.g. `objectHandle`). */
  readonly responseHandle: string | undefined;
  /** Response parameter schema. */
  readonly response: Codec<R>;
}

/** Declares a command. */
export function command<H extends Record<string, HandleRole>, PF extends Fields, RF extends Fields>(
  code: number,
  def: { handles?: H; params?: PF; responseHandle?: string; response?: RF },
): Command<Extract<keyof H, string>, StructOf<PF>, StructOf<RF>> {
  const name = commandName(code);
  return {
    code,
    name,
    handles: Object.entries(def.handles ?? {}).map(([n, role]) => ({ name: n as Extract<keyof H, string>, auth: role === "auth" })),
    params: struct(`${name} parameters`, def.params ?? ({} as PF)),
    responseHandle: def.responseHandle,
    response: struct(`${name} response`, def.response ?? ({} as RF)),
  };
}

/** Handle names of a command. */
export type HandlesOf<C> = C extends Command<infer H, unknown, unknown> ? H : never;
/** Parameter value type of a command. */
export type ParamsOf<C> = C extends Command<string, infer P, unknown> ? P : never;
/** Response value type of a command. */
export type ResponseOf<C> = C extends Command<string, unknown, infer R> ? R : never;

/** Marshals a command's parameters (the part of cpHash after the handle names). */
export function marshalParams<P>(cmd: Command<string, P, unknown>, params: P): Uint8Array {
  return marshal(cmd.params, params);
}

/** Frames a command: header, handles, optional authorization area (TPMS_AUTH_COMMAND list), parameters. */
export function frameCommand(code: number, handles: readonly number[], params: Uint8Array, auths?: readonly TpmsAuthCommand[]): Uint8Array {
  const w = writer(64 + params.length);
  const sessions = auths !== undefined && auths.length > 0;
  u16.write(w, sessions ? TPM_ST.SESSIONS : TPM_ST.NO_SESSIONS);
  u32.write(w, 0); // size, patched below
  u32.write(w, code);
  for (const h of handles) u32.write(w, h);
  if (sessions) {
    const at = w.pos;
    u32.write(w, 0);
    for (const a of auths) TPMS_AUTH_COMMAND.write(w, a);
    w.view.setUint32(at, w.pos - at - 4);
  }
  const out = written(w);
  const full = new Uint8Array(out.length + params.length);
  full.set(out);
  full.set(params, out.length);
  new DataView(full.buffer).setUint32(2, full.length);
  return full;
}

/** A response split into its parts; `parameters` are the raw response parameter bytes (rpHash input). */
export interface ResponseFrame {
  /** TPM_ST_SESSIONS or TPM_ST_NO_SESSIONS. */
  tag: number;
  /** The response code (0 on success). */
  rc: number;
  /** The returned handle, for commands that return one. */
  handle: number | undefined;
  /** Raw response parameters. */
  parameters: Uint8Array;
  /** One TPMS_AUTH_RESPONSE per session of the command. */
  auths: TpmsAuthResponse[];
}

/**
 * Splits a response. A non-zero response code throws {@link TpmResponseError} naming the command; malformed
 * bytes throw a TpmDecodeError naming `<command> response`.
 */
export function parseResponse(cmd: Command<string, unknown, unknown>, bytes: Uint8Array): ResponseFrame {
  return decoding(`${cmd.name} response`, () => {
    const r = reader(bytes);
    const tag = u16.read(r);
    const size = u32.read(r);
    if (size !== bytes.length) decodeFault(r, `header size ${size} does not match the ${bytes.length} bytes received`);
    const rc = u32.read(r);
    if (rc !== 0) {
      if (bytes.length !== 10) decodeFault(r, `error response carries ${bytes.length - 10} unexpected bytes`);
      throw new TpmResponseError(rc, cmd.name);
    }
    if (tag !== TPM_ST.SESSIONS && tag !== TPM_ST.NO_SESSIONS) decodeFault(r, `tag 0x${tag.toString(16)} is not TPM_ST_SESSIONS or TPM_ST_NO_SESSIONS`);
    const handle = cmd.responseHandle ? u32.read(r) : undefined;
    let parameters: Uint8Array;
    const auths: TpmsAuthResponse[] = [];
    if (tag === TPM_ST.SESSIONS) {
      const paramSize = u32.read(r);
      if (paramSize > r.end - r.pos) decodeFault(r, `parameterSize ${paramSize} exceeds ${r.end - r.pos} remaining`);
      parameters = bytes.subarray(r.pos, r.pos + paramSize);
      r.pos += paramSize;
      while (r.pos < r.end) auths.push(TPMS_AUTH_RESPONSE.read(r));
    } else {
      parameters = bytes.subarray(r.pos);
    }
    return { tag, rc, handle, parameters, auths };
  });
}

/** Unmarshals a response's parameters with the command's response schema. */
export function unmarshalResponse<R>(cmd: Command<string, unknown, R>, parameters: Uint8Array): R {
  return decoding(`${cmd.name} response`, () => {
    const r = reader(parameters);
    const v = cmd.response.read(r);
    if (r.pos !== r.end) decodeFault(r, `${r.end - r.pos} trailing bytes after the response parameters`);
    return v;
  });
}

/** Type of a codec's value (re-exported for command users). */
export type { Infer };
