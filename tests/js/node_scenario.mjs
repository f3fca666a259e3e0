// Drives spoke.js against a real hub and two edges for
// tests/integration/test_js_client_node.py: publishes on one edge and
// subscribes on the other, sends a direct message, is kicked and resumes
// with `since`, races two edges, resumes from a position on another edge.
// Usage: node node_scenario.mjs WS_URL_A WS_URL_B HUB_HTTP_PORT
// Prints one JSON line with what it saw; exits 1 with the reason on failure.
import assert from "node:assert/strict";
import { Spoke } from "../../edge/www/spoke.js";
import { NodeWebSocket } from "./node_ws.mjs";

const [urlA, urlB, hubPort] = process.argv.slice(2);
const DEADLINE_MS = Number(process.env.SPOKE_JS_DEADLINE_MS || 10000);
const TOPIC = "js/resume";

/** Polls pred every 20 ms until it holds, or throws after DEADLINE_MS. */
async function waitFor(pred, what) {
  const end = Date.now() + DEADLINE_MS;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function kick(conn) {
  const res = await fetch(`http://127.0.0.1:${hubPort}/api/disconnect`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ conn, code: 4001, reason: "test kick" }),
  });
  assert.equal(res.status, 202, `kick answered ${res.status}: ${await res.text()}`);
}

async function main() {
  const clients = [];
  const make = (urls, opts = {}) => {
    const c = new Spoke(urls, { WebSocket: NodeWebSocket, ...opts });
    clients.push(c);
    return c;
  };
  try {
    // A's token provider waits at a gate on its second call, so that the
    // test publishes while A is certainly disconnected.
    let tokenCalls = 0, openGate;
    const gate = new Promise((r) => { openGate = r; });
    const a = make(urlA, { token: async () => { if (++tokenCalls >= 2) await gate; return undefined; } });
    const b = make(urlB);
    const [wa, wb] = await Promise.all([a.ready, b.ready]);
    assert.equal(wa.edge, "edge-a");
    assert.equal(wb.edge, "edge-b");

    const got = [];
    const sub = a.subscribe(TOPIC, (m) => got.push(m));
    const first = await sub.ready;
    assert.equal(first.seq, 0, "a fresh topic starts at 0");
    const acks = [];
    for (let i = 1; i <= 3; i++) acks.push(await b.publish(TOPIC, { i }));
    assert.deepEqual(acks.map((x) => x.seq), [1, 2, 3]);
    await waitFor(() => got.length === 3, "3 messages on edge-a");
    assert.deepEqual(got.map((m) => [m.seq, m.data.i, m.from, m.epoch]),
      [1, 2, 3].map((s) => [s, s, wb.conn, acks[0].epoch]));

    const directs = [];
    a.on("direct", (d) => directs.push(d));
    await b.send(wa.conn, "psst");
    await waitFor(() => directs.length === 1, "the direct message");
    assert.deepEqual(directs[0], { from: wb.conn, data: "psst", user: undefined });

    // Kicked: A reconnects (its token provider waits) while B publishes 4 and 5.
    const closes = [];
    a.on("reconnecting", (e) => closes.push(e.code));
    await kick(wa.conn);
    await waitFor(() => a.state === "reconnecting" && tokenCalls === 2, "A waiting to reconnect");
    for (let i = 4; i <= 5; i++) acks.push(await b.publish(TOPIC, { i }));
    openGate();
    await waitFor(() => got.length === 5, "messages 4 and 5 after the resume");
    assert.deepEqual(got.map((m) => m.seq), [1, 2, 3, 4, 5]);
    assert.notEqual(a.welcome.conn, wa.conn, "A did not get a new connection");
    assert.deepEqual(closes, [4001]);
    assert.deepEqual(sub.position, { seq: 5, epoch: acks[0].epoch });

    // Two URLs: a race; the winner is kept, both are measured.
    const c = make([urlA, urlB]);
    const wc = await c.ready;
    assert.ok(["edge-a", "edge-b"].includes(wc.edge));
    await waitFor(() => [urlA, urlB].every((u) => (c._stats.get(u)?.ms ?? null) !== null), "both edges timed");
    const timed = Object.fromEntries([urlA, urlB].map((u) => [u, c._stats.get(u).ms]));

    // A position taken on edge-a resumes on edge-b.
    const d = make(urlB);
    const resumed = [];
    const dsub = d.subscribe(TOPIC, (m) => resumed.push(m.seq), { since: { seq: 3, epoch: acks[0].epoch } });
    await dsub.ready;
    await waitFor(() => resumed.length === 2, "the replay of 4 and 5 on edge-b");
    assert.deepEqual(resumed, [4, 5]);

    console.log(JSON.stringify({ seqs: got.map((m) => m.seq), epoch: acks[0].epoch, resumed,
      race_winner: wc.edge, timed, token_calls: tokenCalls }));
  } finally {
    for (const c of clients) c.close();
  }
}

// On success the process ends by itself once every socket is closed: a
// timer or socket the client leaked would keep it running (the test's timeout).
main().then(() => {}, (e) => {
  console.error(`node_scenario: ${e && e.stack || e}`);
  process.exit(1);
});
