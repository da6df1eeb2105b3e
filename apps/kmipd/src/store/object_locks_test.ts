import test from "ava";
import { KeyedLock, ObjectBusyError } from "./object_locks.ts";

test("KeyedLock: one holder per key, waiters served first come first served, others keys free", async (t) => {
  const locks = new KeyedLock();
  const order: number[] = [];
  const r0 = await locks.acquire("a", 1_000);
  const waiters = [1, 2, 3].map((n) => locks.acquire("a", 1_000).then((r) => (order.push(n), r)));
  (await locks.acquire("b", 10))();
  await new Promise((r) => setImmediate(r));
  t.deepEqual(order, []);
  r0();
  for (const w of waiters) (await w)();
  t.deepEqual(order, [1, 2, 3]);
  t.false(locks.isHeld("a"));
});

test("KeyedLock: a waiter gives up after its timeout with ObjectBusyError, and leaves the queue", async (t) => {
  const locks = new KeyedLock();
  const r0 = await locks.acquire("k", 1_000);
  const e = await t.throwsAsync(locks.acquire("k", 20), { instanceOf: ObjectBusyError });
  t.is(e?.id, "k");
  const later = locks.acquire("k", 1_000);
  r0();
  r0();
  (await later)();
  t.false(locks.isHeld("k"), "the timed-out waiter did not take the lock later");
});
