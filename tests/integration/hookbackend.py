"""An application backend for the hook tests: a threaded http.server on
127.0.0.1, port 0, that records every hook call (event, headers, JSON body,
whether its signature verified) and answers each event as the test says."""
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Backend:
    """answer[event] is a function body -> (status, obj or None), or the
    string "hang" (no answer until release()), or "close" (drop the
    connection). Unset events answer 200 {}."""

    def __init__(self, secret="s3cret"):
        self.secret = secret.encode()
        self.calls = []  # (event, headers dict, body dict, signature ok)
        self.answer = {}
        self.lock = threading.Lock()
        self.released = threading.Event()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                event = self.path.rsplit("/", 1)[-1]
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                ok = backend.verify(self.headers.get("X-Spoke-Signature", ""), raw)
                with backend.lock:
                    backend.calls.append((event, dict(self.headers), body, ok))
                how = backend.answer.get(event)
                if how == "hang":
                    backend.released.wait(30)
                    status, obj = 200, {}
                elif how == "close":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                elif how is None:
                    status, obj = 200, {}
                else:
                    status, obj = how(body)
                out = b"" if obj is None else json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default 5 drops an edge's burst of new connections

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def verify(self, header, raw):
        """The check a backend makes (docs/hooks.md): t=TS,v1=HEX with HEX =
        HMAC-SHA256(secret, TS + "." + body), TS within 5 minutes."""
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        if "t" not in parts or "v1" not in parts:
            return False
        want = hmac.new(self.secret, parts["t"].encode() + b"." + raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300

    def of(self, event):
        with self.lock:
            return [c for c in self.calls if c[0] == event]

    def release(self):
        self.released.set()

    def stop(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
