// A minimal WebSocket client for Node 20 (which has none built in), for the
// tests only: the browser interface spoke.js uses (readyState, send, close,
// onopen/onmessage/onclose/onerror) over `net` and `crypto`. ws:// only,
// text messages, masking, ping/pong and close (RFC 6455 §5), bounded input.
import net from "node:net";
import crypto from "node:crypto";

const MAX_HEAD = 8192;             // the upgrade answer's head
const MAX_MESSAGE = 4 * 1024 * 1024; // a message, fragments reassembled
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; // RFC 6455 §1.3

export class NodeWebSocket {
  constructor(url, protocols) {
    const u = new URL(url);
    if (u.protocol !== "ws:") throw new SyntaxError(`node_ws speaks ws:// only, not ${u.protocol}`);
    this.url = url;
    this.readyState = 0;
    this.protocol = "";
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this._key = crypto.randomBytes(16).toString("base64");
    this._in = Buffer.alloc(0);
    this._parts = [];
    this._partBytes = 0;
    this._opened = false;
    this._closeSent = false;
    this._closeEvent = null;
    const offer = [].concat(protocols || []);
    this._sock = net.connect(Number(u.port) || 80, u.hostname, () => {
      this._sock.write([
        `GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, "Upgrade: websocket",
        "Connection: Upgrade", `Sec-WebSocket-Key: ${this._key}`, "Sec-WebSocket-Version: 13",
        ...(offer.length ? [`Sec-WebSocket-Protocol: ${offer.join(", ")}`] : []), "", ""].join("\r\n"));
    });
    this._sock.on("data", (b) => this._onData(b));
    this._sock.on("error", () => { this.onerror?.({}); });
    this._sock.on("close", () => this._finish(1006, ""));
  }

  send(text) {
    if (this.readyState !== 1) throw new Error("WebSocket is not open");
    this._frame(0x1, Buffer.from(String(text), "utf8"));
  }

  close(code = 1000, reason = "") {
    if (this.readyState >= 2) return;
    if (this.readyState === 0) { this.readyState = 3; this._sock.destroy(); return; }
    this.readyState = 2;
    this._sendClose(code, reason);
    // The edge answers with its close and ends the TCP connection; don't wait forever.
    setTimeout(() => this._sock.destroy(), 3000).unref();
  }

  _sendClose(code, reason) {
    if (this._closeSent) return;
    this._closeSent = true;
    const r = Buffer.from(reason, "utf8").subarray(0, 123);
    const p = Buffer.alloc(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this._frame(0x8, p);
  }

  /** One masked frame, FIN set (§5.2, §5.3). */
  _frame(opcode, payload) {
    const n = payload.length;
    const head = n < 126 ? Buffer.alloc(2) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    if (n < 126) head[1] = 0x80 | n;
    else if (n < 65536) { head[1] = 0x80 | 126; head.writeUInt16BE(n, 2); }
    else { head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(n), 2); }
    const mask = crypto.randomBytes(4);
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = payload[i] ^ mask[i & 3];
    this._sock.write(Buffer.concat([head, mask, body]));
  }

  _fail(reason) {
    this._closeEvent = { code: 1006, reason };
    this._sock.destroy();
  }

  _onData(chunk) {
    this._in = Buffer.concat([this._in, chunk]);
    if (!this._opened) {
      const end = this._in.indexOf("\r\n\r\n");
      if (end < 0) { if (this._in.length > MAX_HEAD) this._fail("upgrade answer too long"); return; }
      const head = this._in.subarray(0, end).toString("latin1").split("\r\n");
      this._in = this._in.subarray(end + 4);
      const headers = new Map(head.slice(1).map((l) => {
        const i = l.indexOf(":");
        return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
      }));
      const accept = crypto.createHash("sha1").update(this._key + GUID).digest("base64");
      if (!/^HTTP\/1\.1 101 /.test(head[0]) || headers.get("sec-websocket-accept") !== accept) {
        this._fail(`upgrade refused: ${head[0]}`);
        return;
      }
      this._opened = true;
      this.protocol = headers.get("sec-websocket-protocol") || "";
      this.readyState = 1;
      this.onopen?.({});
    }
    while (this.readyState !== 3 && this._parseFrame()) { /* one frame per turn */ }
  }

  /** Takes one complete frame off the input; false when it needs more bytes. */
  _parseFrame() {
    const b = this._in;
    if (b.length < 2) return false;
    const fin = (b[0] & 0x80) !== 0, opcode = b[0] & 0x0f;
    if (b[1] & 0x80) { this._fail("the server masked a frame"); return false; }
    let len = b[1] & 0x7f, off = 2;
    if (len === 126) { if (b.length < 4) return false; len = b.readUInt16BE(2); off = 4; }
    else if (len === 127) {
      if (b.length < 10) return false;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(MAX_MESSAGE)) { this._fail("frame too long"); return false; }
      len = Number(big); off = 10;
    }
    if (len > MAX_MESSAGE) { this._fail("frame too long"); return false; }
    if (b.length < off + len) return false;
    const payload = b.subarray(off, off + len);
    this._in = b.subarray(off + len);
    if (opcode === 0x9) this._frame(0xA, payload);            // ping: pong, same payload
    else if (opcode === 0x8) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.subarray(2).toString("utf8");
      this._closeEvent = { code, reason };
      this._sendClose(code === 1005 ? 1000 : code, "");
      this.readyState = 2;
      this._sock.end();
    } else if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) {
      this._partBytes += payload.length;
      if (this._partBytes > MAX_MESSAGE) { this._fail("message too long"); return false; }
      this._parts.push(Buffer.from(payload));
      if (opcode !== 0x0) this._binary = opcode === 0x2;
      if (fin) {
        const data = Buffer.concat(this._parts);
        this._parts = [];
        this._partBytes = 0;
        this.onmessage?.({ data: this._binary ? data : data.toString("utf8") });
      }
    }
    return true;
  }

  _finish(code, reason) {
    if (this.readyState === 3 && this._closeEvent === "done") return;
    const ev = this._closeEvent && this._closeEvent !== "done" ? this._closeEvent : { code, reason };
    this._closeEvent = "done";
    this.readyState = 3;
    this.onclose?.({ code: ev.code, reason: ev.reason, wasClean: ev.code !== 1006 });
  }
}

export default NodeWebSocket;
