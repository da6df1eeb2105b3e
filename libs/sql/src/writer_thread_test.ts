import test from "ava";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { openSqlite } from "./open_sqlite.ts";
import { SqlError } from "./errors.ts";
import { inLoopWriter, sqliteWriterThread } from "./writer_thread.ts";
import { insertRow } from "./testdata/writer_handler.ts";

const HANDLER = new URL("./testdata/writer_handler.ts", import.meta.url);

async function database(t: import("ava").ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "sql-writer-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, "w.db");
  const db = await openSqlite(file);
  await db.exec("CREATE TABLE t (name TEXT PRIMARY KEY, n INTEGER NOT NULL)");
  await db.close();
  return file;
}

test("the writer thread: each write resolves with its result once committed (seen by another connection); a bad write fails alone", async (t) => {
  const file = await database(t);
  const writer = await sqliteWriterThread<{ name: string; n: number }>(file, HANDLER, "insertRow");
  const ops = Array.from({ length: 50 }, (_, i) => ({ name: `r${i}`, n: i }));
  const results = await Promise.allSettled([...ops.map((op) => writer.run(op)), writer.run({ name: "bad", n: 0 }), writer.run({ name: "r1", n: 9 })]);
  t.deepEqual(
    results.slice(0, 50).map((r) => (r.status === "fulfilled" ? r.value : r.reason)),
    ops.map((op) => op.n * 2),
  );
  t.is(results[50]?.status, "rejected", "NOT NULL broken");
  t.true(results[50]?.status === "rejected" && results[50].reason instanceof SqlError);
  t.is(results[51]?.status, "rejected", "the duplicate key");
  const reader = await openSqlite(file);
  t.is((await reader.query<{ c: number }>("SELECT count(*) AS c FROM t"))[0]?.c, 50);
  await reader.close();
  await writer.close();
  await t.throwsAsync(writer.run({ name: "late", n: 1 }), { message: /closed/ });
});

test("a handler module without the export, or a file that cannot be opened, fails the start naming it", async (t) => {
  const file = await database(t);
  await t.throwsAsync(sqliteWriterThread(file, HANDLER, "noSuchExport"), { message: /exports no function noSuchExport/ });
  await t.throwsAsync(sqliteWriterThread(path.join(path.dirname(file), "missing", "x.db"), HANDLER, "insertRow"), { message: /cannot start on/ });
});

test("inLoopWriter: the same results through the group commit on this thread", async (t) => {
  const file = await database(t);
  const db = await openSqlite(file);
  const writer = inLoopWriter(db, insertRow);
  t.deepEqual(await Promise.all([writer.run({ name: "a", n: 1 }), writer.run({ name: "b", n: 2 })]), [2, 4]);
  await t.throwsAsync(writer.run({ name: "bad", n: 0 }), { instanceOf: SqlError });
  await writer.close();
  t.is((await db.query<{ c: number }>("SELECT count(*) AS c FROM t"))[0]?.c, 2);
  await db.close();
});

/** Runs `node ...args` (this Node) with `env` added, resolving with its stdout; rejects with its stderr on a non-zero exit. */
function node(args: readonly string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`node exited ${code}: ${err}`))));
  });
}

test("the writer thread starts under an operator's V8 flags (which Node refuses in a Worker's explicit execArgv), from a file and from node -e", async (t) => {
  const file = await database(t);
  const script = `
    import { sqliteWriterThread } from ${JSON.stringify(new URL("./writer_thread.ts", import.meta.url).href)};
    const writer = await sqliteWriterThread(process.env.DB, new URL(${JSON.stringify(HANDLER.href)}), "insertRow");
    process.stdout.write(String(await writer.run({ name: process.env.ROW, n: 21 })));
    await writer.close();
  `;
  const scriptFile = path.join(path.dirname(file), "start.mjs");
  await writeFile(scriptFile, script);
  const v8Flags = ["--max-old-space-size=256", "--max-semi-space-size=8", "--single-threaded-gc"];
  const run = (row: string, args: readonly string[]) => node(args, { DB: file, ROW: row });
  t.is(await run("from-file", [...v8Flags, scriptFile]), "42");
  t.is(await run("from-eval", [...v8Flags, "--input-type=module", "-e", script]), "42");
  t.is(await run("plain-eval", ["--input-type=module", "-e", script]), "42");
  const db = await openSqlite(file);
  t.deepEqual(await db.query("SELECT name FROM t ORDER BY name"), [{ name: "from-eval" }, { name: "from-file" }, { name: "plain-eval" }]);
  await db.close();
});
