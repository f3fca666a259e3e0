// Tokens: a string or a provider, called again for every connection and
// sent as ?token=, never shown in client.url.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Spoke, _internal } from "../../edge/www/spoke.js";
import { makeClient, open } from "./helpers.mjs";
import { settle } from "./fakes.mjs";

test("withToken appends ?token= or &token=, percent-encoded", () => {
  assert.equal(_internal.withToken("ws://a/ws", "x y&z"), "ws://a/ws?token=x%20y%26z");
  assert.equal(_internal.withToken("ws://a/ws?v=1", "t"), "ws://a/ws?v=1&token=t");
  assert.equal(_internal.withToken("ws://a/ws", undefined), "ws://a/ws");
});

test("an async token provider is called on every connect", async () => {
  let n = 0;
  const token = async () => `tok${++n}`;
  const { client, clock, net } = await makeClient("ws://a/ws", { token });
  await settle();
  assert.equal(net.sockets[0].url, "ws://a/ws?token=tok1");
  (await open(client, net)).drop(4001, "kicked");
  await settle();
  await clock.advance(1000);
  assert.equal(net.sockets[1].url, "ws://a/ws?token=tok2");
  await open(client, net);
  assert.equal(client.url, "ws://a/ws");
  assert.equal(n, 2);
  client.close();
});

test("a provider that throws is a failed attempt, retried", async () => {
  let calls = 0;
  const token = () => { if (++calls === 1) throw new Error("no session"); return "ok"; };
  const { client, clock, net } = await makeClient("ws://a/ws", { token });
  await settle();
  assert.equal(net.sockets.length, 0);
  assert.equal(client.state, "reconnecting");
  await clock.advance(1000);
  assert.equal(net.sockets[0].url, "ws://a/ws?token=ok");
  client.close();
});

test("ready resolves with the first welcome; states and events come in order", async () => {
  const { client, net } = await makeClient();
  const states = [];
  client.on("state", (s) => states.push(s));
  const ws = await open(client, net, { conn: "edge-a:0:00000000:9" });
  assert.equal((await client.ready).conn, "edge-a:0:00000000:9");
  ws.drop(4000);
  await settle();
  client.close();
  assert.deepEqual(states, ["open", "reconnecting", "closed"]);
});

test("without a WebSocket constructor the client says how to give one", () => {
  const saved = globalThis.WebSocket;
  globalThis.WebSocket = undefined;
  try {
    assert.throws(() => new Spoke("ws://a/ws"), /options\.WebSocket/);
  } finally { globalThis.WebSocket = saved; }
});
