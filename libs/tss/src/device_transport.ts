/**
 * The kernel TPM device (`/dev/tpmrm0` resource manager or raw `/dev/tpm0`) or anything that behaves
 * like it (a pseudo-terminal bridged to swtpm): write one whole command, read one whole response,
 * one command in flight.
 * @module
 */
import { open, type FileHandle } from "node:fs/promises";
import { constants } from "node:fs";
import { ExchangeQueue } from "./_exchange.ts";
import { TssError } from "./errors.ts";
import { tpmResponseLength } from "./socket_transport.ts";
import { timeoutFor } from "./timeouts.ts";
import { MAX_RESPONSE_SIZE, type SendOptions, type Transport, type TransportOptions } from "./transport.ts";

/** Options of {@link DeviceTransport}. */
export interface DeviceTransportOptions extends TransportOptions {
  /** Opens the device (default `fs/promises.open`); lets embedders wrap or instrument the open. */
  openFile?: (path: string, flags: number) => Promise<FileHandle>;
}

/**
 * A transport over a TPM character device. The answer of a command that timed out or was aborted is
 * read and discarded before the next command is written. After a failed read/write (the device was
 * closed under it, EOF, EIO), or when that late answer does not come within the next command's timeout,
 * the state of the descriptor is unknown: the transport closes it, counts up
 * {@link DeviceTransport.epoch} and opens the device again on the next command. Behind
 * /dev/tpmrm0 that loses the transient objects and sessions of the old descriptor; a {@link Tpm}
 * notices the new epoch and reports them.
 */
export class DeviceTransport implements Transport {
  readonly description: string;
  readonly #path: string;
  readonly #options: DeviceTransportOptions;
  readonly #queue: ExchangeQueue;
  readonly #open: (path: string, flags: number) => Promise<FileHandle>;
  #fh: FileHandle | undefined;
  #closed = false;
  #epoch = 0;

  /** @param path device path, e.g. `/dev/tpmrm0` */
  constructor(path: string, options: DeviceTransportOptions = {}) {
    this.#path = path;
    this.description = `device:${path}`;
    this.#options = options;
    this.#open = options.openFile ?? open;
    this.#queue = new ExchangeQueue(this.description, { wedged: () => this.#drop() });
  }

  /** How many times the descriptor was dropped after a timeout or failure (see {@link Transport.epoch}). */
  get epoch(): number {
    return this.#epoch;
  }

  async #handle(): Promise<FileHandle> {
    if (this.#fh) return this.#fh;
    try {
      this.#fh = await this.#open(this.#path, constants.O_RDWR | constants.O_NOCTTY);
      return this.#fh;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === "ENOENT" || err.code === "ENODEV" || err.code === "ENXIO") {
        throw new TssError("TSS_TPM_ABSENT", `${this.description}: no TPM device (${err.code})`, { cause: e });
      }
      if (err.code === "EBUSY") {
        throw new TssError("TSS_TPM_BUSY", `${this.description}: the device is in use by another process (EBUSY); use /dev/tpmrm0 or stop the other user`, {
          cause: e,
        });
      }
      if (err.code === "EACCES" || err.code === "EPERM") {
        throw new TssError(
          "TSS_PERMISSION",
          `${this.description}: permission denied opening ${this.#path} for reading and writing (${err.code}); ` +
            `add the user to the group that owns it (usually "tss": usermod -aG tss USER, then log in again) or check its mode and SELinux/AppArmor policy`,
          { cause: e },
        );
      }
      throw new TssError("TSS_IO", `${this.description}: cannot open (${err.code ?? err.message})`, { cause: e });
    }
  }

  /** Drops the descriptor after a failure, or when a late answer never came; the next command opens the device again. */
  #drop(): void {
    const fh = this.#fh;
    if (!fh) return;
    this.#fh = undefined;
    this.#epoch++;
    // A read may still be pending on the old descriptor (it will swallow the late answer): do not wait for it.
    fh.close().catch(() => undefined);
  }

  /** Writes the command and reads until the response's declared size has arrived. */
  send(command: Uint8Array, options: SendOptions = {}): Promise<Uint8Array> {
    return this.#queue.run(
      async () => {
        if (this.#closed) throw new TssError("TSS_CLOSED", `${this.description}: transport is closed`);
        const fh = await this.#handle();
        try {
          return await this.#exchange(fh, command);
        } catch (e) {
          // The descriptor is in an unknown state (closed under us, EOF, EIO, a malformed answer).
          if (fh === this.#fh) this.#drop();
          if (e instanceof TssError) throw e;
          const err = e as NodeJS.ErrnoException;
          throw new TssError(err.code === "EBUSY" ? "TSS_TPM_BUSY" : "TSS_IO", `${this.description}: ${err.code ?? err.message}`, { cause: e });
        }
      },
      timeoutFor(command, this.#options, options.timeoutMs),
      options.signal,
    );
  }

  async #exchange(fh: FileHandle, command: Uint8Array): Promise<Uint8Array> {
    let off = 0;
    while (off < command.length) off += (await fh.write(command, off, command.length - off)).bytesWritten;
    const buf = new Uint8Array(MAX_RESPONSE_SIZE);
    let len = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, len, buf.length - len, null);
      if (bytesRead === 0) throw new TssError("TSS_IO", `${this.description}: end of file after ${len} bytes of the response`);
      len += bytesRead;
      const want = tpmResponseLength(buf, len);
      if (Number.isNaN(want) || want > MAX_RESPONSE_SIZE) throw new TssError("TSS_IO", `${this.description}: response header declares an impossible size`);
      if (want >= 0 && len >= want) {
        if (len > want) throw new TssError("TSS_IO", `${this.description}: ${len - want} bytes more than the response declared`);
        return buf.slice(0, want);
      }
    }
  }

  /** Closes the device (without waiting for a late answer still pending on it). */
  async close(): Promise<void> {
    this.#closed = true;
    const fh = this.#fh;
    this.#fh = undefined;
    // FileHandle.close() waits for pending reads: a late answer that never comes would hold it for ever.
    const closing = fh?.close().catch(() => undefined);
    if (!this.#queue.awaitingLateAnswer) await closing;
  }
}
