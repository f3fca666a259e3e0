"""What the load generator's own tests share (tests/bench/test_loadgen_*.py):
a stand-in edge (python3-websockets, not spoke) serving on its own asyncio
loop in a thread, bound to port 0, and a run of spoke-loadgen to its RESULT
line."""
import asyncio
import json
import subprocess
import threading


class StandinServer:
    """Serves handler(ws, path) on 127.0.0.1, port 0 (read back as .port),
    with serve_kw passed to websockets.serve; stop() closes it and ends the
    loop's thread."""

    def __init__(self, handler, **serve_kw):
        self.handler, self.serve_kw = handler, serve_kw
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "the stand-in server did not start"

    def _run(self):
        import websockets  # Debian's python3-websockets: /usr/bin/python3 only
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(websockets.serve(
            self.handler, "127.0.0.1", 0, subprotocols=["spoke.json"], **self.serve_kw))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        async def close():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def run_loadgen(argv, go=False, on_ready=None, timeout=30):
    """Runs spoke-loadgen (argv) to its RESULT line: writes `go` first if
    asked, calls on_ready() at its first READY. Asserts it exited 0 with a
    RESULT (and, with on_ready, after a READY); returns (on_ready's value,
    the RESULT as a dict)."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    out, seen = [], None
    try:  # stdin stays open until the RESULT: EOF would abort the generator
        if go:
            p.stdin.write("go\n")
            p.stdin.flush()
        for line in p.stdout:
            out.append(line)
            if line.startswith("READY") and seen is None and on_ready:
                seen = on_ready()
            if line.startswith("RESULT "):
                break
        p.stdin.close()
        p.wait(timeout)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    lines = [ln for ln in out if ln.startswith("RESULT ")]
    assert p.returncode == 0 and lines, "".join(out)
    assert on_ready is None or seen is not None, "no READY before the RESULT: " + "".join(out)
    return seen, json.loads(lines[0][7:])
