/**
 * `attestd --workers N` (workers.ts): the primary bootstraps once and N worker processes serve one socket; a
 * challenge issued by one worker is spent once for all of them (the store decides), and SIGTERM stops every worker.
 */
import test from "ava";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "./_test_support.ts";

const BIN = fileURLToPath(new URL("../bin/attestd", import.meta.url));

/** The ids of `pid`'s child processes (all threads'), from /proc. */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .split(" ")
      .filter((x) => x !== "")
      .map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("--workers 2: two serving processes on one port; a nonce is single-use across them; SIGTERM stops them all", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "attestd-workers-"));
  const child = spawn(BIN, ["--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "silent", "--workers", "2"], { stdio: ["ignore", "pipe", "pipe"] });
  const closed = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  try {
    let out = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        const m = /listening on (https:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.once("close", (code) => reject(new Error(`attestd exited ${String(code)}: ${out}`)));
    });
    t.regex(out, /2 workers/);
    t.is(out.match(/created account "admin"/g)?.length, 1, "the admin account is announced once, by the primary");
    const workers = children(child.pid!);
    t.is(workers.length, 2, `worker processes of ${child.pid}: ${workers.join(", ")}`);
    const ca = await readFile(path.join(dir, "tls", "ca.pem"), "utf8");

    // Every request on its own connection: the primary hands connections to the workers in turn.
    const issued = await request(`${url}/api/v1/hosts/w.example.test/challenges`, "POST", undefined, ca);
    t.is(issued.status, 201);
    const nonce = (issued.json as { nonce: string }).nonce;
    const body = { nonce, quote: "AA==", signature: "AA==", pcrs: {}, eventLog: "AA==" };
    const first = await request(`${url}/api/v1/hosts/w.example.test/attestations`, "POST", body, ca);
    t.is(first.status, 403);
    t.regex(JSON.stringify(first.json), /ak-not-enrolled/, "the live nonce was spent on an unenrolled host");
    // Spent: whichever worker is asked (a worker that did not share the store would say nonce-unknown).
    for (let i = 0; i < 6; i++) {
      const again = await request(`${url}/api/v1/hosts/w.example.test/attestations`, "POST", body, ca);
      t.is(again.status, 403);
      t.regex(JSON.stringify(again.json), /nonce-reused/, `attempt ${i + 1}: ${JSON.stringify(again.json)}`);
    }
    // A challenge from each of several connections: each worker issues nonces the others know.
    for (let i = 0; i < 4; i++) {
      const c = await request(`${url}/api/v1/hosts/w.example.test/challenges`, "POST", undefined, ca);
      const n = (c.json as { nonce: string }).nonce;
      const a = await request(`${url}/api/v1/hosts/w.example.test/attestations`, "POST", { ...body, nonce: n }, ca);
      t.regex(JSON.stringify(a.json), /ak-not-enrolled/, `challenge ${i + 1}`);
    }

    child.kill("SIGTERM");
    t.is(await closed, 0);
    t.deepEqual(
      workers.filter((w) => alive(w)),
      [],
      "no worker outlives the primary",
    );
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await closed;
    await rm(dir, { recursive: true, force: true });
  }
});
