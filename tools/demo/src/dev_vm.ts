/**
 * The demo's last part: the developer's Trust Authority in one command (`tactl dev up`: kmipd, attestd, kmxd and a
 * measured-booted swtpm host with its agent, set up through the seven steps), and a VM's vTPM on that host (issue
 * #13): its EK certified by the Trust Authority's vTPM CA, its state encrypted under a data key of the trusted
 * provider; a guest secret written with tpm2-tools survives a stop and start, and is nowhere in vm.nvram.
 * @module
 */
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { say, step, tactl } from "./_cli.ts";

const SECRET = "demo-guest-secret-9d41";
const NV = "0x1500030";

function tpm2(tool: string, args: readonly string[], tcti: string, input?: string): string {
  say(`$ ${tool} ${args.map((a) => (/^[\w./:=,-]+$/.test(a) ? a : `'${a}'`)).join(" ")}`);
  const r = spawnSync(tool, [...args], { encoding: "utf8", env: { ...process.env, TPM2TOOLS_TCTI: tcti }, ...(input !== undefined ? { input } : {}) });
  if (r.status !== 0) throw new Error(`${tool} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Runs the part in `work/dev` and `work/vm`, stopping everything it started. */
export async function runDevVmDemo(work: string): Promise<void> {
  const dev = path.join(work, "dev");
  const vm = path.join(work, "vm");
  step("A developer's Trust Authority in one command: tactl dev up (kmipd, attestd, kmxd, a swtpm host and its agent, the seven steps)");
  try {
    const env = JSON.parse(tactl(["dev", "up", "--dir", dev, "--hosts", "1", "--json"], 0, true)) as {
      hosts: { name: string; agentSocket: string }[];
      keyProvider: string;
    };
    const host = env.hosts[0]!;
    say(`ready: ${host.name} green, its agent on ${host.agentSocket}, key provider ${env.keyProvider} its default`);
    tactl(["dev", "status", "--dir", dev]);

    step(`A VM on ${host.name} with a vTPM: its EK certified by the Trust Authority's vTPM CA, its state under a data key of ${env.keyProvider}`);
    const A = ["--agent", host.agentSocket];
    tactl(["vm", "create", "--dir", vm, "--name", "demo-vm"]);
    tactl(["vm", "add-vtpm", "--dir", vm, ...A]);
    const started = JSON.parse(tactl(["vm", "start", "--dir", vm, ...A, "--json"])) as { tcti: string };

    step("The guest writes a secret into its vTPM's NV; the vTPM is stopped, its state saved encrypted, started again");
    tpm2("tpm2_nvdefine", [NV, "-C", "o", "-s", String(SECRET.length), "-a", "ownerread|ownerwrite"], started.tcti);
    tpm2("tpm2_nvwrite", [NV, "-C", "o", "-i", "-"], started.tcti, SECRET);
    tactl(["vm", "stop", "--dir", vm, ...A]);
    const nvram = await readFile(path.join(vm, "vm.nvram"));
    if (nvram.includes(Buffer.from(SECRET))) throw new Error("vm.nvram holds the secret in the clear");
    say(`vm.nvram: ${nvram.length} bytes, an envelope (${nvram.subarray(0, 4).toString()}); the secret is not in it`);
    tactl(["vm", "describe", "--dir", vm]);
    tactl(["vm", "start", "--dir", vm, ...A]);
    const back = tpm2("tpm2_nvread", [NV, "-C", "o", "-s", String(SECRET.length)], started.tcti);
    if (back !== SECRET) throw new Error(`tpm2_nvread gave ${JSON.stringify(back)}`);
    say(`the guest reads its secret back: ${back}`);
    tactl(["vm", "stop", "--dir", vm, ...A]);
  } finally {
    spawnSync(process.execPath, [path.resolve(import.meta.dirname, "../../../apps/tactl/src/main.ts"), "dev", "down", "--dir", dev], { stdio: "ignore" });
  }
}
