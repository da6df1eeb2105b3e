/**
 * Authorization sessions against swtpm: HMAC sessions (unbound/unsalted, salted with the RSA and ECC EKs,
 * bound to an NV index), wrong authValues, tampered responses, and policy sessions (PolicyPCR,
 * PolicySecret) whose digests must match the ones computed in software.
 */
import test, { type ExecutionContext } from "ava";
import { createHash, randomBytes } from "node:crypto";
import {
  EK_POLICY_A_SHA256,
  marshal,
  pcrSelection,
  TPM_ALG,
  TPM_CC,
  TPM_HT,
  TPM_PT,
  TPM_RH,
  TPM_SE,
  TPMA_NV,
  TPML_PCR_SELECTION,
  type TpmsNvPublic,
  toHex,
} from "@tessera/tpm2";
import { createEk, type Ek } from "./ek.ts";
import { TssError } from "./errors.ts";
import type { HmacSession } from "./session.ts";
import { Tpm } from "./tpm.ts";
import type { Transport } from "./transport.ts";
import { rejectsRc, swtpmForTests } from "./_test_support.ts";

/** Flips one byte of selected successful session responses, to play a man in the middle. */
class TamperingTransport implements Transport {
  readonly description: string;
  readonly #inner: Transport;
  /** Returns the offset to flip in a response, or undefined to leave it alone. */
  tamper: ((response: Uint8Array) => number | undefined) | undefined;
  constructor(inner: Transport) {
    this.#inner = inner;
    this.description = `tampering(${inner.description})`;
  }
  async send(command: Uint8Array): Promise<Uint8Array> {
    const r = await this.#inner.send(command);
    const at = this.tamper?.(r);
    if (at === undefined) return r;
    const c = Uint8Array.from(r);
    c[at] ^= 0x40;
    return c;
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

let wire: TamperingTransport;
let rsaEk: Ek;
let eccEk: Ek;
const sim = swtpmForTests({
  open: (sw) => {
    wire = new TamperingTransport(Tpm.open(sw.tcti).transport);
    return new Tpm(wire);
  },
  setUp: async ({ tpm }) => {
    rsaEk = await createEk(tpm, "rsa2048");
    eccEk = await createEk(tpm, "ecc-p256");
  },
});

const SHA256 = TPM_ALG.SHA256;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const AUTH = enc("index-auth");

function nvPublic(index: number, dataSize: number, attributes: number, authPolicy: Uint8Array = new Uint8Array()): TpmsNvPublic {
  return { nvIndex: index, nameAlg: SHA256, attributes, authPolicy, dataSize };
}
const AUTH_RW = TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD;

async function withIndex<R>(pub: TpmsNvPublic, authValue: Uint8Array, fn: () => Promise<R>): Promise<R> {
  await sim.tpm.nvDefine(pub, { authValue });
  try {
    return await fn();
  } finally {
    await sim.tpm.nvUndefine(pub.nvIndex);
  }
}

async function withSession<R>(start: Promise<HmacSession>, fn: (s: HmacSession) => Promise<R>): Promise<R> {
  const s = await start;
  try {
    return await fn(s);
  } finally {
    await sim.tpm.flush(s.handle).catch(() => undefined);
  }
}

async function noSessions(t: ExecutionContext): Promise<void> {
  t.deepEqual(await sim.tpm.handles(TPM_HT.HMAC_SESSION), [], "HMAC sessions left loaded");
  t.deepEqual(await sim.tpm.handles(TPM_HT.POLICY_SESSION), [], "policy sessions left loaded");
}

/** Writes, rewrites and reads an index through `session`; the first write happens on an unwritten index. */
async function exercise(t: ExecutionContext, index: number, authValue: Uint8Array, session: HmacSession): Promise<void> {
  const auth = { handle: index, authValue, session };
  const first = new Uint8Array(randomBytes(64));
  await sim.tpm.nvWrite(index, first, { authHandle: auth });
  t.deepEqual(await sim.tpm.nvRead(index, { authHandle: auth }), first);
  const second = new Uint8Array(randomBytes(16));
  await sim.tpm.nvWrite(index, second, { offset: 8, authHandle: auth });
  const expected = Uint8Array.from(first);
  expected.set(second, 8);
  t.deepEqual(await sim.tpm.nvRead(index, { authHandle: auth }), expected);
  t.deepEqual(await sim.tpm.nvRead(index, { offset: 8, size: 16, authHandle: auth }), second);
}

// ---- HMAC sessions ----

const VARIANTS: readonly { label: string; start: (index: number) => Promise<HmacSession>; keyed: boolean }[] = [
  { label: "unbound, unsalted", start: () => sim.tpm.startAuthSession(), keyed: false },
  { label: "salted with the RSA EK", start: () => sim.tpm.startAuthSession({ tpmKey: rsaEk }), keyed: true },
  { label: "salted with the ECC EK", start: () => sim.tpm.startAuthSession({ tpmKey: eccEk }), keyed: true },
  {
    label: "bound to the NV index (authValue)",
    start: async (index) => sim.tpm.startAuthSession({ bind: { handle: index, name: (await sim.tpm.nvReadPublic(index)).name, authValue: AUTH } }),
    keyed: true,
  },
  {
    label: "bound to the NV index and salted with the ECC EK",
    start: async (index) =>
      sim.tpm.startAuthSession({ tpmKey: eccEk, bind: { handle: index, name: (await sim.tpm.nvReadPublic(index)).name, authValue: AUTH } }),
    keyed: true,
  },
];

VARIANTS.forEach((v, i) => {
  test.serial(`HMAC session ${v.label}: NV_Write/NV_Read of an index with an authValue`, async (t) => {
    t.timeout(20_000);
    const index = 0x01500100 + i;
    await withIndex(nvPublic(index, 64, AUTH_RW | TPMA_NV.NO_DA), AUTH, () =>
      withSession(v.start(index), async (s) => {
        t.is(s.type, TPM_SE.HMAC);
        t.is(s.handle >>> 24, TPM_HT.HMAC_SESSION);
        t.is(s.sessionKey.length, v.keyed ? 32 : 0);
        await exercise(t, index, AUTH, s);
      }),
    );
    await noSessions(t);
  });
});

test.serial("HMAC session bound to one NV index authorizes another (its authValue enters the HMAC)", async (t) => {
  t.timeout(20_000);
  const a = 0x01500110;
  const b = 0x01500111;
  const authA = enc("auth-of-a");
  await withIndex(nvPublic(a, 16, AUTH_RW | TPMA_NV.NO_DA), authA, () =>
    withIndex(nvPublic(b, 64, AUTH_RW | TPMA_NV.NO_DA), AUTH, async () => {
      const name = (await sim.tpm.nvReadPublic(a)).name;
      await withSession(sim.tpm.startAuthSession({ bind: { handle: a, name, authValue: authA } }), (s) => exercise(t, b, AUTH, s));
    }),
  );
  await noSessions(t);
});

// Part 1, 19.6.8 and the reference SessionCreate(): whenever bind is not TPM_RH_NULL (or there is a salt) the TPM
// computes sessionKey = KDFa(authHash, bind.authValue || salt, "ATH", nonceTPM, nonceCaller), also when that key
// is empty. Only unbound, unsalted sessions have an empty sessionKey.
test.serial("HMAC session bound to an NV index whose authValue is empty", async (t) => {
  t.timeout(20_000);
  const index = 0x01500120;
  await withIndex(nvPublic(index, 64, AUTH_RW | TPMA_NV.NO_DA), new Uint8Array(), async () => {
    const name = (await sim.tpm.nvReadPublic(index)).name;
    await withSession(sim.tpm.startAuthSession({ bind: { handle: index, name, authValue: new Uint8Array() } }), async (s) => {
      t.is(s.sessionKey.length, 32, "a bound session must have a sessionKey (the TPM answers TPM_RC_BAD_AUTH otherwise)");
      await exercise(t, index, new Uint8Array(), s);
    });
  });
  await noSessions(t);
});

test.serial("HMAC session bound to the owner hierarchy (empty ownerAuth) authorizing an index with an authValue", async (t) => {
  t.timeout(20_000);
  const index = 0x01500122;
  await withIndex(nvPublic(index, 64, AUTH_RW | TPMA_NV.NO_DA), AUTH, () =>
    withSession(sim.tpm.startAuthSession({ bind: { handle: TPM_RH.OWNER, name: Uint8Array.of(0x40, 0, 0, 1) } }), async (s) => {
      t.is(s.sessionKey.length, 32, "a bound session must have a sessionKey (the TPM answers TPM_RC_BAD_AUTH otherwise)");
      await exercise(t, index, AUTH, s);
    }),
  );
  await noSessions(t);
});

test.serial("authValues with trailing zeros: the TPM and the session both ignore them", async (t) => {
  t.timeout(20_000);
  const index = 0x01500121;
  await withIndex(nvPublic(index, 64, AUTH_RW | TPMA_NV.NO_DA), Uint8Array.of(0x70, 0x69, 0x6e, 0, 0), async () => {
    await withSession(sim.tpm.startAuthSession(), (s) => exercise(t, index, Uint8Array.of(0x70, 0x69, 0x6e), s));
    await withSession(sim.tpm.startAuthSession(), (s) => exercise(t, index, Uint8Array.of(0x70, 0x69, 0x6e, 0, 0, 0), s));
    const name = (await sim.tpm.nvReadPublic(index)).name;
    await withSession(sim.tpm.startAuthSession({ bind: { handle: index, name, authValue: Uint8Array.of(0x70, 0x69, 0x6e, 0) } }), (s) =>
      exercise(t, index, Uint8Array.of(0x70, 0x69, 0x6e), s),
    );
  });
  await noSessions(t);
});

test.serial("a wrong authValue gives TPM_RC_AUTH_FAIL for session 1 (password and HMAC sessions)", async (t) => {
  t.timeout(20_000);
  const maxTries = (await sim.tpm.properties(TPM_PT.MAX_AUTH_FAIL, 1)).get(TPM_PT.MAX_AUTH_FAIL) ?? 0;
  t.true(maxTries > 2, `MAX_AUTH_FAIL ${maxTries}: two failures would lock the TPM out`);
  const index = 0x01500130;
  // Not NO_DA: a failure counts for dictionary attacks and is reported as AUTH_FAIL (NO_DA gives BAD_AUTH).
  await withIndex(nvPublic(index, 16, AUTH_RW), AUTH, async () => {
    await sim.tpm.nvWrite(index, new Uint8Array(16).fill(1), { authHandle: { handle: index, authValue: AUTH } });
    const wrong = enc("not-the-auth");
    await withSession(sim.tpm.startAuthSession(), async (s) => {
      const e = await rejectsRc(t, sim.tpm.nvRead(index, { authHandle: { handle: index, authValue: wrong, session: s } }), "TPM_RC_AUTH_FAIL");
      t.is(e?.decoded.session, 1);
    });
    const e2 = await rejectsRc(t, sim.tpm.nvRead(index, { authHandle: { handle: index, authValue: wrong } }), "TPM_RC_AUTH_FAIL");
    t.is(e2?.decoded.session, 1);
    // The right authValue still works.
    await withSession(sim.tpm.startAuthSession(), async (s) => {
      t.deepEqual(await sim.tpm.nvRead(index, { authHandle: { handle: index, authValue: AUTH, session: s } }), new Uint8Array(16).fill(1));
    });
  });
  await noSessions(t);
});

// ---- tampered responses ----

/** Offsets in a successful one-session response: [parameters start, parameters end, auth area start]. */
function layout(r: Uint8Array): { params: number; paramsEnd: number; nonce: number; hmacLast: number } {
  const v = new DataView(r.buffer, r.byteOffset);
  const paramSize = v.getUint32(10);
  const params = 14;
  const paramsEnd = params + paramSize;
  return { params, paramsEnd, nonce: paramsEnd + 2, hmacLast: r.length - 1 };
}

function isSuccessWithSessions(r: Uint8Array, cc: number, command: { cc: number }): boolean {
  const v = new DataView(r.buffer, r.byteOffset);
  return command.cc === cc && v.getUint16(0) === 0x8002 && v.getUint32(6) === 0;
}

for (const [what, pick] of [
  ["the response HMAC", (r: Uint8Array) => layout(r).hmacLast],
  ["a response parameter (NV data)", (r: Uint8Array) => layout(r).params + 2],
  ["the TPM's nonce", (r: Uint8Array) => layout(r).nonce + 5],
] as const) {
  test.serial(`tampering with ${what} of an HMAC-session response → TSS_RESPONSE_HMAC`, async (t) => {
    t.timeout(20_000);
    const index = 0x01500140;
    await withIndex(nvPublic(index, 32, AUTH_RW | TPMA_NV.NO_DA), AUTH, async () => {
      await sim.tpm.nvWrite(index, new Uint8Array(32).fill(9), { authHandle: { handle: index, authValue: AUTH } });
      await withSession(sim.tpm.startAuthSession({ tpmKey: rsaEk }), async (s) => {
        const auth = { handle: index, authValue: AUTH, session: s };
        const last = { cc: 0 };
        // Remember the command code of each command, to tamper with NV_Read responses only.
        const inner = wire.send.bind(wire);
        wire.send = (command: Uint8Array) => {
          last.cc = new DataView(command.buffer, command.byteOffset).getUint32(6);
          return inner(command);
        };
        wire.tamper = (r) => (isSuccessWithSessions(r, TPM_CC.NV_Read, last) ? pick(r) : undefined);
        try {
          const e = await t.throwsAsync(sim.tpm.nvRead(index, { authHandle: auth }), { instanceOf: TssError });
          if (e instanceof TssError) t.is(e.code, "TSS_RESPONSE_HMAC", e.message);
        } finally {
          wire.tamper = undefined;
          wire.send = inner;
        }
        // Untampered, the same read verifies.
        t.deepEqual(
          await sim.tpm.nvRead(index, { authHandle: { handle: index, authValue: AUTH, session: await sim.tpm.startAuthSession() } }),
          new Uint8Array(32).fill(9),
        );
      });
      for (const h of await sim.tpm.handles(TPM_HT.HMAC_SESSION)) await sim.tpm.flush(h);
    });
    await noSessions(t);
  });
}

test.serial("tampering with the HMAC of an NV_Write response (no parameters) → TSS_RESPONSE_HMAC", async (t) => {
  t.timeout(20_000);
  const index = 0x01500141;
  await withIndex(nvPublic(index, 8, AUTH_RW | TPMA_NV.NO_DA), AUTH, () =>
    withSession(sim.tpm.startAuthSession(), async (s) => {
      wire.tamper = (r) => (new DataView(r.buffer, r.byteOffset).getUint16(0) === 0x8002 && r.length > 10 ? r.length - 1 : undefined);
      try {
        const e = await t.throwsAsync(sim.tpm.nvWrite(index, new Uint8Array(8), { authHandle: { handle: index, authValue: AUTH, session: s } }), {
          instanceOf: TssError,
        });
        if (e instanceof TssError) t.is(e.code, "TSS_RESPONSE_HMAC", e.message);
      } finally {
        wire.tamper = undefined;
      }
    }),
  );
  await noSessions(t);
});

// ---- policy sessions ----

function pcr16Policy(pcr16: Uint8Array): Uint8Array {
  const sel = [pcrSelection(SHA256, [16])];
  const pcrDigest = createHash("sha256").update(pcr16).digest();
  const cc = Buffer.alloc(4);
  cc.writeUInt32BE(TPM_CC.PolicyPCR);
  return new Uint8Array(createHash("sha256").update(new Uint8Array(32)).update(cc).update(marshal(TPML_PCR_SELECTION, sel)).update(pcrDigest).digest());
}

async function pcr16(): Promise<Uint8Array> {
  const v = (await sim.tpm.pcrRead([pcrSelection(SHA256, [16])])).get(SHA256)?.get(16);
  if (!v) throw new Error("no PCR 16");
  return v;
}

test.serial("PolicyPCR on PCR 16 + PolicyGetDigest equals the digest computed in software (policy and trial sessions)", async (t) => {
  t.timeout(20_000);
  await sim.tpm.pcrExtend(16, [{ hashAlg: SHA256, digest: new Uint8Array(createHash("sha256").update("session_test").digest()) }]);
  const expected = pcr16Policy(await pcr16());
  for (const type of [TPM_SE.POLICY, TPM_SE.TRIAL]) {
    await withSession(sim.tpm.startAuthSession({ type }), async (s) => {
      t.is(s.handle >>> 24, TPM_HT.POLICY_SESSION);
      t.deepEqual(await sim.tpm.policyGetDigest(s), new Uint8Array(32), "a fresh policy digest is all zeros");
      await sim.tpm.policyPcr(s, [pcrSelection(SHA256, [16])]);
      t.is(toHex(await sim.tpm.policyGetDigest(s)), toHex(expected));
    });
  }
  // With the expected PCR digest given explicitly, the same.
  await withSession(sim.tpm.startAuthSession({ type: TPM_SE.POLICY }), async (s) => {
    await sim.tpm.policyPcr(
      s,
      [pcrSelection(SHA256, [16])],
      new Uint8Array(
        createHash("sha256")
          .update(await pcr16())
          .digest(),
      ),
    );
    t.deepEqual(await sim.tpm.policyGetDigest(s), expected);
  });
  await noSessions(t);
});

test.serial("an NV index with a PolicyPCR authPolicy: written via a satisfying policy session, POLICY_FAIL after PCR 16 moves", async (t) => {
  t.timeout(20_000);
  const index = 0x01500150;
  const before = await pcr16();
  const policy = pcr16Policy(before);
  const sel = [pcrSelection(SHA256, [16])];
  const data = enc("sealed-to-pcr-16");
  await withIndex(nvPublic(index, data.length, TPMA_NV.POLICYWRITE | TPMA_NV.POLICYREAD | TPMA_NV.NO_DA, policy), new Uint8Array(), async () => {
    await withSession(sim.tpm.startAuthSession({ type: TPM_SE.POLICY }), async (s) => {
      await sim.tpm.policyPcr(s, sel);
      await sim.tpm.nvWrite(index, data, { authHandle: { handle: index, session: s } });
    });
    await withSession(sim.tpm.startAuthSession({ type: TPM_SE.POLICY }), async (s) => {
      await sim.tpm.policyPcr(s, sel);
      t.deepEqual(await sim.tpm.nvRead(index, { authHandle: { handle: index, session: s } }), data);
    });
    // An empty policy (no PolicyPCR) does not satisfy it.
    await withSession(sim.tpm.startAuthSession({ type: TPM_SE.POLICY }), async (s) => {
      const e = await rejectsRc(t, sim.tpm.nvRead(index, { authHandle: { handle: index, session: s } }), "TPM_RC_POLICY_FAIL");
      t.is(e?.decoded.session, 1);
    });

    await sim.tpm.pcrExtend(16, [{ hashAlg: SHA256, digest: new Uint8Array(32).fill(0x16) }]);
    await withSession(sim.tpm.startAuthSession({ type: TPM_SE.POLICY }), async (s) => {
      await sim.tpm.policyPcr(s, sel);
      const e = await rejectsRc(t, sim.tpm.nvWrite(index, data, { authHandle: { handle: index, session: s } }), "TPM_RC_POLICY_FAIL");
      t.is(e?.decoded.session, 1);
    });
    // Asking PolicyPCR for the old PCR digest is refused at PolicyPCR already.
    await withSession(sim.tpm.startAuthSession({ type: TPM_SE.POLICY }), async (s) => {
      await rejectsRc(t, sim.tpm.policyPcr(s, sel, new Uint8Array(createHash("sha256").update(before).digest())), "TPM_RC_VALUE");
    });
  });
  await noSessions(t);
});

test.serial("PolicySecret(TPM_RH_ENDORSEMENT) gives the EK policy A digest", async (t) => {
  t.timeout(20_000);
  t.is(toHex(EK_POLICY_A_SHA256), "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa");
  for (const type of [TPM_SE.POLICY, TPM_SE.TRIAL]) {
    await withSession(sim.tpm.startAuthSession({ type }), async (s) => {
      await sim.tpm.policySecret(s, TPM_RH.ENDORSEMENT);
      t.is(toHex(await sim.tpm.policyGetDigest(s)), "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa");
    });
  }
  // withEkPolicy builds the same and flushes its session afterwards.
  const digest = await sim.tpm.withEkPolicy((s) => sim.tpm.policyGetDigest(s));
  t.deepEqual(digest, EK_POLICY_A_SHA256);
  t.deepEqual(rsaEk.public.authPolicy, digest);
  // PolicySecret authorized through an HMAC session salted with the EK.
  await withSession(sim.tpm.startAuthSession({ tpmKey: rsaEk }), (hmac) =>
    withSession(sim.tpm.startAuthSession({ type: TPM_SE.POLICY }), async (s) => {
      await sim.tpm.policySecret(s, { handle: TPM_RH.ENDORSEMENT, session: hmac });
      t.deepEqual(await sim.tpm.policyGetDigest(s), EK_POLICY_A_SHA256);
    }),
  );
  await noSessions(t);
});

test.serial("at the end: no sessions loaded; the EKs flush and nothing transient remains", async (t) => {
  await noSessions(t);
  await sim.tpm.flush(rsaEk.handle);
  await sim.tpm.flush(eccEk.handle);
  t.deepEqual(await sim.tpm.handles(TPM_HT.TRANSIENT), []);
});
