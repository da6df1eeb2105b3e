// The write handler of writer_thread_test.ts: inserts a row; a row named "bad" breaks a constraint.
import type { Db } from "../types.ts";

export async function insertRow(tx: Db, op: { name: string; n: number }): Promise<number> {
  await tx.run("INSERT INTO t (name, n) VALUES ($1, $2)", [op.name, op.name === "bad" ? null : op.n]);
  return op.n * 2;
}
