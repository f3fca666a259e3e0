// The offline queue: publishes and sends made while not open wait (at most
// maxQueue), go out in order once open, and are rejected on close().
import { test } from "node:test";
import assert from "node:assert/strict";
import { SpokeError, _internal } from "../../edge/www/spoke.js";
import { makeClient, open } from "./helpers.mjs";
import { settle } from "./fakes.mjs";

test("OfflineQueue refuses beyond its limit and drains in order", () => {
  const q = new _internal.OfflineQueue(2);
  assert.equal(q.push("a"), true);
  assert.equal(q.push("b"), true);
  assert.equal(q.push("c"), false);
  assert.deepEqual(q.drain(), ["a", "b"]);
  assert.equal(q.length, 0);
});

test("publishes beyond maxQueue are rejected with 503 while offline", async () => {
  const { client } = await makeClient("ws://a/ws", { maxQueue: 2 });
  const p1 = client.publish("t", 1), p2 = client.publish("t", 2);
  await assert.rejects(client.publish("t", 3), (e) => e instanceof SpokeError && e.code === 503);
  client.close();
  await assert.rejects(p1, (e) => e.code === 503);
  await assert.rejects(p2, (e) => e.code === 503);
});

test("on open: subscriptions first, then queued requests in call order, ids increasing", async () => {
  const { client, net } = await makeClient();
  client.subscribe("room", () => {});
  const pubs = [client.publish("room", "a"), client.send("edge-b:0:00000000:1", "b"),
    client.publish("room", "c")];
  const ws = await open(client, net);
  assert.deepEqual(ws.sent.map((m) => [m.op, m.id, m.data]),
    [["sub", 1, undefined], ["pub", 2, "a"], ["send", 3, "b"], ["pub", 4, "c"]]);
  assert.equal(ws.sent[2].to, "edge-b:0:00000000:1");
  ws.deliver({ op: "ack", id: 2, seq: 7, epoch: "e1" });
  ws.deliver({ op: "ack", id: 3 });
  ws.deliver({ op: "error", id: 4, code: 403, reason: "not allowed to publish to this topic" });
  assert.deepEqual(await pubs[0], { seq: 7, epoch: "e1" });
  assert.equal(await pubs[1], undefined);
  await assert.rejects(pubs[2], (e) => e.code === 403 && e.reason.startsWith("not allowed"));
  client.close();
});

test("a request sent but not acked fails with 504 when the connection is lost", async () => {
  const { client, net } = await makeClient();
  const ws = await open(client, net);
  const p = client.publish("t", "x");
  assert.equal(ws.ops("pub").length, 1);
  ws.drop(1006);
  await assert.rejects(p, (e) => e.code === 504 && /may have been/.test(e.reason));
  const later = client.publish("t", "y"); // offline now: queued for the next connection
  await settle();
  assert.equal(ws.ops("pub").length, 1);
  client.close();
  await assert.rejects(later, (e) => e.code === 503);
});

test("an ack that does not come within ackTimeoutMs rejects with 504; a late ack is ignored", async () => {
  const { client, clock, net } = await makeClient("ws://a/ws", { ackTimeoutMs: 1000 });
  const ws = await open(client, net);
  const p = client.publish("t", "x");
  const id = ws.ops("pub")[0].id;
  await clock.advance(999);
  let settled = false;
  p.then(() => { settled = true; }, () => { settled = true; });
  await settle();
  assert.equal(settled, false);
  await clock.advance(1);
  await assert.rejects(p, (e) => e.code === 504);
  ws.deliver({ op: "ack", id, seq: 1, epoch: "e" }); // must not throw or resolve anything
  client.close();
});

test("an error without an id is an error event", async () => {
  const { client, net } = await makeClient();
  const errors = [];
  client.on("error", (e) => errors.push(e));
  (await open(client, net)).deliver({ op: "error", code: 400, reason: "malformed JSON" });
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof SpokeError);
  assert.equal(errors[0].code, 400);
  client.close();
});

test("direct messages are direct events", async () => {
  const { client, net } = await makeClient();
  const got = [];
  client.on("direct", (d) => got.push(d));
  const off = client.on("direct", () => got.push("second"));
  off();
  (await open(client, net)).deliver({ op: "direct", from: "edge-b:0:1:2", data: { x: 1 }, user: "bob" });
  assert.deepEqual(got, [{ from: "edge-b:0:1:2", data: { x: 1 }, user: "bob" }]);
  client.close();
});

test("rpc sends method and data with an id and resolves with the backend's data", async () => {
  const { client, net } = await makeClient();
  const ws = await open(client, net);
  const p = client.rpc("orders.list", { page: 1 });
  const q = client.rpc("nope");
  const [a, b] = ws.ops("rpc");
  assert.equal(a.method, "orders.list");
  assert.deepEqual(a.data, { page: 1 });
  assert.equal(b.data, null);
  ws.deliver({ op: "rpc", id: a.id, data: [1, 2] });
  ws.deliver({ op: "error", id: b.id, code: 404, reason: "no such method" });
  assert.deepEqual(await p, [1, 2]);
  await assert.rejects(q, (e) => e instanceof SpokeError && e.code === 404);
  client.close();
});
