/**
 * Host status, history and removal, and the status event stream: through app.request() and over real HTTPS
 * (keep-alive comments, events, a closed connection unsubscribes).
 */
import test from "ava";
import type { AttestationRecord } from "../store/store.ts";
import { adminHarness, openSse, type AdminHarness } from "./admin_test_support.ts";

let h: AdminHarness;
let admin: string;
let reader: string;

function attempt(host: string, status: "affirming" | "contraindicated", at: number, extra: Partial<AttestationRecord> = {}): AttestationRecord {
  return {
    id: `${host}-${at}`,
    host,
    at,
    status,
    failures: status === "affirming" ? [] : [{ check: "quote-signature", detail: "the signature does not verify", pcr: 7 }],
    ...(status === "affirming" ? { image: { name: "base", version: "1" }, secureBoot: true, tokenId: "jti", tokenExpiresAt: at + 600_000 } : {}),
    ...extra,
  };
}

async function enroll(host: string): Promise<void> {
  await h.store.putHost({
    host,
    akPublic: new Uint8Array([1]),
    akName: `000b${"aa".repeat(32)}`,
    ekPublic: new Uint8Array([2]),
    ekFingerprint: "ee".repeat(32),
    enrolledAt: Date.now() - 100_000,
  });
}

test.before(async () => {
  h = await adminHarness({ admin: { keepAliveMs: 50 } });
  admin = await h.adminToken();
  reader = await h.readerToken();
  const now = Date.now();
  for (const host of ["green.example", "red.example", "stale.example", "new.example"]) await enroll(host);
  await h.store.addAttestation(attempt("green.example", "affirming", now - 1000));
  await h.store.addAttestation(attempt("red.example", "affirming", now - 5000));
  await h.store.addAttestation(attempt("red.example", "contraindicated", now - 1000));
  await h.store.addAttestation(attempt("stale.example", "affirming", now - 3_600_000));
});

test.after.always(async () => {
  await h?.close();
});

test.serial("GET /api/v1/hosts: each host's status and message, and the fleet summary", async (t) => {
  const r = await h.call("GET", "/api/v1/hosts", undefined, reader);
  t.is(r.status, 200);
  const by = Object.fromEntries(r.json.hosts.map((x: { host: string }) => [x.host, x]));
  t.is(by["green.example"].status, "green");
  t.deepEqual(by["green.example"].image, { name: "base", version: "1" });
  t.regex(by["green.example"].tokenExpiresAt, /^\d{4}-/);
  t.is(by["red.example"].status, "red");
  t.regex(by["red.example"].message, /quote-signature/);
  t.is(by["stale.example"].status, "stale");
  t.is(by["new.example"].status, "unknown");
  t.deepEqual(r.json.summary, { green: 1, red: 1, stale: 1, unknown: 1, total: 4 });
});

test.serial("GET /api/v1/hosts/{host}: enrollment and history with each failed check; unknown → 404", async (t) => {
  const r = await h.call("GET", "/api/v1/hosts/red.example", undefined, reader);
  t.is(r.status, 200);
  t.is(r.json.status, "red");
  t.is(r.json.enrollment.ekFingerprint, "ee".repeat(32));
  t.is(r.json.history.length, 2);
  t.is(r.json.history[0].status, "contraindicated", "newest first");
  t.deepEqual(r.json.history[0].failures, [{ check: "quote-signature", detail: "the signature does not verify", pcr: 7 }]);
  t.is(r.json.history[1].status, "affirming");
  t.is((await h.call("GET", "/api/v1/hosts/nobody.example", undefined, reader)).status, 404);
  t.is((await h.call("GET", "/api/v1/hosts/Bad_Name", undefined, reader)).status, 400);
});

test.serial("the event stream (app.request): ready, then each status change; cancelling unsubscribes", async (t) => {
  const base = h.events.subscribers;
  const res = await h.app.request("/api/v1/events", { headers: { authorization: `Bearer ${reader}` } });
  t.is(res.status, 200);
  t.regex(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const reader2 = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const until = async (re: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const m = re.exec(text);
      if (m) return m;
      const { value, done } = await reader2.read();
      if (done) throw new Error(`stream ended before ${re}: ${text}`);
      text += decoder.decode(value);
    }
  };
  await until(/event: ready\n/);
  t.is(h.events.subscribers, base + 1);
  h.events.publish({ host: "red.example", status: "green", previous: "red", at: Date.parse("2026-01-01T00:00:00Z"), message: "affirming" });
  const m = await until(/event: status\ndata: (.*)\nid: 1\n\n/);
  t.deepEqual(JSON.parse(m[1]), { host: "red.example", status: "green", previous: "red", at: "2026-01-01T00:00:00.000Z", message: "affirming" });
  await reader2.cancel();
  for (let i = 0; i < 100 && h.events.subscribers !== base; i++) await new Promise((r) => setTimeout(r, 20));
  t.is(h.events.subscribers, base);
});

test.serial("the event stream over HTTPS: keep-alive comments, events in order, a closed connection unsubscribes", async (t) => {
  const server = await h.serve();
  const base = h.events.subscribers;
  const refused = await openSse(`${server.url}/api/v1/events`, h.caCert, "not-a-token");
  t.is(refused.status, 401);
  refused.close();
  const sse = await openSse(`${server.url}/api/v1/events`, h.caCert, reader);
  t.is(sse.status, 200);
  t.is((await sse.next()).event, "ready");
  t.is(h.events.subscribers, base + 1);
  t.is((await sse.next()).comment, "keep-alive", "a keep-alive comment arrives while nothing happens");
  const at = Date.now();
  h.events.publish({ host: "a.example", status: "red", previous: "green", at, message: "quote-nonce: stale" });
  h.events.publish({ host: "b.example", status: "green", previous: "unknown", at, message: "affirming" });
  const received: unknown[] = [];
  while (received.length < 2) {
    const e = await sse.next();
    if (e.event === "status") received.push(JSON.parse(e.data ?? "null"));
  }
  t.like(received[0], { host: "a.example", status: "red", previous: "green" });
  t.like(received[1], { host: "b.example", status: "green", previous: "unknown" });
  sse.close();
  for (let i = 0; i < 200 && h.events.subscribers !== base; i++) await new Promise((r) => setTimeout(r, 20));
  t.is(h.events.subscribers, base, "the server unsubscribed the closed stream");
});

test.serial("DELETE /api/v1/hosts/{host}: gone from the store and the list, audited, and subscribers told", async (t) => {
  const seen: string[] = [];
  const off = h.events.subscribe((e) => seen.push(`${e.host}:${e.previous}->${e.status}`));
  const r = await h.call("DELETE", "/api/v1/hosts/green.example", undefined, admin);
  off();
  t.is(r.status, 200);
  t.is(await h.store.getHost("green.example"), undefined);
  t.is(await h.store.getHostStatus("green.example", Date.now()), undefined);
  t.deepEqual(seen, ["green.example:green->unknown"]);
  t.like((await h.store.listAudit(1))[0], { action: "host.remove", target: "green.example", actor: "admin" });
  t.is((await h.call("DELETE", "/api/v1/hosts/green.example", undefined, admin)).status, 404);
});
