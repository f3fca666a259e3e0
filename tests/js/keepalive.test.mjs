// Keepalive: {"op":"ping"} at an interval taken from the welcome's policy,
// and a connection whose pong does not come is given up and replaced.
import { test } from "node:test";
import assert from "node:assert/strict";
import { _internal } from "../../edge/www/spoke.js";
import { makeClient, open } from "./helpers.mjs";
import { settle } from "./fakes.mjs";

const { keepaliveInterval } = _internal;

test("keepaliveInterval: half the idle timeout, at most the ping interval", () => {
  assert.equal(keepaliveInterval({ idle_timeout_ms: 300000, ping_interval_ms: 25000 }), 25000);
  assert.equal(keepaliveInterval({ idle_timeout_ms: 10000, ping_interval_ms: 25000 }), 5000);
  assert.equal(keepaliveInterval({ idle_timeout_ms: 0, ping_interval_ms: 0 }), 25000);
  assert.equal(keepaliveInterval({ idle_timeout_ms: 20, ping_interval_ms: 0 }), 100);
  assert.equal(keepaliveInterval(undefined), 25000);
});

test("pings go out at the welcome's rhythm and pongs keep the connection", async () => {
  const { client, clock, net } = await makeClient();
  const ws = await open(client, net, { policy: { idle_timeout_ms: 4000, ping_interval_ms: 25000 } });
  await clock.advance(1999);
  assert.equal(ws.ops("ping").length, 0);
  await clock.advance(1);
  assert.equal(ws.ops("ping").length, 1);
  ws.deliver({ op: "pong", id: ws.ops("ping")[0].id });
  await clock.advance(2000);
  assert.equal(ws.ops("ping").length, 2);
  ws.deliver({ op: "pong", id: ws.ops("ping")[1].id });
  await clock.advance(1000);
  assert.equal(client.state, "open");
  assert.equal(ws.closedWith, null);
  client.close();
});

test("no pong within connectTimeoutMs: the connection is dropped and replaced", async () => {
  const { client, clock, net } = await makeClient("ws://a/ws", { connectTimeoutMs: 3000 });
  const seen = [];
  client.on("reconnecting", (e) => seen.push(e));
  const ws = await open(client, net, { policy: { idle_timeout_ms: 0, ping_interval_ms: 10000 } });
  await clock.advance(10000);
  assert.equal(ws.ops("ping").length, 1);
  await clock.advance(2999);
  assert.equal(client.state, "open");
  await clock.advance(1);
  assert.equal(client.state, "reconnecting");
  assert.match(seen[0].reason, /no pong/);
  assert.ok(ws.closedWith);
  await clock.advance(seen[0].delayMs);
  assert.equal(net.sockets.length, 2);
  client.close();
});
