// spoke.d.ts: TypeScript declarations of spoke.js, the client for spoke's
// client protocol v1. The behaviour behind each name is in docs/clients.md.

/** Where a topic is: the seq of the last message in the topic's epoch. */
export interface Position {
  seq: number;
  epoch: string;
}

/** The connection's policy as the edge enforces it (0 means off). */
export interface Policy {
  idle_timeout_ms: number;
  ping_interval_ms: number;
  max_message_bytes: number;
}

/** The edge's first message on every connection. */
export interface Welcome {
  op: "welcome";
  conn: string;
  edge: string;
  region: string;
  policy: Policy;
  /** The token's `sub` (or the connect hook's user), when it had one. */
  user?: string;
  /** What the application's connect hook gave this connection. */
  data?: unknown;
}

/** A message on a subscribed topic. `epoch` is null only before the first
 * ack that gave the topic a position (the hub link was down). */
export interface Message<T = unknown> {
  topic: string;
  seq: number;
  epoch: string | null;
  data: T;
  /** The publisher's connection id, or "hub:api". */
  from: string;
  /** The publisher's authenticated user id, when it had one. */
  user?: string;
}

/** A message sent to this connection alone. */
export interface Direct<T = unknown> {
  from: string;
  data: T;
  user?: string;
}

/** The edge could not continue a topic from its position: messages were
 * lost, and the next message is seq + 1 in this epoch. */
export interface Reset {
  topic: string;
  seq: number;
  epoch: string;
  reason: string;
}

export interface Reconnecting {
  /** The close code (1006: the connection failed or was lost). */
  code: number;
  reason: string;
  /** How long the client waits before it dials again. */
  delayMs: number;
}

export interface Closed {
  code: number;
  reason: string;
}

export type State = "connecting" | "open" | "reconnecting" | "closed";

export type TokenProvider = () => string | undefined | Promise<string | undefined>;

export interface SpokeOptions {
  /** Sent as ?token=; a provider is called again before every connect. */
  token?: string | TokenProvider;
  /** The WebSocket constructor; default globalThis.WebSocket (Node 22, browsers). */
  WebSocket?: new (url: string, protocols?: string | string[]) => WebSocketLike;
  /** An /edges.json whose urls join the candidates. */
  edgesUrl?: string;
  /** Backoff: full jitter over min * 2^attempt, capped at max. Defaults 250 and 10000. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Publishes and sends kept while not open; beyond: SpokeError 503. Default 1000. */
  maxQueue?: number;
  /** An ack (or error) not there within this: SpokeError 504. Default 15000. */
  ackTimeoutMs?: number;
  /** A welcome (or a pong) not there within this: the connection failed. Default 5000. */
  connectTimeoutMs?: number;
  /** For tests: the randomness of the jitter, the clock and its timers, fetch. */
  random?: () => number;
  now?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  fetch?: (url: string, init?: object) => Promise<{ ok: boolean; text(): Promise<string> }>;
}

/** The part of the WebSocket interface spoke.js uses. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface SubscribeOptions {
  /** Resume after this position: what was published since comes first. */
  since?: Position;
}

export interface Subscription {
  readonly topic: string;
  /** The position of the last message delivered (or of the ack); null before the first ack. */
  readonly position: Position | null;
  /** Resolves with the position of the first ack; rejects with SpokeError if the edge refuses. */
  readonly ready: Promise<Position | null>;
  unsubscribe(): void;
}

export interface SpokeEvents {
  connecting: undefined;
  open: Welcome;
  reconnecting: Reconnecting;
  closed: Closed;
  state: State;
  reset: Reset;
  direct: Direct;
  error: SpokeError;
}

/** The edge's refusal (its code and reason), or the client's own: 503
 * nothing was sent (queue full, client closed), 504 sent but no ack came
 * (timeout, connection lost: it may have been carried out). */
export class SpokeError extends Error {
  constructor(code: number, reason: string);
  readonly code: number;
  readonly reason: string;
}

export class Spoke {
  constructor(urls: string | string[], options?: SpokeOptions);
  readonly state: State;
  readonly welcome: Welcome | null;
  /** The URL of the current (or last) connection, without its token. */
  readonly url: string | null;
  /** Resolves with the first welcome; rejects if close() comes first. */
  readonly ready: Promise<Welcome>;
  /** Returns a function that removes the handler. */
  on<E extends keyof SpokeEvents>(event: E, fn: (arg: SpokeEvents[E]) => void): () => void;
  subscribe<T = unknown>(topic: string, handler: (msg: Message<T>) => void,
                         options?: SubscribeOptions): Subscription;
  /** Resolves with the message's position once the hub has ordered it. */
  publish(topic: string, data: unknown): Promise<Position>;
  /** Resolves once the target connection's edge has queued it. */
  send(conn: string, data: unknown): Promise<void>;
  /** Calls method on the application's backend (the edge's rpc hook): its
   * answer's data, or a SpokeError with its code (503 when it failed). */
  rpc(method: string, data?: unknown): Promise<unknown>;
  close(): void;
}

/** Pure parts of the client, exported for its unit tests; not a stable API. */
export const _internal: Record<string, unknown>;

export default Spoke;
