/**
 * Zod issues as text that names the field.
 * @module
 */
import type { z } from "zod";

/** A zod issue path as `a.b[0].c` (`(root)` for the value itself). */
export function fieldPath(path: readonly PropertyKey[]): string {
  let s = "";
  for (const p of path) {
    if (typeof p === "number") s += `[${p}]`;
    else if (typeof p === "string" && /^[A-Za-z_$][\w$-]*$/.test(p)) s += s ? `.${p}` : p;
    else s += `[${JSON.stringify(String(p))}]`;
  }
  return s || "(root)";
}

/** Every issue as `{ path, message }`, and a one-line detail naming the first. */
export function describeZodError(error: z.ZodError, what: string): { detail: string; errors: { path: string; message: string }[] } {
  const errors = error.issues.map((i) => ({ path: fieldPath(i.path), message: i.message }));
  const first = errors[0] ?? { path: "(root)", message: "invalid" };
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
  return { detail: `${what} field ${first.path}: ${first.message}${more}`, errors };
}
