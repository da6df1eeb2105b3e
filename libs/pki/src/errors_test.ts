import test from "ava";
import { PKI_ERROR_CODES, PkiError } from "./errors.ts";

test("PkiError carries code, subject and cause", (t) => {
  const cause = new Error("inner");
  const error = new PkiError("PKI_EXPIRED", 'Certificate "CN=a" expired', {
    cause,
    subject: "CN=a",
  });
  t.true(error instanceof Error);
  t.is(error.name, "PkiError");
  t.is(error.code, "PKI_EXPIRED");
  t.is(error.subject, "CN=a");
  t.is(error.cause, cause);
  t.deepEqual([...PKI_ERROR_CODES], ["PKI_PARSE", "PKI_CHAIN", "PKI_KEY", "PKI_EXPIRED", "PKI_PROFILE"]);
  t.false("cause" in new PkiError("PKI_PARSE", "x"));
});
