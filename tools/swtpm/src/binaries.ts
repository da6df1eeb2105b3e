/**
 * The programs the harness runs.
 * @module
 */

/** Absolute paths of the programs used here (all from the Debian packages). */
export const SWTPM_BINARIES = {
  swtpm: "/usr/bin/swtpm",
  swtpmSetup: "/usr/bin/swtpm_setup",
  swtpmLocalca: "/usr/bin/swtpm_localca",
  socat: "/usr/bin/socat",
  setpriv: "/usr/bin/setpriv",
} as const;
