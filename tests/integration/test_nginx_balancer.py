"""The nginx config in deploy/ (rendered for loopback by deploy/nginx/render_local.py, nginx from Debian started by the test) balances clients over two edges with least_conn, and WebSocket traffic, including cross-edge delivery, passes through it."""
import asyncio
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import require_tool
from helpers import HOST, PortHold, http_get, recv_json, run, scaled, send, subscribe, wait_for

import websockets

REPO = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


@pytest.fixture
def balancer(cluster, tmp_path):
    require_tool(NGINX, "nginx")
    # nginx cannot report a port 0 back, so the port is held (bound, never
    # listening) until nginx, which sets SO_REUSEADDR too, listens beside it.
    hold = PortHold()
    port = hold.port
    work = tmp_path / "nginx"
    subprocess.run(["/usr/bin/python3", str(REPO / "deploy/nginx/render_local.py"), "--workdir",
                    str(work), str(port), str(cluster.edge_ports["edge-a"]),
                    str(cluster.edge_ports["edge-b"])], check=True)
    proc = subprocess.Popen([NGINX, "-p", str(work), "-c", str(work / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is None and http_get(port, "/")[0] == 404, 10,
                 "nginx to answer")
        hold.release()
        yield port
    finally:
        hold.release()
        proc.send_signal(signal.SIGQUIT)  # graceful: closes the proxied WebSockets
        try:
            proc.wait(scaled(10))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err = (work / "error.log").read_text() if (work / "error.log").exists() else ""
        assert "[emerg]" not in err and "[crit]" not in err, err


def test_nginx_balances_websockets_over_both_edges(cluster, balancer):
    url = f"ws://{HOST}:{balancer}/ws"

    async def body():
        clients = []
        for _ in range(6):  # held open: least_conn alternates between the edges
            ws = await websockets.connect(url, open_timeout=scaled(5))
            welcome = json.loads(await asyncio.wait_for(ws.recv(), scaled(5)))
            clients.append((ws, welcome))
        edges = [w["edge"] for _, w in clients]
        assert set(edges) == {"edge-a", "edge-b"}, edges
        assert abs(edges.count("edge-a") - edges.count("edge-b")) <= 2, edges
        sub_ws, sub_w = next(c for c in clients if c[1]["edge"] == "edge-a")
        pub_ws, _ = next(c for c in clients if c[1]["edge"] == "edge-b")
        await subscribe(sub_ws, "through.nginx")
        await cluster.await_interest(sub_w["conn"])
        await send(pub_ws, {"op": "pub", "topic": "through.nginx", "data": {"n": 1}})
        m = await recv_json(sub_ws)
        assert m["op"] == "msg" and m["data"] == {"n": 1} and m["seq"] == 1
        for ws, _ in clients:
            await ws.close()
    run(body())
    assert http_get(balancer, "/other")[0] == 404  # the edges' answer, passed on
    status, body = http_get(balancer, "/spoke.js")
    assert status == 200 and body == (REPO / "edge/www/spoke.js").read_bytes()
