/** The errors' stable codes, names, fields and causes, and the servers list of the unreachable error. */
import test from "ava";
import { KmipTransportError } from "@tessera/kmip";
import { KeyProviderConfigError, KeyServersUnreachableError, ProviderKeyError, TrustSetupError, WrappedKeyError } from "./errors.ts";
import { serversTried } from "./_kmip_faults.ts";

test("each error has its stable code, name, field and cause", (t) => {
  const cause = new Error("under");
  const w = new WrappedKeyError("kv", "bad", { cause });
  t.like(w, { code: "WRAPPED_MALFORMED", name: "WrappedKeyError", field: "kv", cause, message: "Cannot read the wrapped key: kv: bad" });
  t.like(new ProviderKeyError("UNWRAP_FAILED", "m", { cause }), { code: "UNWRAP_FAILED", name: "ProviderKeyError", cause });
  t.like(new TrustSetupError("CERT_EXPIRED", "m"), { code: "CERT_EXPIRED", name: "TrustSetupError" });
  t.like(new KeyProviderConfigError("burst", "bad"), { code: "CONFIG_INVALID", field: "burst", message: "burst: bad" });
  const u = new KeyServersUnreachableError(["a:1: refused", "b:2: timeout"]);
  t.like(u, { code: "KEY_SERVERS_UNREACHABLE", name: "KeyServersUnreachableError", message: "No key server could be reached: a:1: refused; b:2: timeout" });
  t.deepEqual(u.servers, ["a:1: refused", "b:2: timeout"]);
  for (const e of [w, u]) t.true(e instanceof Error);
});

test("serversTried reads each server's failure from the client's KmipTransportError", (t) => {
  const one = new KmipTransportError("no KMIP server answered: …", { cause: new KmipTransportError("KMIP server h:1: connect ECONNREFUSED") });
  t.deepEqual(serversTried(one), ["h:1: connect ECONNREFUSED"]);
  const many = new KmipTransportError("no KMIP server answered: …", {
    cause: new AggregateError([
      new KmipTransportError("KMIP server h:1: refused"),
      new KmipTransportError("KMIP server [::1]:2: no TLS connection within 3000 ms"),
      new Error("other"),
    ]),
  });
  t.deepEqual(serversTried(many), ["h:1: refused", "[::1]:2: no TLS connection within 3000 ms", "other"]);
  t.deepEqual(serversTried(new KmipTransportError("the KMIP client is closed")), ["the KMIP client is closed"]);
});
