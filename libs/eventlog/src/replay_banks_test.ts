import test from "ava";
import { TPM_ALG } from "@tessera/tpm2";
import { fixture, fixtureNames } from "./_fixtures_test.ts";
import { comparePcrs } from "./compare_pcrs.ts";
import { parseEventLog } from "./parse_event_log.ts";
import { replay } from "./replay.ts";
import type { PcrBanks } from "./types.ts";

test("replay with banks computes only those banks, each the same as the full replay's, and comparePcrs names the same last event", (t) => {
  let multiBank = 0;
  for (const name of fixtureNames()) {
    const log = parseEventLog(fixture(name));
    const full = replay(log);
    if (full.size > 1) multiBank++;
    for (const alg of [TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384]) {
      const only = replay(log, { banks: [alg] });
      t.deepEqual([...only.keys()], full.has(alg) ? [alg] : [], `${name}: only the asked bank`);
      if (!full.has(alg)) continue;
      t.deepEqual(only.get(alg), full.get(alg), name);
      // A quoted value that differs at PCR 7 (or the first PCR replayed): the same mismatch and last event.
      const pcr = full.get(alg)!.has(7) ? 7 : [...full.get(alg)!.keys()][0];
      const quoted: PcrBanks = new Map([[alg, new Map([[pcr, new Uint8Array(full.get(alg)!.get(pcr)!.length).fill(9)]])]]);
      t.deepEqual(comparePcrs(only, quoted), comparePcrs(full, quoted), name);
    }
    t.deepEqual(replay(log, { banks: [] }), new Map(), `${name}: no bank asked`);
  }
  t.true(multiBank > 3, "fixtures with several banks were compared");
});
