import test from "ava";
import { connect } from "node:tls";
import { createCa, issueCertificate } from "@tessera/pki";
import { encodeTtlv, item, type KmipVersion, struct, text, type Ttlv } from "@tessera/kmip";
import { KmipClient } from "@tessera/kmip-client";
import { rawRequest, rejectsWith, V1_4, V2_1, kmipdForTests } from "./_test_support.ts";

const k = kmipdForTests();

const data = new TextEncoder().encode("sixteen byte msg");

for (const version of [V1_4, V2_1] as KmipVersion[]) {
  const v = `${version.major}.${version.minor}`;

  test(`KMIP ${v}: bob cannot see or use alice's key; alice can`, async (t) => {
    const bobTls = await k.issueClient("bob");
    const alice = k.client(version);
    const bob = k.client(version, bobTls);
    // KMIP 2.x names a missing object ObjectNotFound; 1.x has only ItemNotFound.
    const NOT_FOUND = version.major >= 2 ? "ObjectNotFound" : "ItemNotFound";
    const name = `alice-key-${v}-${Date.now()}`;
    const id = await alice.create({ algorithm: "AES", length: 256, name });

    await rejectsWith(t, bob.get(id), NOT_FOUND, "bob Get");
    await rejectsWith(t, bob.getAttributes(id), NOT_FOUND, "bob GetAttributes");
    await rejectsWith(t, bob.request("GetAttributeList", [item("UniqueIdentifier", id)]), NOT_FOUND, "bob GetAttributeList");
    await rejectsWith(t, bob.activate(id), NOT_FOUND, "bob Activate");
    await rejectsWith(t, bob.destroy(id), NOT_FOUND, "bob Destroy");
    await rejectsWith(t, bob.revoke(id, "KeyCompromise"), NOT_FOUND, "bob Revoke");
    await rejectsWith(t, bob.encrypt(id, data), NOT_FOUND, "bob Encrypt (PreActive)");
    t.deepEqual(await bob.locate({ name }), [], "bob Locate by name");
    t.false((await bob.locate()).includes(id), "bob Locate (all)");

    // bob's attempts changed nothing: alice's key is still PreActive and has its material.
    const st = (await alice.getAttributes(id, ["State"])).get("State")?.[0];
    t.is(st?.value, 1, "still PreActive");

    // Alice can do all of it.
    t.is((await alice.get(id)).material?.length, 32);
    t.deepEqual(await alice.locate({ name }), [id]);
    await alice.activate(id);
    await rejectsWith(t, bob.encrypt(id, data), NOT_FOUND, "bob Encrypt (Active)");
    await rejectsWith(t, bob.decrypt(id, new Uint8Array(32), { iv: new Uint8Array(12), tag: new Uint8Array(16) }), NOT_FOUND, "bob Decrypt");
    const enc = await alice.encrypt(id, data);
    t.deepEqual(await alice.decrypt(id, enc.data, { iv: enc.iv, tag: enc.tag }), data);
    await alice.revoke(id);
    await rejectsWith(t, bob.destroy(id), NOT_FOUND, "bob Destroy (Deactivated)");
    await alice.destroy(id);
    // Even destroyed, the object stays invisible to bob.
    await rejectsWith(t, bob.getAttributes(id), NOT_FOUND, "bob GetAttributes after destroy");
  });

  test(`KMIP ${v}: registered keys of alice are invisible to bob, and bob's own keys to alice`, async (t) => {
    const bobTls = await k.issueClient("bob");
    const alice = k.client(version);
    const bob = k.client(version, bobTls);
    const NOT_FOUND = version.major >= 2 ? "ObjectNotFound" : "ItemNotFound";
    const reg = await alice.register({ objectType: "SymmetricKey", material: new Uint8Array(32).fill(7) });
    await rejectsWith(t, bob.get(reg), NOT_FOUND);
    const bobs = await bob.create({ algorithm: "AES", length: 128 });
    await rejectsWith(t, alice.get(bobs), NOT_FOUND);
    t.is((await bob.get(bobs)).material?.length, 16);
    t.false((await alice.locate()).includes(bobs));
    t.true((await bob.locate()).includes(bobs));
    t.false((await bob.locate()).includes(reg));
  });
}

test("the same subject from another CA cannot connect at all", async (t) => {
  const otherCa = await createCa({ commonName: "Mallory CA" });
  // Same subject as kmipd's own client certificate: only the issuer differs.
  const mallory = await issueCertificate(otherCa, { commonName: "kmipd-admin", profile: "client" });
  const c = new KmipClient({
    servers: [{ host: k.host, port: k.port }],
    tls: { cert: mallory.certificatePem, key: mallory.privateKeyPem!, ca: k.caPem },
    timeoutMs: 5_000,
    connectTimeoutMs: 5_000,
  });
  try {
    const e = await t.throwsAsync(c.discoverVersions());
    t.is((e as { code?: string } | undefined)?.code, "KMIP_TRANSPORT", e?.message);
  } finally {
    c.close();
  }
  // The server is fine afterwards.
  t.true((await k.client().discoverVersions()).length > 0);
});

test("a client without a certificate cannot connect (no response, connection closed)", async (t) => {
  const outcome = await new Promise<{ data: number; error?: string }>((resolve) => {
    let got = 0;
    const s = connect({ host: k.host, port: k.port, ca: k.caPem, minVersion: "TLSv1.2" });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ data: got, error: "timeout: the server kept the connection open" });
    }, 5_000);
    s.on("secureConnect", () => s.write(encodeTtlv(rawRequest(V1_4, [{ operation: "DiscoverVersions" }]))));
    s.on("data", (d: Buffer) => (got += d.length));
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ data: got });
    });
  });
  t.is(outcome.error, undefined);
  t.is(outcome.data, 0, "the server answered a client without a certificate");
  t.true((await k.client().discoverVersions()).length > 0);
});

test("the owner of an object is the subject of the creating client's certificate", async (t) => {
  const carol = await k.issueClient("carol");
  const c = k.client(V1_4, carol);
  const id = await c.create({ algorithm: "AES", length: 128 });
  const owner = (await k.kmipd.store.get(id))?.owner;
  t.is(owner, "CN=carol");
});

/** The Add Attribute payload that shares `id` with `subject` (1.x custom attribute; 2.x vendor attribute). */
function grantPayload(version: KmipVersion, id: string, subject: string) {
  const value = item("AttributeValue", subject, 0x07);
  return version.major >= 2
    ? [
        item("UniqueIdentifier", id),
        struct("NewAttribute", [struct("Attribute", [item("VendorIdentification", "x"), item("AttributeName", "tessera-grant"), value])]),
      ]
    : [item("UniqueIdentifier", id), struct("Attribute", [item("AttributeName", "x-tessera-grant"), value])];
}

for (const version of [V1_4, V2_1] as KmipVersion[]) {
  const v = `${version.major}.${version.minor}`;
  test(`KMIP ${v}: alice shares a key with carol (x-tessera-grant): carol may use it, not change it, nor see with whom it is shared`, async (t) => {
    const NOT_FOUND = version.major >= 2 ? "ObjectNotFound" : "ItemNotFound";
    const carolTls = await k.issueClient(`carol-${v}`);
    const daveTls = await k.issueClient(`dave-${v}`);
    const alice = k.client(version);
    const carol = k.client(version, carolTls);
    const dave = k.client(version, daveTls);
    const id = await alice.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt", name: `shared-${v}-${Date.now()}` });
    await alice.activate(id);
    await rejectsWith(t, carol.get(id), NOT_FOUND, "carol before the grant");
    // Carol's identity as kmipd sees it: the subject of her certificate.
    const carolIdentity = `CN=carol-${v}`;
    await alice.request("AddAttribute", grantPayload(version, id, carolIdentity));

    const got = await carol.get(id);
    t.is(got.length, 256, "carol gets the key");
    const sealed = await carol.encrypt(id, data, { mode: "GCM", iv: new Uint8Array(12) });
    t.deepEqual(await alice.decrypt(id, sealed.data, { mode: "GCM", iv: new Uint8Array(12), tag: sealed.tag }), data, "alice decrypts what carol encrypted");
    t.true((await carol.locate()).includes(id), "Locate lists what is shared with carol");
    // Attribute names as returned: 1.x names, and the Attribute Name inside 2.x vendor attributes.
    const names = (m: Map<string, Ttlv[]>) => [...m.entries()].flatMap(([n, vs]) => (n === "Attribute" ? vs.map((x) => text(x, "AttributeName") ?? "") : [n]));
    const carolSees = names(await carol.getAttributes(id));
    t.false(
      carolSees.some((n) => /grant/i.test(n)),
      `carol does not see the grants: ${carolSees.join(", ")}`,
    );
    const aliceSees = names(await alice.getAttributes(id));
    t.true(
      aliceSees.some((n) => /tessera-grant/.test(n)),
      `alice sees them: ${aliceSees.join(", ")}`,
    );

    await rejectsWith(t, carol.revoke(id, "KeyCompromise"), "PermissionDenied", "carol Revoke");
    await rejectsWith(t, carol.destroy(id), "PermissionDenied", "carol Destroy");
    await rejectsWith(t, carol.request("AddAttribute", grantPayload(version, id, `CN=dave-${v}`)), "PermissionDenied", "carol cannot share it on");
    await rejectsWith(t, dave.get(id), NOT_FOUND, "dave, never granted");

    // Alice takes the grant back.
    const del =
      version.major >= 2
        ? [
            item("UniqueIdentifier", id),
            struct("CurrentAttribute", [
              struct("Attribute", [item("VendorIdentification", "x"), item("AttributeName", "tessera-grant"), item("AttributeValue", carolIdentity, 0x07)]),
            ]),
          ]
        : [item("UniqueIdentifier", id), item("AttributeName", "x-tessera-grant"), item("AttributeIndex", 0)];
    await alice.request("DeleteAttribute", del);
    await rejectsWith(t, carol.get(id), NOT_FOUND, "carol after the grant is taken back");
    await rejectsWith(t, carol.encrypt(id, data, { mode: "GCM", iv: new Uint8Array(12) }), NOT_FOUND, "carol Encrypt after");
  });
}
