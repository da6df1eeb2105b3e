import test from "ava";
import { createService } from "./service.ts";
import { sseStream } from "./sse.ts";
import { captureLogger } from "./_test_support.ts";

test("sseStream: events are sent as text/event-stream, with keep-alive comments while the stream is idle", async (t) => {
  const app = createService({ name: "t", logger: captureLogger().logger });
  let release!: () => void;
  const idle = new Promise<void>((r) => (release = r));
  app.get("/events", (c) =>
    sseStream(
      c,
      async (s) => {
        await s.writeSSE({ event: "host", data: JSON.stringify({ host: "h1", status: "green" }) });
        await idle;
        await s.writeSSE({ event: "host", data: "bye" });
      },
      { keepAliveMs: 20 },
    ),
  );
  const r = await app.request("/events");
  t.is(r.status, 200);
  t.regex(r.headers.get("content-type") ?? "", /^text\/event-stream/);
  const reader = r.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  // Read until a keep-alive comment arrived after the first event, then let the producer finish.
  while (!text.includes(": keep-alive\n\n")) text += dec.decode((await reader.read()).value);
  release();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += dec.decode(value);
  }
  t.true(text.startsWith('event: host\ndata: {"host":"h1","status":"green"}\n\n'), text);
  t.regex(text, /event: host\ndata: bye\n\n$/);
});
