/**
 * Makes sure Debian's PyKMIP (`python3-pykmip`, 0.10) and the `openssl` CLI are available.
 *
 * Everything here uses the system interpreter `/usr/bin/python3` on purpose: a pyenv/venv
 * `python3` earlier on PATH does not see Debian's `dist-packages`.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { ensureDebianPackages } from "@tessera/swtpm-testing";

/** Absolute paths of the programs this package runs. */
export const PYKMIP_BINARIES = {
  /** Debian's system Python (sees /usr/lib/python3/dist-packages/kmip). */
  python: "/usr/bin/python3",
  /** Debian's console-script wrapper for `kmip.services.server.server:main`. */
  server: "/usr/bin/pykmip-server",
  /** Used to make the test PKI. */
  openssl: "/usr/bin/openssl",
  /** util-linux; prefixes child processes with `--pdeathsig SIGKILL` when present. */
  setpriv: "/usr/bin/setpriv",
} as const;

/** The Debian package providing PyKMIP. */
export const PYKMIP_DEBIAN_PACKAGE = "python3-pykmip";

/** What {@link ensurePykmip} found. */
export interface PykmipInstallation {
  /** `kmip.__version__`, e.g. `"0.10.0"`. */
  readonly version: string;
  /** Interpreter that imports `kmip`. */
  readonly python: string;
  /** The `pykmip-server` script (informational; the server is started through {@link python}). */
  readonly server: string;
  /** True when this call had to apt-get install the package. */
  readonly installed: boolean;
}

function probeKmip(): { ok: true; version: string } | { ok: false; why: string } {
  if (!existsSync(PYKMIP_BINARIES.python)) return { ok: false, why: `${PYKMIP_BINARIES.python} does not exist` };
  const r = spawnSync(PYKMIP_BINARIES.python, ["-c", "import kmip, sys; sys.stdout.write(kmip.__version__)"], {
    encoding: "utf8",
    timeout: 30_000,
  });
  if (r.error !== undefined) return { ok: false, why: `${PYKMIP_BINARIES.python} could not run: ${r.error.message}` };
  if (r.status !== 0) {
    const detail = r.stderr.trim().split("\n").at(-1) ?? `exit ${r.status ?? r.signal}`;
    return { ok: false, why: `${PYKMIP_BINARIES.python} -c 'import kmip' failed: ${detail}` };
  }
  return { ok: true, version: r.stdout.trim() };
}

let cached: PykmipInstallation | undefined;

/**
 * Checks that `/usr/bin/python3 -c 'import kmip'` works and that `openssl` exists. When PyKMIP is
 * missing, installs `python3-pykmip` with the harness' `ensureDebianPackages` (apt-get as root; otherwise an
 * error saying what to install) and checks again.
 * The positive answer is cached for the life of the process.
 *
 * @returns the PyKMIP version and paths.
 * @throws Error naming what is missing (and why it was not or could not be installed).
 */
export function ensurePykmip(): PykmipInstallation {
  if (cached !== undefined) return cached;
  if (!existsSync(PYKMIP_BINARIES.openssl)) {
    throw new Error(`PyKMIP test helper: ${PYKMIP_BINARIES.openssl} does not exist (Debian package "openssl")`);
  }
  let probe = probeKmip();
  let installed = false;
  if (!probe.ok) {
    // The one installer of the test harnesses: apt-get as root, or an error saying what to install.
    ensureDebianPackages([PYKMIP_DEBIAN_PACKAGE]);
    probe = probeKmip();
    if (!probe.ok) throw new Error(`PyKMIP is missing after installing ${PYKMIP_DEBIAN_PACKAGE}: ${probe.why}`);
    installed = true;
  }
  cached = { version: probe.version, python: PYKMIP_BINARIES.python, server: PYKMIP_BINARIES.server, installed };
  return cached;
}
