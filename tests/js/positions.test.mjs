// Subscription positions: acks and msgs move them, a reconnect resubscribes
// with since = position, replayed duplicates are dropped, resets are told.
import { test } from "node:test";
import assert from "node:assert/strict";
import { _internal } from "../../edge/www/spoke.js";
import { makeClient, open, record } from "./helpers.mjs";
import { settle } from "./fakes.mjs";

const { applySubAck, isNewMsg, sinceFor } = _internal;

test("applySubAck: plain, recovered, not recovered, hub down", () => {
  assert.deepEqual(applySubAck(null, undefined, { seq: 5, epoch: "e" }),
    { position: { seq: 5, epoch: "e" }, reset: null });
  const since = { seq: 3, epoch: "e" };
  assert.deepEqual(applySubAck(since, since, { seq: 9, epoch: "e", recovered: true }),
    { position: { seq: 3, epoch: "e" }, reset: null }, "the replay of 4..9 follows");
  assert.deepEqual(applySubAck(since, since, { seq: 0, epoch: "f", recovered: false, reason: "epoch changed" }),
    { position: { seq: 0, epoch: "f" }, reset: { seq: 0, epoch: "f", reason: "epoch changed" } });
  assert.deepEqual(applySubAck(since, since, { recovered: false, reason: "hub unavailable" }),
    { position: since, reset: { seq: 3, epoch: "e", reason: "hub unavailable" } });
  assert.equal(sinceFor({ seq: 4, epoch: null }), undefined);
  assert.deepEqual(sinceFor({ seq: 4, epoch: "e", extra: 1 }), { seq: 4, epoch: "e" });
  assert.equal(isNewMsg({ seq: 4, epoch: "e" }, 4), false);
  assert.equal(isNewMsg({ seq: 4, epoch: "e" }, 5), true);
  assert.equal(isNewMsg(null, 1), true);
});

test("msgs carry the ack's epoch and move the position; sub.ready gives the ack's position", async () => {
  const { client, net } = await makeClient();
  const got = [];
  const sub = client.subscribe("t", (m) => got.push(m));
  const ws = await open(client, net);
  ws.ackSubs(10, "e1");
  assert.deepEqual(await sub.ready, { seq: 10, epoch: "e1" });
  ws.deliver({ op: "msg", topic: "t", seq: 11, data: "a", from: "c1", user: "u" });
  assert.deepEqual(got, [{ topic: "t", seq: 11, epoch: "e1", data: "a", from: "c1", user: "u" }]);
  assert.deepEqual(sub.position, { seq: 11, epoch: "e1" });
  client.close();
});

test("after a reconnect the sub goes again with since = position; the replay overlap is dropped", async () => {
  const { client, clock, net } = await makeClient(["ws://a/ws", "ws://b/ws"]);
  const seqs = [];
  const sub = client.subscribe("t", (m) => seqs.push(m.seq));
  net.sockets[1].drop(1006); // b fails: a wins the first race
  const ws1 = await open(client, net, {}, net.sockets[0]);
  ws1.ackSubs(2, "e1");
  for (const seq of [3, 4]) ws1.deliver({ op: "msg", topic: "t", seq, data: seq });
  ws1.drop(1001, "going away");
  await clock.advance(0);
  const ws2 = net.last;
  assert.equal(ws2.url, "ws://b/ws", "the drained edge was not avoided");
  ws2.accept();
  await settle();
  assert.deepEqual(ws2.ops("sub").map((m) => m.since), [{ seq: 4, epoch: "e1" }]);
  ws2.ackSubs(6, "e1", { recovered: true });
  for (const seq of [3, 4, 5, 6, 7]) ws2.deliver({ op: "msg", topic: "t", seq, data: seq });
  assert.deepEqual(seqs, [3, 4, 5, 6, 7]);
  assert.deepEqual(sub.position, { seq: 7, epoch: "e1" });
  client.close();
});

test("a resume the edge could not do is a reset event, and numbering goes on from the ack", async () => {
  const { client, net } = await makeClient();
  const seen = record(client, ["reset"]);
  const seqs = [];
  const sub = client.subscribe("t", (m) => seqs.push([m.seq, m.epoch]), { since: { seq: 40, epoch: "old" } });
  const ws = await open(client, net);
  assert.deepEqual(ws.ops("sub")[0].since, { seq: 40, epoch: "old" });
  ws.ackSubs(2, "new", { recovered: false, reason: "epoch changed: the topic's numbering restarted" });
  await sub.ready;
  assert.deepEqual(seen, [["reset", { topic: "t", seq: 2, epoch: "new",
    reason: "epoch changed: the topic's numbering restarted" }]]);
  ws.deliver({ op: "msg", topic: "t", seq: 3, data: null });
  assert.deepEqual(seqs, [[3, "new"]]);
  client.close();
});

test("a reset on a live subscription moves the position, even backwards into a new epoch", async () => {
  const { client, clock, net } = await makeClient();
  const seen = record(client, ["reset"]);
  const seqs = [];
  const sub = client.subscribe("t", (m) => seqs.push(m.seq));
  const ws = await open(client, net);
  ws.ackSubs(50, "e1");
  ws.deliver({ op: "msg", topic: "t", seq: 51 });
  ws.deliver({ op: "reset", topic: "t", seq: 0, epoch: "e2", reason: "the hub restarted" });
  ws.deliver({ op: "msg", topic: "t", seq: 1 });
  assert.deepEqual(seqs, [51, 1]);
  assert.equal(seen.length, 1);
  assert.deepEqual(sub.position, { seq: 1, epoch: "e2" });
  ws.drop(1006);
  await clock.advance(1000);
  (await open(client, net)).ops("sub").forEach((m) => assert.deepEqual(m.since, { seq: 1, epoch: "e2" }));
  client.close();
});

test("two handlers on a topic share one sub; the last unsubscribe sends unsub", async () => {
  const { client, net } = await makeClient();
  const a = [], b = [];
  const sa = client.subscribe("t", (m) => a.push(m.seq));
  const sb = client.subscribe("t", (m) => b.push(m.seq));
  const ws = await open(client, net);
  assert.equal(ws.ops("sub").length, 1);
  ws.ackSubs(0, "e");
  ws.deliver({ op: "msg", topic: "t", seq: 1 });
  sa.unsubscribe();
  ws.deliver({ op: "msg", topic: "t", seq: 2 });
  assert.equal(ws.ops("unsub").length, 0);
  sb.unsubscribe();
  assert.deepEqual(ws.ops("unsub"), [{ op: "unsub", topic: "t" }]);
  ws.deliver({ op: "msg", topic: "t", seq: 3 });
  assert.deepEqual([a, b], [[1], [1, 2]]);
  client.close();
});

test("a refused sub rejects ready, raises an error event and is not sent again", async () => {
  const { client, clock, net } = await makeClient();
  const seen = record(client, ["error"]);
  const sub = client.subscribe("secret", () => {});
  const ws = await open(client, net);
  ws.deliver({ op: "error", id: ws.ops("sub")[0].id, code: 403, reason: "not allowed to subscribe to this topic" });
  await assert.rejects(sub.ready, (e) => e.code === 403);
  assert.equal(seen.length, 1);
  ws.drop(1006);
  await clock.advance(1000);
  assert.equal((await open(client, net)).ops("sub").length, 0);
  client.close();
});

test("subscribe while offline is sent on open; while open at once", async () => {
  const { client, net } = await makeClient();
  client.subscribe("early", () => {});
  const ws = await open(client, net);
  client.subscribe("late", () => {});
  assert.deepEqual(ws.ops("sub").map((m) => m.topic), ["early", "late"]);
  client.close();
});
