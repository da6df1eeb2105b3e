/**
 * `tactl dev up|status|down`: a swtpm-backed development environment on loopback (see dev_up.ts, dev_down.ts).
 * @module
 */
import path from "node:path";
import type { CommandSpec, Io } from "../cli.ts";
import { devDown, devStatus } from "../dev_down.ts";
import { DevError } from "../dev_errors.ts";
import { devUp } from "../dev_up.ts";
import { EXIT } from "../errors.ts";
import { plain, shortTime, statusWord, table } from "../ta_format.ts";

type Values = Record<string, string | boolean | undefined>;

// Bad input or a directory that cannot be used: exit 2; a host that did not turn green: 1; a process or
// transport failure: 3.
const INPUT = new Set(["DEV_USAGE", "DEV_DIR_IN_USE", "DEV_DIR_NOT_EMPTY", "DEV_NO_ENV", "DEV_ENV_INVALID", "DEV_SOCKET_PATH", "DEV_TOOL_MISSING", "DEV_REPO_NOT_FOUND"]);

/** Runs `fn`, reporting a DevError as one line `tactl dev <cmd>: <code>: <message>` with its exit code. */
async function reported(cmd: string, io: Io, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof DevError)) throw e;
    io.stderr(`tactl dev ${cmd}: ${e.code}: ${e.message}\n`);
    return INPUT.has(e.code) ? EXIT.USAGE : e.code === "DEV_NOT_GREEN" || e.code === "DEV_STEP" ? EXIT.REFUSED : EXIT.TPM;
  }
}

function dirOf(v: Values): string {
  return String(v.dir);
}

async function up(v: Values, io: Io): Promise<number> {
  return reported("up", io, async () => {
    const hosts = Number(v.hosts ?? "2");
    if (!/^\d+$/.test(String(v.hosts ?? "2"))) throw new DevError("DEV_USAGE", `--hosts "${String(v.hosts)}" is not a number`);
    const env = await devUp({ dir: dirOf(v), hosts, progress: (line) => (v.json ? io.stderr : io.stdout)(`dev: ${line}\n`) });
    if (v.json) {
      io.stdout(JSON.stringify(env, null, 2) + "\n");
      return EXIT.OK;
    }
    io.stdout(
      [
        `attestd  ${env.attestd}`,
        `kmxd     ${env.kmxd}`,
        `kmipd    ${env.kmipd}`,
        `CA       ${env.ca}`,
        `admin    user admin, password in ${env.adminPasswordFile}`,
        `provider ${env.keyProvider}`,
        `logs     ${path.join(path.dirname(env.ca), "logs")}`,
        ...env.hosts.map((h) => `${h.name.padEnd(8)} ${h.tcti}  agent ${h.agentSocket} and ${h.agentUrl}`),
        `sign in: tactl ta login --server ${env.attestd} --ca ${env.ca} --user admin --password-file ${env.adminPasswordFile}`,
        `stop:    tactl dev down --dir ${dirOf(v)}`,
        "",
      ].join("\n"),
    );
    return EXIT.OK;
  });
}

async function status(v: Values, io: Io): Promise<number> {
  return reported("status", io, async () => {
    const s = await devStatus(dirOf(v));
    const allUp = s.processes.every((p) => p.alive);
    const allGreen = s.hosts !== undefined && s.env.hosts.every((h) => s.hosts!.some((x) => x.host === h.name && x.status === "green"));
    if (v.json) {
      io.stdout(JSON.stringify(s, null, 2) + "\n");
    } else {
      const colour = io.colour === true;
      if (s.hosts !== undefined) {
        io.stdout(
          table(
            ["HOST", "STATUS", "LAST ATTEMPT", "IMAGE", "MESSAGE"],
            s.hosts.map((h) => [plain(h.host), statusWord(String(h.status), colour), shortTime(h.lastAttempt), h.image ? `${h.image.name} ${h.image.version}` : "-", plain(h.message)]),
          ),
        );
      } else {
        io.stdout(`attestd did not answer: ${s.attestdError}\n`);
      }
      io.stdout("\n" + table(["PROCESS", "PID", "STATE", "LOG"], s.processes.map((p) => [p.name, String(p.pid), p.alive ? "running" : "stopped", p.log])));
    }
    // Exit 1 when something is not as `dev up` left it: a process stopped, or a host not green.
    return allUp && allGreen ? EXIT.OK : EXIT.REFUSED;
  });
}

async function down(v: Values, io: Io): Promise<number> {
  return reported("down", io, async () => {
    const r = await devDown(dirOf(v));
    if (v.json) io.stdout(JSON.stringify({ stopped: r.stopped.map((p) => ({ name: p.name, pid: p.pid })), gone: r.gone.map((p) => ({ name: p.name, pid: p.pid })) }, null, 2) + "\n");
    else io.stdout(`stopped ${r.stopped.length} process${r.stopped.length === 1 ? "" : "es"}${r.stopped.length > 0 ? ` (${r.stopped.map((p) => p.name).join(", ")})` : ""}${r.gone.length > 0 ? `; ${r.gone.length} had ended already` : ""}\n`);
    return EXIT.OK;
  });
}

/** The `tactl dev` commands. */
export const DEV_COMMANDS: CommandSpec[] = [
  {
    path: ["dev", "up"],
    summary: "start a swtpm dev environment on loopback (kmipd, attestd, kmxd, N measured-booted swtpm hosts with kmxa), set it up, wait until green",
    usage:
      "--dir D [--hosts N] [--json]\n  --hosts: how many swtpm hosts (1-16, default 2)\n  D/env.json: attestd, kmxd, kmipd, ca, adminPasswordFile, keyProvider, hosts[{name, tcti, agentSocket, agentUrl}]; logs in D/logs",
    options: { dir: { type: "string" }, hosts: { type: "string" }, json: { type: "boolean" } },
    required: ["dir"],
    run: up,
  },
  {
    path: ["dev", "status"],
    summary: "a dev environment's fleet (attestd's host statuses) and its processes; exit 1 when a process stopped or a host is not green",
    usage: "--dir D [--json]",
    options: { dir: { type: "string" }, json: { type: "boolean" } },
    required: ["dir"],
    run: status,
  },
  {
    path: ["dev", "down"],
    summary: "stop every process `tactl dev up` started (by pid: SIGTERM, then SIGKILL) and wait until none is left",
    usage: "--dir D [--json]",
    options: { dir: { type: "string" }, json: { type: "boolean" } },
    required: ["dir"],
    run: down,
  },
];
