/**
 * Waiting for a condition in tests without asserting a duration: poll until it holds, fail with what was awaited.
 * @module
 */

/**
 * Polls `check` until it returns a value other than undefined, and resolves with it. A `check` that throws is
 * polled again; after `limitMs` (a generous bound: a loaded machine is slow, not wrong) it rejects naming `what` and
 * the last error.
 * @example
 * ```ts
 * const status = await eventually("host green", async () => ((await getStatus()).state === "attested" ? true : undefined));
 * ```
 */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, limitMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + limitMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${limitMs} ms${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
