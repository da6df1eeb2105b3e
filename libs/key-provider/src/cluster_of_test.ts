/** Release policy: cluster membership by host glob, EK pin and TPM CA; name order; default; grants. */
import test from "ava";
import fc from "fast-check";
import { clusterOf, DEFAULT_CLUSTER, globMatch, mayUse, type TrustedCluster } from "./cluster_of.ts";

const EK = "ab".repeat(32);
const CA = "cd".repeat(32);

test("a host is in the first cluster by name with a matching rule, else default", (t) => {
  const clusters: TrustedCluster[] = [
    { name: "zeta", rules: [{ host: "*.lab.example" }] },
    { name: "alpha", rules: [{ host: "esx-*.lab.example", ekFingerprint: EK }] },
    { name: "pinned", rules: [{ ekFingerprint: EK.toUpperCase().match(/../g)!.join(":") }] },
    { name: "by-ca", rules: [{ tpmCa: CA }] },
    { name: "empty-rule", rules: [{}] },
  ];
  // alpha needs both host and EK; pinned matches the EK however it is written.
  t.is(clusterOf({ sub: "ESX-1.lab.example", ekFingerprint: EK }, clusters), "alpha");
  t.is(clusterOf({ sub: "other.lab.example", ekFingerprint: EK }, clusters), "pinned");
  t.is(clusterOf({ sub: "esx-1.lab.example", ekFingerprint: "00".repeat(32) }, clusters), "zeta");
  t.is(clusterOf({ sub: "h", ekFingerprint: "00", ekCa: CA.toUpperCase() }, clusters), "by-ca");
  t.is(clusterOf({ sub: "h", ekFingerprint: "00" }, clusters), DEFAULT_CLUSTER, "a tpmCa rule needs an EK CA");
  t.is(clusterOf({ sub: "h", ekFingerprint: "00" }, []), "default");
  // Definition order does not matter, only names.
  t.is(clusterOf({ sub: "esx-1.lab.example", ekFingerprint: EK }, [...clusters].reverse()), "alpha");
});

test("mayUse: only granted clusters", (t) => {
  t.true(mayUse(["default", "lab"], "lab"));
  t.false(mayUse(["default"], "lab"));
  t.false(mayUse([], "default"));
});

test("globMatch: * is any run, nothing else is special", (t) => {
  t.true(globMatch("*", ""));
  t.true(globMatch("a*b*c", "aXXbYYc"));
  t.true(globMatch("a*", "a"));
  t.false(globMatch("a*b", "a"));
  t.false(globMatch("a.b", "aXb"));
  t.true(globMatch("a?b", "a?b"));
  t.false(globMatch("a?b", "aXb"));
  t.true(globMatch("*.*.*", "x.y.z"));
  t.false(globMatch("*a", "b".repeat(10_000)));
});

test("property: globMatch agrees with the equivalent regular expression", (t) => {
  const part = fc.string({ unit: fc.constantFrom("a", "b", ".", "*", "?", "["), maxLength: 8 });
  fc.assert(
    fc.property(part, fc.string({ unit: fc.constantFrom("a", "b", ".", "?", "["), maxLength: 10 }), (p, s) => {
      const re = new RegExp(
        `^${p
          .split("*")
          .map((x) => x.replace(/[.?[\]\\^$+(){}|]/g, "\\$&"))
          .join(".*")}$`,
        "s",
      );
      return globMatch(p, s) === re.test(s);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});
