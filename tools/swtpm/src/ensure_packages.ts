/**
 * Makes sure the Debian packages the swtpm test harness shells out to are installed.
 *
 * Presence is decided by the binaries each package is known to provide (see
 * {@link DEBIAN_PACKAGE_BINARIES}); packages not in that table are checked with `dpkg-query`.
 * When something is missing and the process runs as root, `apt-get update` and
 * `apt-get install -y` are run synchronously (their output goes to this process' stdout/stderr);
 * otherwise, or when the install does not fix it, an Error names exactly what is missing.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Binaries (absolute paths) that prove a Debian package is installed. */
export const DEBIAN_PACKAGE_BINARIES: Readonly<Record<string, readonly string[]>> = {
  swtpm: ["/usr/bin/swtpm"],
  "swtpm-tools": ["/usr/bin/swtpm_setup", "/usr/bin/swtpm_localca"],
  "tpm2-tools": ["/usr/bin/tpm2_checkquote", "/usr/bin/tpm2_nvread", "/usr/bin/tpm2_createek"],
  socat: ["/usr/bin/socat"],
  openssl: ["/usr/bin/openssl"],
  "python3-pykmip": ["/usr/bin/pykmip-server"],
};

/** The packages the swtpm harness needs: emulator, setup tools (swtpm_setup, swtpm_localca), tpm2-tools, socat. */
export const SWTPM_DEBIAN_PACKAGES: readonly string[] = ["swtpm", "swtpm-tools", "tpm2-tools", "socat"];

/** One package that is not (completely) installed. */
export interface MissingDebianPackage {
  /** Debian package name. */
  readonly name: string;
  /** Why it counts as missing, e.g. `/usr/bin/socat does not exist`. */
  readonly reason: string;
}

/**
 * Lists the packages of `packages` that are not installed, without changing anything.
 *
 * @param packages Debian package names.
 * @returns the missing ones with the reason (empty when all are present).
 */
export function findMissingDebianPackages(packages: readonly string[]): MissingDebianPackage[] {
  const missing: MissingDebianPackage[] = [];
  for (const name of packages) {
    const binaries = DEBIAN_PACKAGE_BINARIES[name];
    if (binaries !== undefined) {
      const absent = binaries.filter((b) => !existsSync(b));
      if (absent.length > 0) missing.push({ name, reason: `${absent.join(", ")} ${absent.length === 1 ? "does" : "do"} not exist` });
      continue;
    }
    const q = spawnSync("dpkg-query", ["-W", "-f=${Status}", name], { encoding: "utf8" });
    if (q.error !== undefined) {
      missing.push({ name, reason: `dpkg-query could not run (${q.error.message})` });
    } else if (q.status !== 0 || !q.stdout.includes("install ok installed")) {
      missing.push({ name, reason: `dpkg-query reports it not installed (${(q.stdout || q.stderr).trim() || `exit ${q.status}`})` });
    }
  }
  return missing;
}

function describe(missing: readonly MissingDebianPackage[]): string {
  return missing.map((m) => `${m.name} (${m.reason})`).join("; ");
}

/**
 * Test files run in parallel processes, and two of them may install the same missing package at once (CI's first
 * run on a fresh machine: nginx for two infra tests). apt-get does not wait for another apt-get's lock by default:
 * the second one failed at once (exit 100) and saw the package half installed. So every apt-get of this module runs
 * under one exclusive file lock (util-linux's flock, Essential in Debian), and waits for dpkg's own lock too.
 */
const APT_LOCK = "/run/lock/tessera-apt-get.lock";
const WAIT_SECONDS = "900";

function runApt(args: readonly string[]): string | undefined {
  const aptArgs = ["-o", `DPkg::Lock::Timeout=${WAIT_SECONDS}`, ...args];
  const locked = existsSync("/usr/bin/flock");
  const r = spawnSync(locked ? "/usr/bin/flock" : "apt-get", locked ? ["-w", WAIT_SECONDS, APT_LOCK, "apt-get", ...aptArgs] : aptArgs, {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (r.error !== undefined) return `apt-get ${args.join(" ")} could not run: ${r.error.message}`;
  if (r.status !== 0) return `apt-get ${args.join(" ")} exited with ${r.status ?? r.signal}`;
  return undefined;
}

/**
 * Ensures every package of `packages` is installed, installing the missing ones with apt-get
 * when running as root.
 *
 * @param packages Debian package names, e.g. `["swtpm", "swtpm-tools", "tpm2-tools", "socat"]`.
 * @throws Error naming each missing package and why (missing binary, not root, apt-get failure).
 */
export function ensureDebianPackages(packages: readonly string[]): void {
  const missing = findMissingDebianPackages(packages);
  if (missing.length === 0) return;
  const names = missing.map((m) => m.name);
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot) {
    throw new Error(`Missing Debian packages: ${describe(missing)}. Not running as root, so not installing; run: sudo apt-get install -y ${names.join(" ")}`);
  }
  const problems: string[] = [];
  const update = runApt(["update"]);
  if (update !== undefined) problems.push(update);
  const install = runApt(["install", "-y", "--no-install-recommends", ...names]);
  if (install !== undefined) problems.push(install);
  const still = findMissingDebianPackages(packages);
  if (still.length > 0) {
    throw new Error(`Missing Debian packages after apt-get install: ${describe(still)}${problems.length > 0 ? ` [${problems.join("; ")}]` : ""}`);
  }
}
