import test from "ava";
import { frameCommand, TPM_CC } from "@tessera/tpm2";
import { commandClass, commandCode, DEFAULT_TIMEOUTS, timeoutFor } from "./timeouts.ts";

test("command classes: queries are short, key generation is long, the rest standard", (t) => {
  for (const cc of [TPM_CC.GetCapability, TPM_CC.GetRandom, TPM_CC.PCR_Read, TPM_CC.ReadPublic, TPM_CC.FlushContext]) t.is(commandClass(cc), "short");
  for (const cc of [TPM_CC.CreatePrimary, TPM_CC.Create, TPM_CC.CreateLoaded, TPM_CC.SelfTest]) t.is(commandClass(cc), "long");
  for (const cc of [TPM_CC.Quote, TPM_CC.Sign, TPM_CC.NV_Read, TPM_CC.StartAuthSession, 0x12345]) t.is(commandClass(cc), "standard");
});

test("timeoutFor: per call, then timeoutMs, then timeouts[class], then the defaults", (t) => {
  const create = frameCommand(TPM_CC.CreatePrimary, [0x40000001], new Uint8Array(), []);
  const random = frameCommand(TPM_CC.GetRandom, [], Uint8Array.of(0, 8), []);
  t.is(commandCode(random), TPM_CC.GetRandom);
  t.is(commandCode(new Uint8Array(3)), -1);
  t.is(timeoutFor(create, {}), DEFAULT_TIMEOUTS.long);
  t.is(timeoutFor(random, {}), DEFAULT_TIMEOUTS.short);
  t.is(timeoutFor(new Uint8Array(3), {}), DEFAULT_TIMEOUTS.standard);
  t.is(timeoutFor(random, { timeouts: { short: 7 } }), 7);
  t.is(timeoutFor(create, { timeouts: { short: 7 } }), DEFAULT_TIMEOUTS.long);
  t.is(timeoutFor(create, { timeoutMs: 9, timeouts: { long: 7 } }), 9);
  t.is(timeoutFor(create, { timeoutMs: 9 }, 3), 3);
  t.true(DEFAULT_TIMEOUTS.short < DEFAULT_TIMEOUTS.standard && DEFAULT_TIMEOUTS.standard < DEFAULT_TIMEOUTS.long);
});
