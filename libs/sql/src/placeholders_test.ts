import test from "ava";
import fc from "fast-check";
import { toSqlitePlaceholders } from "./_placeholders.ts";

test("$n becomes ?n outside literals, quoted identifiers and comments", (t) => {
  t.is(toSqlitePlaceholders("SELECT $1, $10 FROM t WHERE a = $2"), "SELECT ?1, ?10 FROM t WHERE a = ?2");
  t.is(toSqlitePlaceholders("SELECT '$1', 'it''s $2', \"$3\" -- $4\n, $5 /* $6 */"), "SELECT '$1', 'it''s $2', \"$3\" -- $4\n, ?5 /* $6 */");
  t.is(toSqlitePlaceholders("SELECT $ , $a, 'unterminated $1"), "SELECT $ , $a, 'unterminated $1");
});

test("property: text without placeholders is unchanged", (t) => {
  fc.assert(
    fc.property(fc.string(), (s) => {
      const noPlaceholders = s.replace(/\$(?=[0-9])/g, "");
      return toSqlitePlaceholders(noPlaceholders) === noPlaceholders;
    }),
  );
  t.pass();
});

test("property: every placeholder outside quotes is translated, and only the $ changes", (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.stringMatching(/^[a-z ,=()]*$/), fc.integer({ min: 1, max: 999 }))), (parts) => {
      const sql = parts.map(([text, n]) => `${text}$${n}`).join("");
      const expected = parts.map(([text, n]) => `${text}?${n}`).join("");
      return toSqlitePlaceholders(sql) === expected;
    }),
  );
  t.pass();
});
