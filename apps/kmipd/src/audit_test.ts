import test from "ava";
import { enumValue, item, struct, text } from "@tessera/kmip";
import type { AuditEntry } from "./store/store.ts";
import { exchange, rawRequest, rejectsWith, V1_4, V2_1, kmipdForTests } from "./_test_support.ts";

const k = kmipdForTests();
const ALICE = "CN=kmipd-admin";

async function entriesFor(objectId: string): Promise<AuditEntry[]> {
  return (await k.kmipd.store.auditLog(100_000)).filter((e) => e.objectId === objectId);
}

const pairs = (es: AuditEntry[]) => es.map((e) => [e.operation, e.result]);

for (const version of [V1_4, V2_1]) {
  const v = `KMIP ${version.major}.${version.minor}`;

  test(`${v}: every operation of a key's life, successes and failures, is audited with identity, operation, object id and result`, async (t) => {
    const c = k.client(version);
    const name = `audited-${version.major}-${Date.now()}`;
    const before = Date.now();
    const id = await c.create({ algorithm: "AES", length: 256, name });
    await c.getAttributes(id);
    await c.request("GetAttributeList", [item("UniqueIdentifier", id)]);
    await rejectsWith(t, c.encrypt(id, new Uint8Array(16)), ["WrongKeyLifecycleState", "PermissionDenied", "IllegalOperation"]);
    await c.activate(id);
    const enc = await c.encrypt(id, new Uint8Array(16));
    await c.decrypt(id, enc.data, { iv: enc.iv, tag: enc.tag });
    const badTag = new Uint8Array(enc.tag!);
    badTag[0] ^= 1;
    await rejectsWith(t, c.decrypt(id, enc.data, { iv: enc.iv, tag: badTag }), "CryptographicFailure");
    await c.get(id);
    t.deepEqual(await c.locate({ name }), [id]);
    await rejectsWith(t, c.destroy(id), ["WrongKeyLifecycleState", "PermissionDenied", "IllegalOperation"]);
    await c.revoke(id);
    await c.destroy(id);
    await rejectsWith(t, c.get(id), ["ObjectDestroyed", "ItemNotFound"]);
    const after = Date.now();

    const es = await entriesFor(id);
    t.true(
      es.every((e) => e.identity === ALICE),
      "identity is the client certificate subject",
    );
    t.true(
      es.every((e) => e.at >= before - 1000 && e.at <= after + 1000),
      "timestamps are the time of the operation",
    );
    t.true(
      es.every((e, i) => i === 0 || e.at >= es[i - 1].at),
      "in order",
    );
    const lifecycle = version.major >= 2 ? "WrongKeyLifecycleState" : es.find((e) => e.operation === "Encrypt" && e.result !== "Success")?.result.split(" ")[1];
    const destroyed = version.major >= 2 ? "ObjectDestroyed" : "ItemNotFound";
    t.deepEqual(pairs(es), [
      ["Create", "Success"],
      ["GetAttributes", "Success"],
      ["GetAttributeList", "Success"],
      ["Encrypt", `OperationFailed ${lifecycle}`],
      ["Activate", "Success"],
      ["Encrypt", "Success"],
      ["Decrypt", "Success"],
      ["Decrypt", "OperationFailed CryptographicFailure"],
      ["Get", "Success"],
      ["Locate", "Success"],
      ["Destroy", `OperationFailed ${lifecycle}`],
      ["Revoke", "Success"],
      ["Destroy", "Success"],
      ["Get", `OperationFailed ${destroyed}`],
    ]);
    // The onAudit hook saw the same records.
    t.deepEqual(
      k.audit.filter((e) => e.objectId === id),
      es,
    );
  });
}

test("failures name the identity, the requested object id and the reason; other clients' attempts are audited as theirs", async (t) => {
  const alice = k.client();
  const bob = k.client(V1_4, await k.issueClient("bob"));
  const id = await alice.create({ algorithm: "AES", length: 128 });
  await rejectsWith(t, bob.get(id), "ItemNotFound");
  await rejectsWith(t, bob.destroy(id), "ItemNotFound");
  const missing = `missing-${Date.now()}`;
  await rejectsWith(t, alice.get(missing), "ItemNotFound");
  const es = await entriesFor(id);
  t.deepEqual(
    es.map((e) => [e.identity, e.operation, e.result]),
    [
      [ALICE, "Create", "Success"],
      ["CN=bob", "Get", "OperationFailed ObjectNotFound"],
      ["CN=bob", "Destroy", "OperationFailed ObjectNotFound"],
    ],
  );
  t.deepEqual(
    (await entriesFor(missing)).map((e) => [e.identity, e.operation, e.result]),
    [[ALICE, "Get", "OperationFailed ObjectNotFound"]],
  );
});

test("operations without an object (Query, DiscoverVersions, unknown operations) are audited too", async (t) => {
  const conn = await k.connect(await k.issueClient("auditor-ops"));
  await exchange(conn, rawRequest(V1_4, [{ operation: "DiscoverVersions" }]));
  await exchange(conn, rawRequest(V1_4, [{ operation: "Query", payload: [item("QueryFunction", "QueryOperations")] }]));
  await exchange(conn, rawRequest(V1_4, [{ operation: 0xaaaa }]));
  const es = (await k.kmipd.store.auditLog(100_000)).filter((e) => e.identity === "CN=auditor-ops");
  t.deepEqual(
    es.map((e) => [e.operation, e.objectId, e.result]),
    [
      ["DiscoverVersions", null, "Success"],
      ["Query", null, "Success"],
      ["0x0000aaaa", null, "OperationFailed OperationNotSupported"],
    ],
  );
});

test("every item of a batch is audited, and a failure on the ID placeholder names the placeholder's object", async (t) => {
  const conn = await k.connect(await k.issueClient("auditor-batch"));
  const { res } = await exchange(
    conn,
    rawRequest(V2_1, [
      {
        operation: "Create",
        payload: [
          item("ObjectType", "SymmetricKey"),
          struct("Attributes", [item("CryptographicAlgorithm", "AES"), item("CryptographicLength", 128), item("CryptographicUsageMask", "Encrypt")]),
        ],
      },
      { operation: "Activate" },
      { operation: "Activate" }, // fails: already Active
    ]),
  );
  const id = text(res.items[0].payload, "UniqueIdentifier")!;
  t.deepEqual(
    res.items.map((i) => i.resultStatus),
    [0, 0, 1],
  );
  const es = (await k.kmipd.store.auditLog(100_000)).filter((e) => e.identity === "CN=auditor-batch");
  t.deepEqual(
    es.map((e) => [e.operation, e.objectId, e.result]),
    [
      ["Create", id, "Success"],
      ["Activate", id, "Success"],
      ["Activate", id, "OperationFailed WrongKeyLifecycleState"],
    ],
  );
  t.is(res.items[2].operation, enumValue("Operation", "Activate"));
});

test("CreateKeyPair and Register are audited with the new object's id", async (t) => {
  const c = k.client(V2_1, await k.issueClient("auditor-create"));
  const p = await c.request("CreateKeyPair", [
    struct("CommonAttributes", [item("CryptographicAlgorithm", "EC"), item("CryptographicLength", 256)]),
    struct("PrivateKeyAttributes", []),
    struct("PublicKeyAttributes", []),
  ]);
  const priv = text(p, "PrivateKeyUniqueIdentifier")!;
  const pub = text(p, "PublicKeyUniqueIdentifier")!;
  const reg = await c.register({ objectType: "SecretData", material: new Uint8Array([1, 2, 3]) });
  const es = (await k.kmipd.store.auditLog(100_000)).filter((e) => e.identity === "CN=auditor-create");
  t.is(es.length, 2);
  t.is(es[0].operation, "CreateKeyPair");
  t.true(es[0].objectId === priv || es[0].objectId === pub, `CreateKeyPair audited with ${es[0].objectId}`);
  t.deepEqual([es[1].operation, es[1].objectId, es[1].result], ["Register", reg, "Success"]);
});
