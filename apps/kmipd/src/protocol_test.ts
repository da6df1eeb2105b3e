import test from "ava";
import type { ExecutionContext } from "ava";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import {
  bytes,
  child,
  children,
  decodeResponse,
  decodeTtlv,
  encodeTtlv,
  enumName,
  enumValue,
  int,
  item,
  type KmipVersion,
  RESULT_STATUS,
  type ResponseMessage,
  struct,
  text,
  type Ttlv,
  TTLV_TYPE,
} from "@tessera/kmip";
import type { KmipConnection } from "@tessera/kmip-client";
import { handleMessage } from "./app.ts";
import { aesGcmKeyring } from "@tessera/service";
import { openSqliteStore } from "./store/sqlite_store.ts";
import { exchange, rawRequest, tempDir, V1_2, V1_4, V2_1, kmipdForTests } from "./_test_support.ts";

const k = kmipdForTests();

function reasonName(res: ResponseMessage, i = 0, version: KmipVersion = res.header.protocolVersion): string | undefined {
  const r = res.items[i]?.resultReason;
  return r === undefined ? undefined : enumName("ResultReason", r, version);
}

const discover = (version: KmipVersion = V1_4) => rawRequest(version, [{ operation: "DiscoverVersions" }]);

async function assertWorks(t: ExecutionContext, conn: KmipConnection, what: string): Promise<void> {
  const { res } = await exchange(conn, discover());
  t.is(res.items[0]?.resultStatus, RESULT_STATUS.Success, `${what}: the connection still answers a valid request`);
}

test("garbage bytes with a valid 8-byte header get InvalidMessage; the same connection keeps working", async (t) => {
  const conn = await k.connect();
  const garbage = new Uint8Array(8 + 24);
  garbage.set([0x42, 0x00, 0x78, 0x01, 0, 0, 0, 24]);
  garbage.set(
    randomBytes(24).map((b) => b | 0x80),
    8,
  ); // child tags outside 0x42xxxx
  const { res } = await exchange(conn, garbage);
  t.is(res.items.length, 1);
  t.is(res.items[0].resultStatus, RESULT_STATUS.OperationFailed);
  t.is(reasonName(res), "InvalidMessage");
  await assertWorks(t, conn, "after garbage");

  // Not even a KMIP tag at the top.
  const junk = new Uint8Array(16);
  junk.set([0xde, 0xad, 0xbe, 0x01, 0, 0, 0, 8]);
  const r2 = await exchange(conn, junk);
  t.is(reasonName(r2.res), "InvalidMessage");
  await assertWorks(t, conn, "after junk");

  // A valid TTLV item that is not a RequestMessage.
  const r3 = await exchange(conn, struct("ResponseMessage", [item("BatchCount", 1)]));
  t.is(reasonName(r3.res), "InvalidMessage");
  await assertWorks(t, conn, "after a ResponseMessage");
});

test("a RequestMessage whose BatchCount does not match its batch items gets InvalidMessage; the connection keeps working", async (t) => {
  const conn = await k.connect();
  for (const batchCount of [2, 0, 7]) {
    const { res } = await exchange(conn, rawRequest(V1_4, [{ operation: "DiscoverVersions" }], { batchCount }));
    t.is(res.items[0]?.resultStatus, RESULT_STATUS.OperationFailed, `BatchCount ${batchCount}`);
    t.is(reasonName(res), "InvalidMessage", `BatchCount ${batchCount}`);
  }
  await assertWorks(t, conn, "after BatchCount mismatches");
});

test("an unknown operation (0xAAAA) gets OperationNotSupported, echoing the operation; the connection keeps working", async (t) => {
  const conn = await k.connect();
  for (const version of [V1_4, V2_1]) {
    const { res } = await exchange(conn, rawRequest(version, [{ operation: 0xaaaa }]));
    t.is(res.items.length, 1);
    t.is(res.items[0].operation, 0xaaaa);
    t.is(res.items[0].resultStatus, RESULT_STATUS.OperationFailed);
    t.is(reasonName(res), "OperationNotSupported");
  }
  await assertWorks(t, conn, "after an unknown operation");
});

test("a batch Create + Activate + GetAttributes uses the ID placeholder", async (t) => {
  const conn = await k.connect();
  for (const version of [V1_4, V2_1]) {
    const attrs =
      version.major >= 2
        ? [struct("Attributes", [item("CryptographicAlgorithm", "AES"), item("CryptographicLength", 128), item("CryptographicUsageMask", "Encrypt Decrypt")])]
        : [
            struct("TemplateAttribute", [
              struct("Attribute", [
                item("AttributeName", "Cryptographic Algorithm"),
                item("AttributeValue", enumValue("CryptographicAlgorithm", "AES"), TTLV_TYPE.Enumeration),
              ]),
              struct("Attribute", [item("AttributeName", "Cryptographic Length"), item("AttributeValue", 128, TTLV_TYPE.Integer)]),
              struct("Attribute", [item("AttributeName", "Cryptographic Usage Mask"), item("AttributeValue", 12, TTLV_TYPE.Integer)]),
            ]),
          ];
    const { res } = await exchange(
      conn,
      rawRequest(version, [
        { operation: "Create", payload: [item("ObjectType", "SymmetricKey"), ...attrs] },
        { operation: "Activate" },
        { operation: "GetAttributes" },
      ]),
    );
    t.is(res.items.length, 3);
    t.deepEqual(
      res.items.map((i) => i.resultStatus),
      [0, 0, 0],
      res.items.map((i) => i.resultMessage ?? "").join(" | "),
    );
    const id = text(res.items[0].payload, "UniqueIdentifier");
    t.truthy(id);
    t.is(text(res.items[1].payload, "UniqueIdentifier"), id);
    t.is(text(res.items[2].payload, "UniqueIdentifier"), id);
    const p = res.items[2].payload;
    const stateItem =
      version.major >= 2
        ? child(child(p, "Attributes"), "State")
        : child(
            children(p, "Attribute").find((a) => text(a, "AttributeName") === "State"),
            "AttributeValue",
          );
    t.is(stateItem?.value, 2, `KMIP ${version.major}.${version.minor}: Active after the batch's Activate`);
  }
});

test("with the default Batch Error Continuation Option, the items after a failed one are not run", async (t) => {
  const c = k.client();
  const id = await c.create({ algorithm: "AES", length: 128 });
  const conn = await k.connect();
  const { res } = await exchange(
    conn,
    rawRequest(V1_4, [
      { operation: "GetAttributes", payload: [item("UniqueIdentifier", id)] },
      { operation: "Get", payload: [item("UniqueIdentifier", "no-such-object")] },
      { operation: "Activate" }, // would activate `id` through the ID placeholder
      { operation: "Activate", payload: [item("UniqueIdentifier", id)] },
    ]),
  );
  t.is(res.items[0]?.resultStatus, RESULT_STATUS.Success);
  t.is(res.items[1]?.resultStatus, RESULT_STATUS.OperationFailed);
  t.is(reasonName(res, 1), "ItemNotFound");
  for (const i of [2, 3]) {
    const r = res.items[i];
    if (r) t.not(r.resultStatus, RESULT_STATUS.Success, `item ${i} was not run`);
  }
  const st = (await c.getAttributes(id, ["State"])).get("State")?.[0];
  t.is(st?.value, 1, "the key is still PreActive: neither Activate ran");

  // With Continue, they are.
  const r2 = await exchange(
    conn,
    rawRequest(
      V1_4,
      [
        { operation: "Get", payload: [item("UniqueIdentifier", "no-such-object")] },
        { operation: "Activate", payload: [item("UniqueIdentifier", id)] },
      ],
      { batchErrorContinuationOption: "Continue" },
    ),
  );
  t.deepEqual(
    r2.res.items.map((i) => i.resultStatus),
    [RESULT_STATUS.OperationFailed, RESULT_STATUS.Success],
  );
  t.is((await c.getAttributes(id, ["State"])).get("State")?.[0]?.value, 2);
});

test("a KMIP 1.2 response header echoes 1.2 and has no correlation values; nor do 1.4 and 2.1 ones (as the OASIS cases expect)", async (t) => {
  const conn = await k.connect();
  const { res, raw } = await exchange(conn, rawRequest(V1_2, [{ operation: "DiscoverVersions" }], { clientCorrelationValue: "corr-1" }));
  t.deepEqual(res.header.protocolVersion, V1_2);
  const h = child(raw, "ResponseHeader");
  t.is(child(h, "ClientCorrelationValue"), undefined);
  t.is(child(h, "ServerCorrelationValue"), undefined);
  t.truthy(child(h, "TimeStamp"));
  t.is(int(h, "BatchCount"), 1);
  t.is(res.items[0].resultStatus, RESULT_STATUS.Success);

  const r4 = await exchange(conn, rawRequest(V1_4, [{ operation: "DiscoverVersions" }], { clientCorrelationValue: "corr-4" }));
  t.deepEqual(r4.res.header.protocolVersion, V1_4);
  t.is(r4.res.header.clientCorrelationValue, undefined);
  const r21 = await exchange(conn, rawRequest(V2_1, [{ operation: "DiscoverVersions" }]));
  t.deepEqual(r21.res.header.protocolVersion, V2_1);
});

test("every batch item echoes its Operation (successes and failures), and UniqueBatchItemID when given", async (t) => {
  const conn = await k.connect();
  const ids = [new Uint8Array([1]), undefined, new Uint8Array([3, 3])];
  const { res } = await exchange(
    conn,
    rawRequest(
      V1_4,
      [
        { operation: "DiscoverVersions", batchItemId: ids[0] },
        { operation: "Query", payload: [item("QueryFunction", "QueryOperations")] },
        { operation: "Get", payload: [item("UniqueIdentifier", "nope")], batchItemId: ids[2] },
      ],
      { batchErrorContinuationOption: "Continue" },
    ),
  );
  t.is(res.items.length, 3);
  t.deepEqual(
    res.items.map((i) => i.operation),
    ["DiscoverVersions", "Query", "Get"].map((o) => enumValue("Operation", o)),
  );
  t.deepEqual(
    res.items.map((i) => i.uniqueBatchItemId),
    ids,
  );
  t.deepEqual(
    res.items.map((i) => i.resultStatus),
    [0, 0, 1],
  );
});

test("a request without UniqueBatchItemID is accepted", async (t) => {
  const conn = await k.connect();
  const { res } = await exchange(
    conn,
    rawRequest(V1_4, [
      {
        operation: "Create",
        payload: [
          item("ObjectType", "SymmetricKey"),
          struct("TemplateAttribute", [
            struct("Attribute", [
              item("AttributeName", "Cryptographic Algorithm"),
              item("AttributeValue", enumValue("CryptographicAlgorithm", "AES"), TTLV_TYPE.Enumeration),
            ]),
            struct("Attribute", [item("AttributeName", "Cryptographic Length"), item("AttributeValue", 256, TTLV_TYPE.Integer)]),
          ]),
        ],
      },
    ]),
  );
  t.is(res.items[0].resultStatus, RESULT_STATUS.Success, res.items[0].resultMessage);
  t.is(res.items[0].uniqueBatchItemId, undefined);
  t.truthy(text(res.items[0].payload, "UniqueIdentifier"));
});

test("an unsupported protocol version (9.9) gets an error response, and the connection keeps working", async (t) => {
  const conn = await k.connect();
  const { res } = await exchange(conn, rawRequest({ major: 9, minor: 9 }, [{ operation: "Query", payload: [item("QueryFunction", "QueryOperations")] }]));
  t.is(res.items.length, 1);
  t.is(res.items[0].resultStatus, RESULT_STATUS.OperationFailed);
  t.truthy(reasonName(res));
  t.notDeepEqual(res.header.protocolVersion, { major: 9, minor: 9 }, "the server answers in a version it speaks");
  // Discover Versions is allowed with any version, to find a common one.
  const d = await exchange(conn, rawRequest({ major: 9, minor: 9 }, [{ operation: "DiscoverVersions" }]));
  t.is(d.res.items[0].resultStatus, RESULT_STATUS.Success);
  t.true(children(d.res.items[0].payload, "ProtocolVersion").length > 0);
  await assertWorks(t, conn, "after 9.9");
});

test("a declared length over 4 MiB closes the connection without crashing the server", async (t) => {
  const conn = await k.connect();
  const header = new Uint8Array([0x42, 0x00, 0x78, 0x01, 0x00, 0x50, 0x00, 0x00]); // 5 MiB RequestMessage
  await t.throwsAsync(conn.send(header, 5_000), { message: /closed|reset|EPIPE/i });
  t.false(conn.usable);
  const fresh = await k.connect();
  await assertWorks(t, fresh, "a new connection");
});

test("KMIP 1.x responses carry only ResultReason values that KMIP 1.x defines", async (t) => {
  // 1.4 defines ResultReason 0x01–0x18 and 0x100 (General Failure); 0x19+ are KMIP 2.x values a 1.x client cannot decode.
  const defined14 = (r: number) => (r >= 0x01 && r <= 0x18) || r === 0x100;
  const c = k.client(V1_4);
  const id = await c.create({ algorithm: "AES", length: 256, usage: "Encrypt" });
  const conn = await k.connect();
  const { res } = await exchange(
    conn,
    rawRequest(
      V1_4,
      [
        { operation: "Encrypt", payload: [item("UniqueIdentifier", id), item("Data", new Uint8Array(16))] }, // PreActive key
        { operation: "Activate", payload: [item("UniqueIdentifier", id)] },
        { operation: "Activate", payload: [item("UniqueIdentifier", id)] }, // Active already
        { operation: "Decrypt", payload: [item("UniqueIdentifier", id), item("Data", new Uint8Array(16)), item("IVCounterNonce", new Uint8Array(16))] }, // usage mask
      ],
      { batchErrorContinuationOption: "Continue" },
    ),
  );
  const failures = res.items.filter((i) => i.resultStatus === RESULT_STATUS.OperationFailed);
  t.is(failures.length, 3);
  for (const f of failures) {
    t.true(
      defined14(f.resultReason ?? -1),
      `${enumName("Operation", f.operation ?? 0)}: ResultReason 0x${(f.resultReason ?? 0).toString(16)} (${enumName("ResultReason", f.resultReason ?? 0, V2_1)}) is not a KMIP 1.4 value`,
    );
  }
});

const wrongTypedIds: [string, KmipVersion, Ttlv][] = [
  ["an Integer", V1_4, item("UniqueIdentifier", 42, TTLV_TYPE.Integer)],
  ["the 2.x ID placeholder enumeration with no placeholder set", V2_1, item("UniqueIdentifier", 1, TTLV_TYPE.Enumeration)],
  ["a Byte String", V1_4, item("UniqueIdentifier", new Uint8Array([1, 2, 3]))],
];
for (const [label, version, uid] of wrongTypedIds) {
  test(`handleMessage never throws: Get with a UniqueIdentifier that is ${label} gets an error result`, async (t) => {
    const dir = await tempDir();
    const store = openSqliteStore(path.join(dir, "s.sqlite"));
    try {
      const bytes = encodeTtlv(rawRequest(version, [{ operation: "Get", payload: [uid] }]));
      let out: Uint8Array | undefined;
      await t.notThrowsAsync(async () => {
        out = await handleMessage({ store, keyring: aesGcmKeyring(new Uint8Array(32)) }, "CN=test", bytes);
      });
      const res = decodeResponse(decodeTtlv(out!));
      t.is(res.items[0]?.resultStatus, RESULT_STATUS.OperationFailed);
      t.is(reasonName(res), "InvalidField");
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test("Query Capabilities and Query RNGs answer what this server does, in the fields each version defines", async (t) => {
  const conn = await k.connect();
  const ask = async (version: KmipVersion, fn: string) =>
    (await exchange(conn, rawRequest(version, [{ operation: "Query", payload: [item("QueryFunction", fn)] }]))).res.items[0];
  const caps = (await ask(V1_4, "QueryCapabilities"))?.payload;
  const info = child(caps, "CapabilityInformation");
  t.is(child(info, "StreamingCapability")?.value, true, "Encrypt and Decrypt can be streamed");
  t.is(child(info, "BatchUndoCapability")?.value, true, "Undo batches are supported");
  t.is(child(info, "BatchContinueCapability")?.value, true);
  t.is(enumName("DestroyAction", child(info, "DestroyAction")?.value as number), "KeyMaterialDeleted");
  const caps13 = child((await ask({ major: 1, minor: 3 }, "QueryCapabilities"))?.payload, "CapabilityInformation");
  t.truthy(caps13);
  t.is(child(caps13, "BatchUndoCapability"), undefined, "Batch Undo Capability is a KMIP 1.4 field");
  const rng = child((await ask(V2_1, "QueryRNGs"))?.payload, "RNGParameters");
  t.is(enumName("RNGAlgorithm", child(rng, "RNGAlgorithm")?.value as number), "DRBG");
  t.is(enumName("DRBGAlgorithm", child(rng, "DRBGAlgorithm")?.value as number), "CTR");
  t.is(child(rng, "CryptographicLength")?.value, 256);
});

test("RNG Retrieve returns the requested number of fresh random bytes, and refuses lengths outside 1..64 KiB", async (t) => {
  const conn = await k.connect();
  const retrieve = async (n: number) => (await exchange(conn, rawRequest(V1_4, [{ operation: "RNGRetrieve", payload: [item("DataLength", n)] }]))).res;
  const a = await retrieve(32);
  const b = await retrieve(32);
  const data = (r: ResponseMessage) => bytes(r.items[0]?.payload, "Data");
  t.is(a.items[0]?.resultStatus, RESULT_STATUS.Success);
  t.is(data(a)?.length, 32);
  t.notDeepEqual(data(a), data(b), "two retrievals differ");
  t.is(data(await retrieve(65_536))?.length, 65_536);
  for (const n of [0, -1, 65_537]) {
    const r = await retrieve(n);
    t.is(r.items[0]?.resultStatus, RESULT_STATUS.OperationFailed, `length ${n}`);
    t.is(reasonName(r), "InvalidField");
  }
});
