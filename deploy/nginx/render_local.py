#!/usr/bin/python3
"""Renders deploy/nginx/spoke-edges.conf for a local try-out or a test.

The production file terminates TLS on 443 and redirects port 80. This keeps
everything that matters for WebSockets (the upgrade map, the least_conn
upstream, the /ws location and its timeouts) and changes only where it
listens and which edges it balances:

    render_local.py LISTEN_PORT EDGE_PORT [EDGE_PORT ...] > spoke-local.conf
    render_local.py --workdir DIR LISTEN_PORT EDGE_PORT...   (also DIR/nginx.conf;
        then: nginx -p DIR -c DIR/nginx.conf runs it in the foreground)

The result serves plain HTTP on 127.0.0.1:LISTEN_PORT (no TLS, no redirect)
and balances over 127.0.0.1:EDGE_PORT... It goes in an http {} block.
"""
import re
import sys
from pathlib import Path

SOURCE = Path(__file__).with_name("spoke-edges.conf")


def render(listen_port, edge_ports, text=None):
    text = text if text is not None else SOURCE.read_text()
    # The upstream: our edges instead of the example's.
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;\n" for p in edge_ports)
    text, n = re.subn(r"(upstream spoke_edges \{[^}]*?least_conn;\n)(?:[^}]*?\n)*?(\})",
                      lambda m: m.group(1) + servers + m.group(2), text, count=1)
    if n != 1:
        raise SystemExit("render_local: no `upstream spoke_edges { least_conn; ... }` block found")
    # Drop the port-80 redirect server block.
    text, n = re.subn(r"\nserver \{\n(?:(?!\nserver \{).)*?return 301[^\n]*\n\}\n", "\n", text,
                      count=1, flags=re.S)
    # The TLS server: plain HTTP on our port, no certificates.
    text = re.sub(r"^\s*listen \[::\]:443 ssl;\n", "", text, flags=re.M)
    text = re.sub(r"^(\s*)listen 443 ssl;", rf"\g<1>listen 127.0.0.1:{listen_port};", text,
                  flags=re.M)
    text = re.sub(r"^\s*ssl_[a-z_]+\s[^\n]*\n", "", text, flags=re.M)
    if f"listen 127.0.0.1:{listen_port};" not in text:
        raise SystemExit("render_local: no `listen 443 ssl;` line found")
    return text


def main_conf(workdir, include):
    """A whole nginx.conf for an unprivileged, foreground nginx whose files
    all live in workdir: run it as `nginx -p WORKDIR -c WORKDIR/nginx.conf`."""
    w = Path(workdir)
    return f"""daemon off;
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {w}/tmp-body;
    proxy_temp_path {w}/tmp-proxy;
    fastcgi_temp_path {w}/tmp-fastcgi;
    uwsgi_temp_path {w}/tmp-uwsgi;
    scgi_temp_path {w}/tmp-scgi;
    include {include};
}}
"""


if __name__ == "__main__":
    args = sys.argv[1:]
    workdir = None
    if args[:1] == ["--workdir"]:
        workdir, args = args[1], args[2:]
    if len(args) < 2:
        raise SystemExit("usage: render_local.py [--workdir DIR] LISTEN_PORT EDGE_PORT...")
    conf = render(int(args[0]), [int(p) for p in args[1:]])
    if workdir:  # write DIR/spoke-local.conf and DIR/nginx.conf, ready to run
        Path(workdir).mkdir(parents=True, exist_ok=True)
        (Path(workdir) / "spoke-local.conf").write_text(conf)
        (Path(workdir) / "nginx.conf").write_text(main_conf(workdir, Path(workdir) / "spoke-local.conf"))
    else:
        sys.stdout.write(conf)
