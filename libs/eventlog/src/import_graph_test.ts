import test from "ava";
import { spawnSync } from "node:child_process";
import path from "node:path";

const PACKAGE_DIR = path.resolve(import.meta.dirname, "..");

// Imports the package in a fresh Node with a resolve hook (module.registerHooks sees both import and require)
// and prints every URL it resolved, one per line.
const CHILD = `
import { registerHooks } from "node:module";
const urls = [];
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    urls.push(result.url);
    return result;
  },
});
await import("@tessera/eventlog");
process.stdout.write(urls.join("\\n") + "\\n");
`;

test("importing @tessera/eventlog loads the ASN.1 packages but not @peculiar/x509, tsyringe or reflect-metadata", (t) => {
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", CHILD], { cwd: PACKAGE_DIR, encoding: "utf8", timeout: 120_000 });
  t.is(child.status, 0, child.stderr);
  const urls = child.stdout.split("\n").filter((u) => u !== "");
  // The hook saw the graph: the package itself and the certificate decoding it needs.
  t.true(
    urls.some((u) => u.endsWith("/libs/eventlog/src/mod.ts")),
    "the hook records the package's own modules",
  );
  t.true(
    urls.some((u) => u.includes("/@peculiar/asn1-x509/")),
    "certificates are still decoded with @peculiar/asn1-x509",
  );
  const heavy = new Set(urls.flatMap((u) => /\/node_modules\/(@peculiar\/x509|tsyringe|reflect-metadata)\//.exec(u)?.[1] ?? []));
  t.deepEqual([...heavy], [], "a codec lib that only names certificates must not load the X.509 toolkit and its DI container");
});
