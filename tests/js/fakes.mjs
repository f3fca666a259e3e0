// In-memory stand-ins for the unit tests of spoke.js: a clock whose timers
// run only when a test advances it, and a WebSocket class whose sockets a
// test drives as the edge would (welcome, acks, msgs, closes), no network.

/** Timers on a virtual clock; advance() runs those due, in order, and lets
 * the promises they resolve settle in between. */
export class FakeClock {
  constructor() {
    this.t = 0;
    this.timers = new Map();
    this.nextId = 1;
    this.setTimeout = (fn, ms = 0) => {
      const id = this.nextId++;
      this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
      return id;
    };
    this.clearTimeout = (id) => { this.timers.delete(id); };
    this.now = () => this.t;
  }

  async advance(ms) {
    const end = this.t + ms;
    await settle();
    for (;;) {
      let next = null;
      for (const [id, tm] of this.timers) {
        if (tm.at <= end && (next === null || tm.at < next[1].at)) next = [id, tm];
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
      await settle();
    }
    this.t = end;
  }

  /** Delays of the timers pending now, relative to the clock. */
  pending() { return [...this.timers.values()].map((tm) => tm.at - this.t).sort((a, b) => a - b); }
}

/** Lets every promise chain already started run to its end. */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A fake network: fake.WebSocket is the constructor to hand to Spoke;
 * fake.sockets lists every socket it made, oldest first. */
export class FakeNet {
  constructor() {
    this.sockets = [];
    const net = this;
    this.WebSocket = class FakeWebSocket {
      constructor(url, protocols) {
        this.url = url;
        this.protocols = protocols;
        this.readyState = 0;
        this.sent = [];        // decoded client messages
        this.closedWith = null;
        this.onopen = this.onmessage = this.onclose = this.onerror = null;
        net.sockets.push(this);
      }
      send(text) {
        if (this.readyState !== 1) throw new Error("send on a socket that is not open");
        this.sent.push(JSON.parse(text));
      }
      close(code, reason) {
        if (this.readyState >= 2) return;
        this.readyState = 3;
        this.closedWith = { code, reason };
      }

      // ---- what the test (the "edge") does
      /** Opens and sends the welcome. */
      accept(welcome = {}) {
        this.readyState = 1;
        this.onopen?.({});
        this.deliver({ op: "welcome", conn: "edge-a:0:00000000:1", edge: "edge-a", region: "test",
          policy: { idle_timeout_ms: 0, ping_interval_ms: 25000, max_message_bytes: 65536 },
          ...welcome });
      }
      deliver(obj) { this.onmessage?.({ data: JSON.stringify(obj) }); }
      /** The edge closes (or the network drops it: code 1006). */
      drop(code = 1006, reason = "") {
        this.readyState = 3;
        this.onclose?.({ code, reason, wasClean: code !== 1006 });
      }
      /** The client messages of one op, e.g. ops("pub"). */
      ops(op) { return this.sent.filter((m) => m.op === op); }
      /** Acks every sub not acked yet with the given position. */
      ackSubs(seq, epoch, extra = {}) {
        for (const m of this.ops("sub").filter((s) => !s._acked)) {
          m._acked = true;
          this.deliver({ op: "ack", id: m.id, seq, epoch, ...extra });
        }
      }
    };
  }

  get last() { return this.sockets[this.sockets.length - 1]; }
}
