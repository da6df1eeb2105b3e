/**
 * The kernel TPM device (`/dev/tpmrm0` resource manager or raw `/dev/tpm0`) or anything that behaves
 * like it (a pseudo-terminal bridged to swtpm): write one whole command, read one whole response,
 * one command in flight.
 * @module
 */
import { open, type FileHandle } from "node:fs/promises";
import { constants } from "node:fs";
import { TssError } from "./errors.ts";
import { tpmResponseLength } from "./socket_transport.ts";
import { MAX_RESPONSE_SIZE, Serializer, type Transport, type TransportOptions } from "./transport.ts";

/** A transport over a TPM character device. */
export class DeviceTransport implements Transport {
  readonly description: string;
  readonly #path: string;
  readonly #timeoutMs: number;
  readonly #queue = new Serializer();
  #fh: FileHandle | undefined;
  #closed = false;
  #broken: string | undefined;

  /** @param path device path, e.g. `/dev/tpmrm0` */
  constructor(path: string, options: TransportOptions = {}) {
    this.#path = path;
    this.description = `device:${path}`;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
  }

  async #handle(): Promise<FileHandle> {
    if (this.#fh) return this.#fh;
    try {
      this.#fh = await open(this.#path, constants.O_RDWR | constants.O_NOCTTY);
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
        throw new TssError("TSS_TPM_ABSENT", `${this.description}: permission denied (add the user to the tss group)`, { cause: e });
      }
      throw new TssError("TSS_IO", `${this.description}: cannot open (${err.code ?? err.message})`, { cause: e });
    }
  }

  /** Writes the command and reads until the response's declared size has arrived. */
  send(command: Uint8Array): Promise<Uint8Array> {
    return this.#queue.run(async () => {
      if (this.#closed) throw new TssError("TSS_CLOSED", `${this.description}: transport is closed`);
      if (this.#broken) throw new TssError("TSS_IO", `${this.description}: unusable after an earlier failure (${this.#broken}); open a new transport`);
      const fh = await this.#handle();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TssError("TSS_TIMEOUT", `${this.description}: no response within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      });
      try {
        return await Promise.race([this.#exchange(fh, command), timeout]);
      } catch (e) {
        // A timed-out or broken exchange leaves a read pending on this descriptor that would swallow the next
        // response: this transport is finished. A new transport opens a new descriptor.
        this.#fh = undefined;
        this.#broken = e instanceof Error ? e.message : String(e);
        fh.close().catch(() => undefined);
        if (e instanceof TssError) throw e;
        const err = e as NodeJS.ErrnoException;
        throw new TssError(err.code === "EBUSY" ? "TSS_TPM_BUSY" : "TSS_IO", `${this.description}: ${err.code ?? err.message}`, { cause: e });
      } finally {
        clearTimeout(timer);
      }
    });
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

  /** Closes the device. */
  async close(): Promise<void> {
    this.#closed = true;
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close().catch(() => undefined);
  }
}
