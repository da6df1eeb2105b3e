/**
 * What an operation handler gets: who is asking (the client certificate's subject), the protocol version,
 * the store and keyring, the clock, and the batch's ID placeholder.
 * @module
 */
import type { KmipVersion, Ttlv } from "@tessera/kmip";
import type { Keyring } from "@tessera/service";
import type { Store } from "./store/store.ts";

/** Per-request context of an operation. */
export interface OpContext {
  identity: string;
  version: KmipVersion;
  store: Store;
  keyring: Keyring;
  now(): Date;
  /** The batch's ID placeholder: the Unique Identifier the previous operation produced. */
  idPlaceholder: string | undefined;
  /** Objects created by this batch item (set by the handler, for the audit log and the ID placeholder). */
  objectIds: string[];
  /** Steps that undo this batch's writes, newest last (Batch Error Continuation Option Undo). */
  undo: (() => Promise<void>)[];
  /**
   * Holds object `id` against changes by other requests until this request message has been answered (its
   * writes durable, an Undo done). Every read-modify-write of an object takes it before the read.
   */
  lock(id: string): Promise<void>;
}

/** An operation handler: request payload in, response payload children out. Throws OperationError. */
export type Handler = (ctx: OpContext, payload: Ttlv | undefined) => Promise<Ttlv[]>;
