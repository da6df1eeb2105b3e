/**
 * Concurrent changes to one object, from many connections served by two threads: none is lost, and usage limits
 * are never overspent.
 */
import test from "ava";
import { child, item, KmipResultError, struct, TTLV_TYPE } from "@tessera/kmip";
import type { KmipClient } from "@tessera/kmip-client";
import { V1_4, kmipdForTests } from "./_test_support.ts";

const k = kmipdForTests({ threads: 2 });
/** `n` clients of their own (a connection each, spread over the serving threads). */
function clients(n: number) {
  return Array.from({ length: n }, () => k.client(V1_4));
}

test("attribute changes made at the same moment from 8 connections on 2 threads are all kept", async (t) => {
  const owner = k.client(V1_4);
  const id = await owner.create({ algorithm: "AES", length: 256 });
  const many = clients(8);
  await Promise.all(many.map((c, i) => Promise.all(Array.from({ length: 5 }, (_, j) => c.addCustomAttribute(id, "x-race", `v${i}-${j}`)))));
  const values = (await owner.getAttributes(id, ["x-race"])).get("x-race") ?? [];
  const texts = values.map((v) => (v.type === TTLV_TYPE.TextString ? v.value : "")).sort();
  t.is(texts.length, 40, "every one of the 40 values added is there");
  t.deepEqual(new Set(texts).size, 40);
});

test("usage limits hold under 60 concurrent Encrypts: exactly the allowed number succeed", async (t) => {
  const owner = k.client(V1_4);
  const limits = [item("UsageLimitsTotal", 25n), item("UsageLimitsCount", 25n), item("UsageLimitsUnit", "Object")];
  const id = await owner.create({ algorithm: "AES", length: 256, attributes: [{ name: "UsageLimits", value: limits }] });
  await owner.activate(id);
  const many = clients(6);
  const data = new Uint8Array(32);
  // A request that waited too long for the object (a very loaded machine) is told to try again, and is retried as a
  // client would: it was not applied, so the count stays exact.
  const encrypt = async (c: KmipClient): Promise<unknown> => {
    for (;;) {
      try {
        return await c.encrypt(id, data, { mode: "GCM" });
      } catch (e) {
        if (!(e instanceof KmipResultError && e.reason === "GeneralFailure" && /being changed by other requests .*try again/.test(e.message))) throw e;
      }
    }
  };
  const results = await Promise.allSettled(many.flatMap((c) => Array.from({ length: 10 }, () => encrypt(c))));
  const ok = results.filter((r) => r.status === "fulfilled").length;
  const refused = results.filter((r) => r.status === "rejected" && r.reason instanceof KmipResultError && r.reason.reason === "PermissionDenied").length;
  t.is(ok, 25, "as many Encrypts succeed as the limit allows");
  t.is(refused, 35, "the rest are refused for their usage limits");
  const left = (await owner.getAttributes(id, ["Usage Limits"])).get("Usage Limits")?.[0];
  const count = child(left, "UsageLimitsCount");
  t.is(count?.type === TTLV_TYPE.LongInteger ? count.value : undefined, 0n, "nothing left, and never below zero");
});

test("a lifecycle change racing attribute changes: both kept", async (t) => {
  const owner = k.client(V1_4);
  const id = await owner.create({ algorithm: "AES", length: 256 });
  const many = clients(4);
  await Promise.all([owner.activate(id), ...many.map((c, i) => c.addCustomAttribute(id, "x-side", `s${i}`))]);
  const attrs = await owner.getAttributes(id, ["State", "x-side"]);
  const state = attrs.get("State")?.[0];
  t.is(state?.type === TTLV_TYPE.Enumeration ? state.value : undefined, 2, "Active");
  t.is(attrs.get("x-side")?.length, 4);
});

test("one name given to 8 objects at the same moment from 8 connections: exactly one gets it", async (t) => {
  const owner = k.client(V1_4);
  const ids = await Promise.all(Array.from({ length: 8 }, () => owner.create({ algorithm: "AES", length: 128 })));
  const name = `contended-${ids[0]}`;
  // Connected first, so that the eight requests arrive together rather than one TLS handshake apart.
  const many = clients(8);
  await Promise.all(many.map((c) => c.discoverVersions()));
  const results = await Promise.allSettled(
    many.map((c, i) =>
      c.request("AddAttribute", [
        item("UniqueIdentifier", ids[i]),
        struct("Attribute", [item("AttributeName", "Name"), struct("AttributeValue", [item("NameValue", name), item("NameType", "UninterpretedTextString")])]),
      ]),
    ),
  );
  t.is(results.filter((r) => r.status === "fulfilled").length, 1);
  t.is((await owner.locate({ name })).length, 1);
});
