// Shared set-up of the spoke.js unit tests: a client on a fake clock and a
// fake network, opened by the test as the edge would.
import { Spoke } from "../../edge/www/spoke.js";
import { FakeClock, FakeNet, settle } from "./fakes.mjs";

/** A client of urls (default one) on a new clock and network; opts go to Spoke. */
export async function makeClient(urls = "ws://edge-a/ws", opts = {}) {
  const clock = new FakeClock();
  const net = new FakeNet();
  const client = new Spoke(urls, {
    WebSocket: net.WebSocket, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout,
    now: clock.now, random: () => 0.5, ...opts,
  });
  await settle(); // the first connect starts after the constructor
  return { client, clock, net };
}

/** Opens ws (default: the client's newest socket) and waits until the client is open. */
export async function open(client, net, welcome, ws = net.last) {
  ws.accept(welcome);
  await settle();
  if (client.state !== "open") throw new Error(`client is ${client.state}, not open`);
  return ws;
}

/** Records every event the client emits, as [name, arg]. */
export function record(client, names) {
  const seen = [];
  for (const n of names) client.on(n, (arg) => seen.push([n, arg]));
  return seen;
}
