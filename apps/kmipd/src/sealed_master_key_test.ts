/**
 * The master key sealed to a TPM (a real swtpm): objects survive a restart, the data directory holds only
 * the sealed blob, and another TPM cannot open it.
 */
import test from "ava";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startSwtpm } from "@tessera/swtpm-testing";
import { KmipClient } from "@tessera/kmip-client";
import { loadConfig, startKmipd } from "./app.ts";

test("kmipd --master-key-tpm: keys survive a restart; no master key in the clear; another TPM cannot unseal", async (t) => {
  const sw = await startSwtpm();
  const other = await startSwtpm();
  const dir = await mkdtemp(path.join(os.tmpdir(), "kmipd-sealed-"));
  try {
    const args = ["--listen", "127.0.0.1:0", "--data-dir", dir, "--master-key-tpm", sw.tcti];
    let k = await startKmipd(loadConfig(args, {}));
    const g = k.generatedTls!;
    const tls = { cert: await readFile(g.clientCertFile, "utf8"), key: await readFile(g.clientKeyFile, "utf8"), ca: await readFile(g.caCertFile, "utf8") };
    let c = new KmipClient({ servers: [{ host: "127.0.0.1", port: k.server.port }], tls });
    const material = new Uint8Array(32).fill(0x5c);
    const id = await c.register({ objectType: "SymmetricKey", material });
    c.close();
    await k.close();
    t.false((await readdir(dir)).includes("master.key"), "no plain master key file");
    t.is((await stat(path.join(dir, "master.key.tpm"))).mode & 0o777, 0o600);
    k = await startKmipd(loadConfig(args, {}));
    c = new KmipClient({ servers: [{ host: "127.0.0.1", port: k.server.port }], tls });
    t.deepEqual((await c.get(id)).material, material);
    c.close();
    await k.close();
    await t.throwsAsync(startKmipd(loadConfig(["--listen", "127.0.0.1:0", "--data-dir", dir, "--master-key-tpm", other.tcti], {})), {
      message: /TPM_RC|Cannot|integrity|TSS/i,
    });
  } finally {
    await sw.stop();
    await other.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
