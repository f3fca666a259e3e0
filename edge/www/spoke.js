// spoke.js: the client for spoke's client protocol v1 (docs/protocol.md) in
// browsers and Node: one connection to the fastest edge, subscriptions that
// resume where they left off after any reconnect, acked publishes and direct
// sends, an app-level keepalive. No dependencies, no build step; the API is
// described in docs/clients.md and typed in spoke.d.ts.

const DEFAULTS = {
  minBackoffMs: 250,
  maxBackoffMs: 10000,
  maxQueue: 1000,
  ackTimeoutMs: 15000,
  connectTimeoutMs: 5000,
};
const MAX_RACE = 4;                  // connections raced at once to unmeasured edges
const EDGES_REFRESH_MS = 10000;      // /edges.json is fetched at most this often
const EDGES_MAX_BYTES = 256 * 1024;  // budget of an /edges.json answer
const EDGES_MAX = 64;                // edges taken from one answer
const KEEPALIVE_FALLBACK_MS = 25000; // when the policy gives no ping interval
const KEEPALIVE_MIN_MS = 100;
const WS_OPEN = 1;                   // WebSocket.OPEN, the same in every implementation

/** An error the edge answered (its code and reason) or one the client made
 * up with the same meaning: 503 nothing was sent, 504 sent but no ack. */
export class SpokeError extends Error {
  constructor(code, reason) {
    super(`${code} ${reason}`);
    this.name = "SpokeError";
    this.code = code;
    this.reason = reason;
  }
}

// ---- pure logic, exported through _internal for the unit tests

/** Full jitter (uniform in [0, cap)) over an exponential cap, so that clients
 * dropped together by one edge crash do not come back together. */
function backoffDelay(attempt, minMs, maxMs, random = Math.random) {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/** What a close code asks for: when to reconnect and whether to prefer
 * another URL. 1001 is a drain or a shutdown: the edge wants its clients
 * elsewhere now (the drain period already spreads them out). 1008 is the
 * policy (slow consumer, rate limit): coming back fast would repeat it. */
function closeDecision(code) {
  if (code === 1001) return { delay: "now", avoid: true };
  if (code === 1008) return { delay: "max", avoid: false };
  if (code === 1006) return { delay: "backoff", avoid: true }; // lost: maybe a crash
  return { delay: "backoff", avoid: false };
}

/** Delay for a decision's kind; "max" keeps half the jitter so that clients
 * closed together still spread. */
function reconnectDelay(kind, attempt, opts, random) {
  if (kind === "now") return 0;
  if (kind === "max") return Math.floor(opts.maxBackoffMs * (0.5 + random() / 2));
  return backoffDelay(attempt, opts.minBackoffMs, opts.maxBackoffMs, random);
}

/** Candidates best first: fewest consecutive failures, then fastest measured
 * connect time (unmeasured after measured), then the order given; `avoid`
 * (the edge that just went away) last whatever its figures. */
function orderCandidates(urls, stats, avoid = null) {
  const key = (u) => stats.get(u) || { ms: null, fails: 0 };
  return urls
    .map((u, i) => ({ u, i, s: key(u) }))
    .sort((a, b) => (a.u === avoid) - (b.u === avoid)
      || a.s.fails - b.s.fails
      || (a.s.ms ?? Infinity) - (b.s.ms ?? Infinity)
      || a.i - b.i)
    .map((c) => c.u);
}

/** The URLs to dial for one attempt: a race of the first MAX_RACE when one
 * of them has never been tried, else only the best one (racing known edges
 * again would cost each of them a connection for nothing new). */
function dialSet(ordered, stats) {
  const top = ordered.slice(0, MAX_RACE);
  const untried = (u) => { const s = stats.get(u); return !s || (s.ms === null && s.fails === 0); };
  return top.some(untried) ? top : top.slice(0, 1);
}

/** How often to send {"op":"ping"}: well inside the edge's idle timeout, and
 * at its ping rhythm anyway so that a dead edge is noticed (browsers cannot
 * see WebSocket pings). */
function keepaliveInterval(policy) {
  const idle = policy?.idle_timeout_ms > 0 ? policy.idle_timeout_ms / 2 : Infinity;
  const rhythm = policy?.ping_interval_ms > 0 ? policy.ping_interval_ms : KEEPALIVE_FALLBACK_MS;
  return Math.max(KEEPALIVE_MIN_MS, Math.floor(Math.min(idle, rhythm)));
}

/** The `since` to subscribe with: the position if it names an epoch. */
function sinceFor(position) {
  return position && typeof position.epoch === "string" && Number.isInteger(position.seq)
    ? { seq: position.seq, epoch: position.epoch } : undefined;
}

/** A sub's ack applied to a position. Returns {position, reset}: reset is
 * the notice to raise when the edge could not resume from `since`. A
 * recovered resume keeps the position, since the replayed messages follow. */
function applySubAck(position, since, ack) {
  const hasPos = Number.isInteger(ack.seq) && typeof ack.epoch === "string";
  const acked = hasPos ? { seq: ack.seq, epoch: ack.epoch } : position;
  if (!since) return { position: acked, reset: null };
  if (ack.recovered === true) return { position: { seq: since.seq, epoch: since.epoch }, reset: null };
  const at = acked || since;
  return {
    position: acked,
    reset: { seq: at.seq, epoch: at.epoch, reason: ack.reason || "not recovered" },
  };
}

/** Whether a msg is new: one at or below the position is a replay overlap.
 * Messages carry no epoch; they are in the epoch of the last ack or reset. */
function isNewMsg(position, seq) {
  return !position || !Number.isInteger(position.seq) || seq > position.seq;
}

/** url with ?token= (or &token=) appended, percent-encoded. */
function withToken(url, token) {
  if (!token) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

/** The ws(s) URLs of an /edges.json text, within its budget. */
function parseEdges(text) {
  if (typeof text !== "string" || text.length > EDGES_MAX_BYTES) return [];
  let doc;
  try { doc = JSON.parse(text); } catch { return []; }
  if (!doc || !Array.isArray(doc.edges)) return [];
  return doc.edges.slice(0, EDGES_MAX)
    .map((e) => e && e.url)
    .filter((u) => typeof u === "string" && /^wss?:\/\//.test(u));
}

/** A FIFO of publishes and sends made while not open, of at most `limit`. */
class OfflineQueue {
  constructor(limit) { this.limit = limit; this.items = []; }
  get length() { return this.items.length; }
  /** Returns false when full: the caller rejects. */
  push(item) {
    if (this.items.length >= this.limit) return false;
    this.items.push(item);
    return true;
  }
  drain() { const items = this.items; this.items = []; return items; }
}

export const _internal = {
  backoffDelay, closeDecision, reconnectDelay, orderCandidates, dialSet,
  keepaliveInterval, sinceFor, applySubAck, isNewMsg, withToken, parseEdges, OfflineQueue,
  MAX_RACE,
};

// ---- the client

/** The handlers of one topic share one server subscription and position. */
class TopicState {
  constructor(topic, since) {
    this.topic = topic;
    this.position = since ? { seq: since.seq, epoch: since.epoch } : null;
    this.handlers = new Set();
    this.acked = false;
    this.ready = new Promise((res, rej) => { this.resolveReady = res; this.rejectReady = rej; });
    this.ready.catch(() => {}); // an app that never awaits it must not see an unhandled rejection
  }
}

class Subscription {
  constructor(client, state, handler) {
    this._client = client;
    this._state = state;
    this._handler = handler;
  }
  get topic() { return this._state.topic; }
  get position() { return this._state.position ? { ...this._state.position } : null; }
  get ready() { return this._state.ready; }
  unsubscribe() { this._client._unsubscribe(this._state, this._handler); }
}

export class Spoke {
  constructor(urls, options = {}) {
    this._urls = (Array.isArray(urls) ? urls : urls ? [urls] : []).slice();
    this._opts = { ...DEFAULTS, ...options };
    this._WS = options.WebSocket || globalThis.WebSocket;
    if (typeof this._WS !== "function") {
      throw new TypeError("spoke: no WebSocket constructor: pass options.WebSocket (Node < 22)");
    }
    if (this._urls.length === 0 && !options.edgesUrl) {
      throw new TypeError("spoke: give at least one ws(s):// URL or options.edgesUrl");
    }
    this._random = options.random || Math.random;
    this._setTimeout = options.setTimeout || globalThis.setTimeout.bind(globalThis);
    this._clearTimeout = options.clearTimeout || globalThis.clearTimeout.bind(globalThis);
    this._now = options.now || (() => Date.now());
    this._fetch = options.fetch || globalThis.fetch?.bind(globalThis);

    this.state = "connecting";
    this.welcome = null;
    this.url = null;
    this._listeners = new Map();
    this._topics = new Map();       // topic -> TopicState
    this._pending = new Map();      // id -> {kind, resolve, reject, timer, state?, since?}
    this._queue = new OfflineQueue(this._opts.maxQueue);
    this._stats = new Map();        // url -> {ms, fails}: what the races measured
    this._edgeUrls = [];            // from the last /edges.json
    this._edgesAt = -Infinity;
    this._nextId = 1;
    this._ws = null;
    this._dialing = new Set();      // sockets of the attempt in progress (and race losers)
    this._attempt = 0;              // failures since the last welcome: the backoff exponent
    this._avoid = null;             // the URL that went away last: tried last until a welcome
    this._gen = 0;                  // bumped by every attempt and by close()
    this._retryTimer = null;
    this._keepaliveTimer = null;
    this.ready = new Promise((res, rej) => { this._resolveReady = res; this._rejectReady = rej; });
    this.ready.catch(() => {});
    // Started after the constructor returns, so "connecting" reaches handlers added now.
    Promise.resolve().then(() => { if (this.state !== "closed") { this._emit("connecting"); this._connect(); } });
  }

  // ---- events

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this._listeners.get(event)?.delete(fn);
  }

  _emit(event, arg) {
    for (const fn of [...(this._listeners.get(event) || [])]) this._call(fn, arg);
  }

  /** An app handler's exception is the app's: rethrown outside the client's stack. */
  _call(fn, arg) {
    try { fn(arg); } catch (e) { queueMicrotask(() => { throw e; }); }
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit("state", state);
  }

  // ---- the app's calls

  subscribe(topic, handler, options = {}) {
    if (typeof handler !== "function") throw new TypeError("spoke: subscribe needs a handler");
    let state = this._topics.get(topic);
    if (!state) {
      state = new TopicState(topic, sinceFor(options.since));
      this._topics.set(topic, state);
      if (this._isOpen()) this._sendSub(state);
    }
    if (this.state === "closed") state.rejectReady(new SpokeError(503, "client closed"));
    state.handlers.add(handler);
    return new Subscription(this, state, handler);
  }

  _unsubscribe(state, handler) {
    state.handlers.delete(handler);
    if (state.handlers.size > 0 || this._topics.get(state.topic) !== state) return;
    this._topics.delete(state.topic);
    if (this._isOpen()) this._send({ op: "unsub", topic: state.topic });
  }

  publish(topic, data) {
    return this._request({ op: "pub", topic, data }, (ack) => ({ seq: ack.seq, epoch: ack.epoch }));
  }

  send(conn, data) {
    return this._request({ op: "send", to: conn, data }, () => undefined);
  }

  /** Asks the application's backend (the rpc hook, docs/hooks.md): resolves
   * with its answer's data, or rejects with its error code. */
  rpc(method, data = null) {
    return this._request({ op: "rpc", method, data }, (reply) => reply.data);
  }

  close() {
    if (this.state === "closed") return;
    this._gen++;
    this._setState("closed");
    this._clearTimeout(this._retryTimer);
    this._stopKeepalive();
    for (const ws of this._dialing) this._shut(ws, 1000, "client closed");
    this._dialing.clear();
    if (this._ws) this._shut(this._ws, 1000, "client closed");
    this._ws = null;
    this._failPending(504, "client closed before the ack came");
    for (const item of this._queue.drain()) item.reject(new SpokeError(503, "client closed: not sent"));
    for (const state of this._topics.values()) {
      if (!state.acked) state.rejectReady(new SpokeError(503, "client closed"));
    }
    this._rejectReady(new SpokeError(503, "client closed before it connected"));
    this._emit("closed", { code: 1000, reason: "closed by the client" });
  }

  // ---- requests and acks

  _isOpen() { return this.state === "open" && this._ws !== null; }

  _send(obj) {
    if (this._ws && this._ws.readyState === WS_OPEN) this._ws.send(JSON.stringify(obj));
  }

  _request(frame, onAck) {
    return new Promise((resolve, reject) => {
      const item = { frame, resolve: (ack) => resolve(onAck(ack)), reject };
      if (this.state === "closed") reject(new SpokeError(503, "client closed: not sent"));
      else if (this._isOpen()) this._sendRequest(item);
      else if (!this._queue.push(item)) {
        reject(new SpokeError(503, `offline queue full (${this._opts.maxQueue}): not sent`));
      }
    });
  }

  _sendRequest(item) {
    const id = this._nextId++;
    this._pend(id, { kind: "req", resolve: item.resolve, reject: item.reject });
    this._send({ ...item.frame, id });
  }

  /** Records a request waiting for its ack or error, bounded by ackTimeoutMs. */
  _pend(id, entry) {
    entry.timer = this._setTimeout(() => {
      this._pending.delete(id);
      const err = new SpokeError(504, `no answer within ${this._opts.ackTimeoutMs} ms`);
      if (entry.kind === "sub") { entry.state.rejectReady(err); this._emit("error", err); }
      else if (entry.kind === "req") entry.reject(err);
    }, this._opts.ackTimeoutMs);
    this._pending.set(id, entry);
  }

  _sendSub(state) {
    const id = this._nextId++;
    const since = sinceFor(state.position);
    this._pend(id, { kind: "sub", state, since });
    this._send(since ? { op: "sub", topic: state.topic, id, since } : { op: "sub", topic: state.topic, id });
  }

  /** On a lost connection: what was sent cannot be acked any more. Subs are
   * sent again on the next connection, so their `ready` keeps waiting. */
  _failPending(code, reason) {
    for (const entry of this._pending.values()) {
      this._clearTimeout(entry.timer);
      if (entry.kind === "req") entry.reject(new SpokeError(code, reason));
    }
    this._pending.clear();
  }

  _onAck(m) {
    const entry = this._pending.get(m.id);
    if (!entry) return; // late (timed out) or not ours
    this._pending.delete(m.id);
    this._clearTimeout(entry.timer);
    if (entry.kind === "req") entry.resolve(m);
    else if (entry.kind === "sub") this._onSubAck(entry, m);
  }

  _onSubAck(entry, m) {
    const state = entry.state;
    if (this._topics.get(state.topic) !== state) return; // unsubscribed meanwhile
    const { position, reset } = applySubAck(state.position, entry.since, m);
    state.position = position;
    state.acked = true;
    state.resolveReady(position ? { ...position } : null);
    if (reset) this._emit("reset", { topic: state.topic, ...reset });
  }

  _onError(m) {
    const err = new SpokeError(m.code, m.reason);
    const entry = m.id !== undefined ? this._pending.get(m.id) : undefined;
    if (!entry) { this._emit("error", err); return; }
    this._pending.delete(m.id);
    this._clearTimeout(entry.timer);
    if (entry.kind === "req") entry.reject(err);
    else if (entry.kind === "sub") {
      // Refused (403, 429, 400): nothing is subscribed on the edge.
      if (this._topics.get(entry.state.topic) === entry.state) this._topics.delete(entry.state.topic);
      entry.state.rejectReady(err);
      this._emit("error", err);
    }
  }

  // ---- messages from the edge

  _onMessage(ev) {
    if (typeof ev.data !== "string") return; // spoke.json speaks text frames only
    let m;
    try { m = JSON.parse(ev.data); } catch {
      this._emit("error", new SpokeError(400, "the edge sent malformed JSON"));
      return;
    }
    if (!m || typeof m !== "object") return;
    switch (m.op) {
      case "msg": return this._onMsg(m);
      case "ack": case "pong": case "rpc": return this._onAck(m);
      case "error": return this._onError(m);
      case "reset": return this._onReset(m);
      case "direct": return this._emit("direct", { from: m.from, data: m.data, user: m.user });
      default: return; // later protocol versions may add ops
    }
  }

  _onMsg(m) {
    const state = this._topics.get(m.topic);
    if (!state || !Number.isInteger(m.seq) || !isNewMsg(state.position, m.seq)) return;
    const epoch = state.position ? state.position.epoch : null;
    state.position = { seq: m.seq, epoch };
    const msg = { topic: m.topic, seq: m.seq, epoch, data: m.data, from: m.from, user: m.user };
    for (const fn of [...state.handlers]) this._call(fn, msg);
  }

  _onReset(m) {
    const state = this._topics.get(m.topic);
    if (!state) return;
    state.position = { seq: m.seq, epoch: m.epoch };
    this._emit("reset", { topic: m.topic, seq: m.seq, epoch: m.epoch, reason: m.reason });
  }

  // ---- connecting: candidates, the race, the welcome

  _candidates() {
    return [...new Set([...this._urls, ...this._edgeUrls])];
  }

  _stat(url) {
    if (!this._stats.has(url)) this._stats.set(url, { ms: null, fails: 0 });
    return this._stats.get(url);
  }

  async _token() {
    const t = this._opts.token;
    return typeof t === "function" ? await t() : t;
  }

  /** Refreshes the URLs of edgesUrl; a failure keeps the last list. */
  async _refreshEdges() {
    if (!this._opts.edgesUrl || !this._fetch) return;
    if (this._now() - this._edgesAt < EDGES_REFRESH_MS && this._edgeUrls.length) return;
    this._edgesAt = this._now();
    const abort = typeof AbortController === "function" ? new AbortController() : null;
    const timer = this._setTimeout(() => abort?.abort(), this._opts.connectTimeoutMs);
    try {
      const res = await this._fetch(this._opts.edgesUrl, { signal: abort?.signal, cache: "no-store" });
      if (res.ok) {
        const urls = parseEdges(await res.text());
        if (urls.length) this._edgeUrls = urls;
      }
    } catch { /* unreachable: the given URLs remain */ }
    this._clearTimeout(timer);
  }

  async _connect() {
    const gen = ++this._gen;
    let token;
    try {
      await this._refreshEdges();
      token = await this._token();
    } catch (e) {
      if (gen === this._gen) this._retry(1006, `token provider failed: ${e && e.message}`, "backoff");
      return;
    }
    if (gen !== this._gen) return; // closed meanwhile
    const urls = dialSet(orderCandidates(this._candidates(), this._stats, this._avoid), this._stats);
    if (urls.length === 0) { this._retry(1006, "no edge to connect to", "backoff"); return; }
    const race = { gen, left: urls.length, won: false, last: { code: 1006, reason: "connection failed" } };
    for (const url of urls) this._dial(url, token, race);
  }

  /** One socket of an attempt; the first welcome of the race wins. */
  _dial(url, token, race) {
    const t0 = this._now();
    let ws, done = false;
    const finish = (ok, code, reason) => {
      if (done) return;
      done = true;
      this._clearTimeout(timer);
      this._dialing.delete(ws);
      if (!ok) {
        this._stat(url).fails++;
        this._shut(ws, 1000, "connect timeout");
        race.last = { code, reason };
      }
      if (--race.left === 0 && !race.won && race.gen === this._gen) {
        this._retry(race.last.code, race.last.reason, "backoff");
      }
    };
    const timer = this._setTimeout(() => finish(false, 1006, `no welcome within ${this._opts.connectTimeoutMs} ms`),
      this._opts.connectTimeoutMs);
    try {
      ws = new this._WS(withToken(url, token), "spoke.json");
    } catch (e) {
      finish(false, 1006, `cannot connect to ${url}: ${e && e.message}`);
      return;
    }
    this._dialing.add(ws);
    ws.onerror = () => {}; // a close event follows with the code
    ws.onclose = (ev) => finish(false, ev.code || 1006, ev.reason || "connection failed");
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { m = null; }
      if (!m || m.op !== "welcome") { finish(false, 1002, "the edge did not start with a welcome"); return; }
      const st = this._stat(url);
      st.ms = this._now() - t0;
      st.fails = 0;
      if (race.won || race.gen !== this._gen) {
        this._shut(ws, 1000, "another edge answered first");
      } else {
        race.won = true;
        this._dialing.delete(ws);
        this._adopt(ws, url, m);
      }
      finish(true);
    };
  }

  _adopt(ws, url, welcome) {
    this._ws = ws;
    this.url = url;
    this.welcome = welcome;
    this._attempt = 0;
    this._avoid = null;
    ws.onmessage = (ev) => this._onMessage(ev);
    ws.onclose = (ev) => this._lost(ws, ev.code || 1006, ev.reason || "connection lost");
    this._setState("open");
    this._startKeepalive(keepaliveInterval(welcome.policy));
    for (const state of this._topics.values()) this._sendSub(state);
    for (const item of this._queue.drain()) this._sendRequest(item);
    this._resolveReady(welcome);
    this._emit("open", welcome);
  }

  /** The open connection is gone: fail what waits on it, come back. */
  _lost(ws, code, reason) {
    if (ws !== this._ws) return;
    this._ws = null;
    this._stopKeepalive();
    this._shut(ws, 1000, reason);
    this._failPending(504, `connection lost (${code}) before the ack: it may have been carried out`);
    if (this.state === "closed") return;
    const d = closeDecision(code);
    if (d.avoid && this.url) { this._stat(this.url).fails++; this._avoid = this.url; }
    this._retry(code, reason, d.delay);
  }

  _retry(code, reason, kind) {
    if (this.state === "closed") return;
    const delayMs = reconnectDelay(kind, this._attempt, this._opts, this._random);
    this._attempt = kind === "max" ? Math.max(this._attempt, 30) : this._attempt + 1;
    this._setState("reconnecting");
    this._emit("reconnecting", { code, reason, delayMs });
    this._clearTimeout(this._retryTimer);
    this._retryTimer = this._setTimeout(() => this._connect(), delayMs);
  }

  /** Closes a socket without hearing from it again. */
  _shut(ws, code, reason) {
    if (!ws) return;
    ws.onmessage = ws.onclose = ws.onopen = null;
    ws.onerror = () => {};
    try { ws.close(code, String(reason).slice(0, 120)); } catch { /* already closed */ }
  }

  // ---- keepalive: {"op":"ping"} with an id, answered by a pong within connectTimeoutMs

  _startKeepalive(interval) {
    this._stopKeepalive();
    const ws = this._ws;
    const tick = () => {
      if (ws !== this._ws) return;
      const id = this._nextId++;
      const timer = this._setTimeout(() => {
        this._pending.delete(id);
        this._lost(ws, 1006, `no pong within ${this._opts.connectTimeoutMs} ms: the edge is unreachable`);
      }, this._opts.connectTimeoutMs);
      this._pending.set(id, { kind: "ping", timer });
      this._send({ op: "ping", id });
      this._keepaliveTimer = this._setTimeout(tick, interval);
    };
    this._keepaliveTimer = this._setTimeout(tick, interval);
  }

  _stopKeepalive() {
    this._clearTimeout(this._keepaliveTimer);
    this._keepaliveTimer = null;
  }
}

export default Spoke;
