// Compiled (never run) by types.test.mjs: every use of the API that
// docs/clients.md shows must type-check against edge/www/spoke.d.ts, and
// the misuses marked @ts-expect-error must not.
import Spoke, { Spoke as Named, SpokeError, Message, Position, Welcome } from "../../edge/www/spoke.js";

async function example(): Promise<void> {
  const client = new Spoke(["wss://a/ws", "wss://b/ws"], {
    token: async () => "jwt", edgesUrl: "/edges.json", minBackoffMs: 100, maxBackoffMs: 5000,
    maxQueue: 10, ackTimeoutMs: 1000, connectTimeoutMs: 1000,
  });
  const same: Named = client;
  const w: Welcome = await client.ready;
  const idle: number = w.policy.idle_timeout_ms;
  const off = client.on("reconnecting", (e) => { const d: number = e.delayMs; void d; });
  off();
  client.on("reset", (r) => { const s: number = r.seq; const e: string = r.epoch; void s; void e; });
  client.on("direct", (d) => { const f: string = d.from; void f; });
  client.on("error", (e) => { const c: number = e.code; void c; });
  client.on("state", (s) => { if (s === "open" || s === "closed") void s; });
  const sub = client.subscribe<{ text: string }>("chat", (m: Message<{ text: string }>) => {
    const t: string = m.data.text; const seq: number = m.seq; void t; void seq;
  }, { since: { seq: 1, epoch: "abc" } });
  const p: Position | null = await sub.ready;
  const pos: Position | null = sub.position;
  sub.unsubscribe();
  const ack: Position = await client.publish("chat", { text: "hi" });
  await client.send(w.conn, "psst");
  try { await client.publish("x", 1); } catch (e) {
    if (e instanceof SpokeError) { const r: string = e.reason; void r; }
  }
  // @ts-expect-error: no such event
  client.on("message", () => {});
  // @ts-expect-error: since needs an epoch
  client.subscribe("t", () => {}, { since: { seq: 1 } });
  // @ts-expect-error: states are a closed set
  const bad: typeof client.state = "opening";
  client.close();
  void same; void idle; void p; void pos; void ack; void bad;
}
void example;
