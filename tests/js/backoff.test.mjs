// Reconnect timing: full-jitter exponential backoff within its bounds, and
// what each close code asks for (at once, backoff, the maximum).
import { test } from "node:test";
import assert from "node:assert/strict";
import { _internal } from "../../edge/www/spoke.js";
import { makeClient, open } from "./helpers.mjs";
import { settle } from "./fakes.mjs";

const { backoffDelay, closeDecision, reconnectDelay } = _internal;

test("backoff cap doubles from min and stops at max", () => {
  const top = () => 0.999999;
  const caps = [0, 1, 2, 3, 4, 5, 6, 7, 10, 50].map((a) => backoffDelay(a, 250, 10000, top));
  assert.deepEqual(caps, [249, 499, 999, 1999, 3999, 7999, 9999, 9999, 9999, 9999]);
  assert.equal(backoffDelay(3, 250, 10000, () => 0), 0, "full jitter reaches 0");
});

test("backoff jitter is uniform over [0, cap)", () => {
  let x = 12345; // a fixed LCG, so the test is the same on every run
  const random = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  const n = 20000, buckets = new Array(10).fill(0);
  for (let i = 0; i < n; i++) {
    const d = backoffDelay(4, 250, 10000, random); // cap 4000
    assert.ok(d >= 0 && d < 4000, `delay ${d} out of [0, 4000)`);
    buckets[Math.floor(d / 400)]++;
  }
  for (const b of buckets) assert.ok(Math.abs(b - n / 10) < n / 10 * 0.1, `buckets ${buckets}`);
});

test("close codes: 1001 at once elsewhere, 1008 the maximum, others backoff", () => {
  assert.deepEqual(closeDecision(1001), { delay: "now", avoid: true });
  assert.deepEqual(closeDecision(1008), { delay: "max", avoid: false });
  assert.deepEqual(closeDecision(1006), { delay: "backoff", avoid: true });
  for (const code of [4000, 4001, 1011, 1009, 1002, 1000]) {
    assert.deepEqual(closeDecision(code), { delay: "backoff", avoid: false }, `code ${code}`);
  }
  const opts = { minBackoffMs: 250, maxBackoffMs: 10000 };
  assert.equal(reconnectDelay("now", 5, opts, () => 0.9), 0);
  assert.equal(reconnectDelay("max", 0, opts, () => 0), 5000);
  assert.equal(reconnectDelay("max", 0, opts, () => 0.999999), 9999);
});

test("a lost connection reconnects after the jittered backoff, growing per failure", async () => {
  const { client, clock, net } = await makeClient("ws://a/ws", { random: () => 0.5 });
  const delays = [];
  client.on("reconnecting", (e) => delays.push(e.delayMs));
  const ws = await open(client, net);
  ws.drop(4000, "idle timeout");
  await settle();
  assert.equal(client.state, "reconnecting");
  assert.deepEqual(delays, [125]);      // attempt 0: cap 250, half of it
  assert.equal(net.sockets.length, 1);
  await clock.advance(124);
  assert.equal(net.sockets.length, 1, "reconnected before the delay");
  await clock.advance(1);
  assert.equal(net.sockets.length, 2);
  net.last.drop(1006);                   // the attempt fails: the next waits longer
  await settle();
  assert.deepEqual(delays, [125, 250]);
  await clock.advance(250);
  await open(client, net);
  net.last.drop(4000);                   // a welcome reset the exponent
  await settle();
  assert.deepEqual(delays, [125, 250, 125]);
  client.close();
});

test("1001 reconnects at once, 1008 waits at least half of maxBackoffMs", async () => {
  const { client, clock, net } = await makeClient("ws://a/ws", { maxBackoffMs: 8000 });
  const events = [];
  client.on("reconnecting", (e) => events.push(e));
  (await open(client, net)).drop(1001, "going away");
  await clock.advance(0);
  assert.deepEqual(events[0], { code: 1001, reason: "going away", delayMs: 0 });
  assert.equal(net.sockets.length, 2, "1001 did not reconnect at once");
  (await open(client, net)).drop(1008, "slow consumer");
  await settle();
  assert.equal(events[1].delayMs, 6000); // 8000 * (0.5 + 0.5 / 2)
  await clock.advance(5999);
  assert.equal(net.sockets.length, 2);
  await clock.advance(1);
  assert.equal(net.sockets.length, 3);
  net.last.drop(1006);                    // after 1008, failures stay at the maximum
  await settle();
  assert.ok(events[2].delayMs >= 4000, `delay ${events[2].delayMs} fell back below max/2`);
  client.close();
});

test("close() stops reconnecting and says closed", async () => {
  const { client, clock, net } = await makeClient();
  const closed = [];
  client.on("closed", (e) => closed.push(e));
  const ws = await open(client, net);
  client.close();
  assert.equal(client.state, "closed");
  assert.equal(ws.closedWith.code, 1000);
  assert.deepEqual(closed, [{ code: 1000, reason: "closed by the client" }]);
  await clock.advance(60000);
  assert.equal(net.sockets.length, 1);
});
