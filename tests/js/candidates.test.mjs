// Edge selection: a race of up to 4 unmeasured candidates, the first welcome
// wins and the rest are closed, measured times order later attempts, a
// failed edge moves to the back; /edges.json adds candidates.
import { test } from "node:test";
import assert from "node:assert/strict";
import { _internal } from "../../edge/www/spoke.js";
import { makeClient, open } from "./helpers.mjs";
import { settle } from "./fakes.mjs";

const { orderCandidates, dialSet, parseEdges } = _internal;

test("orderCandidates: fewer failures, then faster, then unmeasured in given order", () => {
  const stats = new Map([["a", { ms: 80, fails: 0 }], ["b", { ms: 20, fails: 0 }],
    ["c", { ms: 5, fails: 1 }]]);
  assert.deepEqual(orderCandidates(["a", "b", "c", "d", "e"], stats), ["b", "a", "d", "e", "c"]);
  assert.deepEqual(orderCandidates(["a", "b", "c"], stats, "b"), ["a", "c", "b"]);
});

test("dialSet races the top 4 while one is untried, else dials the best alone", () => {
  const urls = ["a", "b", "c", "d", "e"];
  assert.deepEqual(dialSet(urls, new Map()), ["a", "b", "c", "d"]);
  const measured = new Map(urls.map((u) => [u, { ms: 1, fails: 0 }]));
  assert.deepEqual(dialSet(urls, measured), ["a"]);
  measured.set("b", { ms: null, fails: 2 }); // tried and failed: no reason to race
  assert.deepEqual(dialSet(urls, measured), ["a"]);
  measured.set("c", { ms: null, fails: 0 }); // never tried
  assert.deepEqual(dialSet(urls, measured), ["a", "b", "c", "d"]);
});

test("the fastest welcome wins, the others are measured then closed", async () => {
  const urls = ["ws://a/ws", "ws://b/ws", "ws://c/ws", "ws://d/ws"];
  const { client, clock, net } = await makeClient(urls);
  assert.deepEqual(net.sockets.map((s) => s.url), urls, "not a race of 4");
  const [a, b, c, d] = net.sockets;
  await clock.advance(30);
  c.accept({ edge: "edge-c" });
  await settle();
  assert.equal(client.state, "open");
  assert.equal(client.url, "ws://c/ws");
  assert.equal(client.welcome.edge, "edge-c");
  assert.equal(c.closedWith, null);
  await clock.advance(20);
  a.accept();                     // a loser: timed (50 ms), then closed
  await settle();
  assert.equal(a.closedWith.code, 1000);
  b.drop(1006);                   // a loser that failed
  await settle();
  assert.equal(client.url, "ws://c/ws");
  await clock.advance(10000);     // d never answers: its connect timeout closes it
  assert.ok(d.closedWith, "the silent racer was left open");
  let retry = null;
  client.on("reconnecting", (e) => { retry = e; });
  c.drop(1006);                   // c is lost: next is a (fastest without a failure), alone
  await settle();
  await clock.advance(retry.delayMs);
  assert.deepEqual(net.sockets.slice(4).map((s) => s.url), ["ws://a/ws"]);
  client.close();
});

test("when every racer fails the attempt is retried after backoff", async () => {
  const { client, clock, net } = await makeClient(["ws://a/ws", "ws://b/ws"]);
  const seen = [];
  client.on("reconnecting", (e) => seen.push(e));
  net.sockets[0].drop(1006);
  await settle();
  assert.equal(seen.length, 0, "retried before the race was over");
  net.sockets[1].drop(1006);
  await settle();
  assert.equal(seen.length, 1);
  assert.equal(client.state, "reconnecting");
  await clock.advance(seen[0].delayMs);
  assert.deepEqual(net.sockets.slice(2).map((s) => s.url), ["ws://a/ws"],
    "both tried and failed: the first alone");
  client.close();
});

test("a connect without a welcome within connectTimeoutMs fails", async () => {
  const { client, clock, net } = await makeClient("ws://a/ws", { connectTimeoutMs: 1000 });
  const seen = [];
  client.on("reconnecting", (e) => seen.push(e));
  await clock.advance(999);
  assert.equal(seen.length, 0);
  await clock.advance(1);
  assert.equal(seen.length, 1);
  assert.match(seen[0].reason, /no welcome within 1000 ms/);
  assert.ok(net.sockets[0].closedWith);
  client.close();
});

test("edgesUrl adds the listed edges to the candidates, within its budget", async () => {
  const body = JSON.stringify({ edges: [{ name: "x", region: "r", url: "wss://x/ws", clients: 1 },
    { name: "bad", url: "http://not-ws" }, { url: 7 }], generated_ms: 1 });
  const fetched = [];
  const fetch = async (url) => { fetched.push(url); return { ok: true, text: async () => body }; };
  const { client, net } = await makeClient("ws://a/ws", { edgesUrl: "/edges.json", fetch });
  await settle();
  assert.deepEqual(fetched, ["/edges.json"]);
  assert.deepEqual(net.sockets.map((s) => s.url), ["ws://a/ws", "wss://x/ws"]);
  assert.deepEqual(parseEdges("x".repeat(300 * 1024)), []);
  assert.deepEqual(parseEdges("{"), []);
  assert.equal(parseEdges(JSON.stringify({ edges: new Array(100).fill({ url: "ws://e/ws" }) })).length, 64);
  client.close();
});

test("an /edges.json that cannot be fetched leaves the given URLs", async () => {
  const fetch = async () => { throw new Error("offline"); };
  const { client, net } = await makeClient("ws://a/ws", { edgesUrl: "https://h/edges.json", fetch });
  await settle();
  assert.deepEqual(net.sockets.map((s) => s.url), ["ws://a/ws"]);
  client.close();
});
