import test from "ava";
import { z } from "zod";
import { parseConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";

const Config = z.object({
  listen: z.object({ host: z.string(), port: z.coerce.number().int().min(0).max(65535) }),
  admins: z.array(z.object({ name: z.string().min(1) })).default([]),
});

test("parseConfig: returns the parsed config, frozen all the way down", (t) => {
  const c = parseConfig(Config, { listen: { host: "::", port: "7889" }, admins: [{ name: "a" }] }, "attestd.json");
  t.deepEqual(c, { listen: { host: "::", port: 7889 }, admins: [{ name: "a" }] });
  t.true(Object.isFrozen(c) && Object.isFrozen(c.listen) && Object.isFrozen(c.admins) && Object.isFrozen(c.admins[0]));
});

test("parseConfig: a ConfigError names the exact field and the source", (t) => {
  const e1 = t.throws(() => parseConfig(Config, { listen: { host: "::", port: "http" } }, "flags"), { instanceOf: ConfigError });
  t.is(e1?.code, "CONFIG_INVALID");
  t.is(e1?.field, "listen.port");
  t.is(e1?.source, "flags");
  t.regex(e1?.message ?? "", /^bad configuration in flags: field listen\.port: /);
  const e2 = t.throws(() => parseConfig(Config, { listen: { host: "h", port: 1 }, admins: [{ name: "a" }, { name: "" }] }, "attestd.json"), { instanceOf: ConfigError });
  t.is(e2?.field, "admins[1].name");
  const e3 = t.throws(() => parseConfig(Config, { listen: { port: 70000, host: "h" } }, "env"), { instanceOf: ConfigError });
  t.is(e3?.field, "listen.port");
  t.regex(e3?.message ?? "", /65535/);
  const e4 = t.throws(() => parseConfig(Config, "nope", "env"), { instanceOf: ConfigError });
  t.is(e4?.field, "(root)");
});
