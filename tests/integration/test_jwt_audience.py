"""With jwt_audience and jwt_issuer set, the edge admits only tokens (made by PyJWT) whose aud is that audience (or an array holding it) and whose iss is that issuer; other tokens get 401 with a short reason ("missing aud claim", "wrong audience", "bad iss claim", ...), in the query or in the Authorization header; an edge with either setting but no key refuses to start."""
import time

import jwt
import pytest

from helpers import HOST, connect, raw_upgrade, run

SECRET = "spoke-test-secret-0123456789-abcdef"
AUD = "spoke.example.com"
ISS = "https://auth.example.com/"


def token(**claims):
    """An HS256 token valid for 10 minutes, with the given claims."""
    return jwt.encode({"exp": int(time.time()) + 600, **claims}, SECRET, algorithm="HS256")


@pytest.fixture
def edge(make_cluster, tmp_path):
    """One edge requiring tokens for AUD from ISS, set in its INI file."""
    ini = tmp_path / "edge.ini"
    ini.write_text(f"jwt_secret = {SECRET}\nauth_required = true\n"
                   f"jwt_audience = {AUD}\njwt_issuer = {ISS}\n")
    return make_cluster(edges=("edge-a",), workers=1, edge_args=["-c", str(ini)])


def refusal(cluster, tok, via):
    port = cluster.edge_ports["edge-a"]
    if via == "query":
        status, head, body = raw_upgrade(port, path=f"/ws?token={tok}")
    else:
        status, head, body = raw_upgrade(port, headers=[("Authorization", f"Bearer {tok}")])
    return status, body.decode(errors="replace").strip()


REFUSED = [
    ("no aud", dict(iss=ISS), "missing aud claim"),
    ("other aud", dict(iss=ISS, aud="other.example.com"), "wrong audience"),
    ("aud list without ours", dict(iss=ISS, aud=["a", "b"]), "wrong audience"),
    ("aud prefix", dict(iss=ISS, aud=AUD[:-1]), "wrong audience"),
    ("aud a number", dict(iss=ISS, aud=7), "bad aud claim"),
    ("aud list with a number", dict(iss=ISS, aud=[AUD, 7]), "bad aud claim"),
    ("no iss", dict(aud=AUD), "missing iss claim"),
    ("other iss", dict(iss="https://evil.example.com/", aud=AUD), "wrong issuer"),
    ("iss a list", dict(iss=[ISS], aud=AUD), "bad iss claim"),
]


@pytest.mark.parametrize("what,claims,reason", REFUSED, ids=[r[0] for r in REFUSED])
def test_token_without_the_right_aud_or_iss_gets_401(edge, what, claims, reason):
    # PyJWT checks nothing when encoding, so it signs malformed claims too.
    tok = token(**claims)
    for via in ("query", "header"):
        assert refusal(edge, tok, via) == (401, reason), via


def test_token_with_the_right_aud_and_iss_connects(edge):
    async def body():
        for aud in (AUD, [AUD], ["first", AUD, "last"]):
            tok = token(sub="alice", iss=ISS, aud=aud)
            ws, welcome = await connect(f"{edge.url_a}?token={tok}")
            assert welcome.get("user") == "alice", welcome
            await ws.close()
    run(body())


def test_audience_without_a_key_refuses_to_start(launch):
    for flags in (["--jwt-audience", AUD], ["--jwt-issuer", ISS]):
        proc = launch("spoke-edge", ["--name", "edge-a", "--listen", f"{HOST}:0",
                                     "--admin", f"{HOST}:0", "--workers", "1", *flags])
        assert proc.outcome() == "exited", f"edge started with {flags}"
        assert proc.p.returncode == 2, proc.output()
        assert "jwt_audience and jwt_issuer need jwt_secret or jwt_public_key" in proc.stderr()
