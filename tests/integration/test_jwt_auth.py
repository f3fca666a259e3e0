"""The edge admits clients by JWT (HS256 secret, RS256 or ES256 public key; token in ?token= or an Authorization: Bearer header), refuses bad tokens with 401 and a short reason, names the token's user in welcome, msg and direct, and enforces the token's topic patterns (or --topic-default) with error 403 on a connection that stays open."""
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from helpers import (HOST, await_for, connect, expect, raw_upgrade, recv_json, run,
                     send, subscribe, wait_for)

SECRET = "spoke-test-secret-0123456789-abcdef"  # HS256 needs at least 32 bytes
assert len(SECRET) >= 32


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """RSA-2048 and EC P-256 key pairs; .rsa_pub/.ec_pub are PEM files for the edge."""
    d = tmp_path_factory.mktemp("jwt-keys")
    out = {}
    for tag, private in (("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                         ("rsa_other", rsa.generate_private_key(public_exponent=65537,
                                                                key_size=2048)),
                         ("ec", ec.generate_private_key(ec.SECP256R1()))):
        pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        path = d / f"{tag}.pub.pem"
        path.write_bytes(pem)
        out[tag] = private
        out[f"{tag}_pub"] = path
    return type("Keys", (), out)


def claims(sub=None, exp_in=600, nbf_in=None, spoke=None, **extra):
    now = int(time.time())
    c = {"exp": now + exp_in, **extra}
    if sub is not None:
        c["sub"] = sub
    if nbf_in is not None:
        c["nbf"] = now + nbf_in
    if spoke is not None:
        c["spoke"] = spoke
    return c


def hs256(c, secret=SECRET, alg="HS256"):
    return jwt.encode(c, secret, algorithm=alg)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_by_hand(c, secret_bytes):
    """An HS256 token MACed with arbitrary bytes (PyJWT refuses a PEM key as HMAC secret)."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(c, separators=(",", ":")).encode())
    mac = hmac.new(secret_bytes, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def auth_cluster(make_cluster, *flags):
    return make_cluster(edges=("edge-a",), workers=2, edge_args=list(flags))


def refusal(cluster, token, via="query"):
    """(status, headers, body text) of an upgrade presenting token (None: no token)."""
    port = cluster.edge_ports["edge-a"]
    if token is None:
        status, head, body = raw_upgrade(port)
    elif via == "query":
        status, head, body = raw_upgrade(port, path=f"/ws?token={token}")
    else:
        status, head, body = raw_upgrade(port, headers=[("Authorization", f"Bearer {token}")])
    return status, head, body.decode(errors="replace").strip()


def assert_refused(cluster, token, reasons, vias=("query", "header")):
    reasons = (reasons,) if isinstance(reasons, str) else reasons
    for via in vias:
        status, head, body = refusal(cluster, token, via)
        assert status == 401 and body in reasons, (
            f"token via {via}: expected 401 {' or '.join(reasons)!r}, got {status} {body!r}")
        assert head.get("www-authenticate", "").startswith("Bearer"), head


def with_token(url, token):
    return f"{url}?token={token}"


async def ack_and_msg(ws, id_):
    """The ack of request id_ and the message it published to ws itself, in either order."""
    got = {}
    for _ in range(2):
        m = await recv_json(ws)
        got[m.get("op")] = m
    assert got.get("ack", {}).get("id") == id_, f"no ack for {id_}: {got!r}"
    assert "msg" in got, f"no msg: {got!r}"
    return got["msg"]


async def expect_error(ws, id_, code):
    err = await expect(ws, op="error", id=id_, code=code)
    assert isinstance(err.get("reason"), str) and err["reason"], err
    return err


# ---- who may connect

def test_hs256_token_in_query_or_header_names_the_user_everywhere(make_cluster):
    cluster = auth_cluster(make_cluster, "--jwt-secret", SECRET, "--auth-required", "true")

    async def body():
        alice, aw = await connect(with_token(cluster.url_a, hs256(claims(sub="alice"))))
        bob, bw = await connect(cluster.url_a, extra_headers={
            "Authorization": f"Bearer {hs256(claims(sub='bob'))}"})
        nobody, nw = await connect(with_token(cluster.url_a, hs256(claims())))  # no sub
        assert aw.get("user") == "alice", aw
        assert bw.get("user") == "bob", bw
        assert "user" not in nw, nw

        await subscribe(bob, "room")
        await cluster.await_interest(bw["conn"])
        await send(alice, {"op": "pub", "topic": "room", "data": "hi", "id": 1,
                           "user": "mallory"})  # a claimed user in the message counts for nothing
        await expect(alice, op="ack", id=1)
        msg = await expect(bob, op="msg", topic="room", data="hi")
        assert (msg.get("from"), msg.get("user")) == (aw["conn"], "alice"), msg
        await send(nobody, {"op": "pub", "topic": "room", "data": "anon", "id": 2})
        msg = await expect(bob, op="msg", topic="room", data="anon")
        assert msg.get("from") == nw["conn"] and "user" not in msg, msg

        await send(alice, {"op": "send", "to": bw["conn"], "data": "psst", "id": 3})
        await expect(alice, op="ack", id=3)
        direct = await expect(bob, op="direct", data="psst")
        assert (direct.get("from"), direct.get("user")) == (aw["conn"], "alice"), direct
    run(body())


REFUSALS = {  # case: (claims/token builder, acceptable 401 bodies)
    "missing token": (lambda: None, "token required"),
    "expired": (lambda: hs256(claims(sub="u", exp_in=-120)), "token expired"),
    "not yet valid": (lambda: hs256(claims(sub="u", nbf_in=300)), "token not yet valid"),
    "wrong signature": (lambda: hs256(claims(sub="u"), secret=SECRET[::-1]), "invalid token"),
    "alg none": (lambda: jwt.encode(claims(sub="u"), None, algorithm="none"),
                 ("invalid token", "wrong algorithm")),
    "HS512 with the right secret": (lambda: hs256(claims(sub="u"), alg="HS512"),
                                    "wrong algorithm"),
    "not a JWT": (lambda: "not-a-token", "invalid token"),
    "no exp": (lambda: hs256({"sub": "u"}), "missing exp"),
    "exp not an integer": (lambda: hs256({"sub": "u", "exp": str(int(time.time()) + 600)}),
                           "bad exp claim"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_required_auth_refuses_with_401_and_a_reason(make_cluster, case):
    cluster = auth_cluster(make_cluster, "--jwt-secret", SECRET, "--auth-required", "true")
    make_token, reasons = REFUSALS[case]
    token = make_token()
    assert_refused(cluster, token, reasons, vias=("query",) if token is None else
                   ("query", "header"))


def test_leeway_defaults_to_30_seconds(make_cluster):
    cluster = auth_cluster(make_cluster, "--jwt-secret", SECRET, "--auth-required", "true")

    async def body():
        for c in (claims(sub="late", exp_in=-10), claims(sub="early", nbf_in=10)):
            await connect(with_token(cluster.url_a, hs256(c)))  # admitted: a welcome
    assert_refused(cluster, hs256(claims(exp_in=-45)), "token expired")
    assert_refused(cluster, hs256(claims(nbf_in=45)), "token not yet valid")
    run(body())


def test_jwt_leeway_0_allows_no_skew(make_cluster):
    cluster = auth_cluster(make_cluster, "--jwt-secret", SECRET, "--auth-required", "true",
                           "--jwt-leeway", "0")
    assert_refused(cluster, hs256(claims(exp_in=-10)), "token expired")
    assert_refused(cluster, hs256(claims(nbf_in=10)), "token not yet valid")


def test_optional_auth_admits_anonymous_clients_but_not_bad_tokens(make_cluster):
    cluster = auth_cluster(make_cluster, "--jwt-secret", SECRET, "--auth-required", "false")

    async def body():
        anon, anw = await connect(cluster.url_a)
        assert "user" not in anw, anw
        carol, cw = await connect(with_token(cluster.url_a, hs256(claims(sub="carol"))))
        await subscribe(carol, "open")
        await cluster.await_interest(cw["conn"])
        await send(anon, {"op": "pub", "topic": "open", "data": 1, "id": 1, "user": "mallory"})
        await expect(anon, op="ack", id=1)
        msg = await expect(carol, op="msg", topic="open", data=1)
        assert msg.get("from") == anw["conn"] and "user" not in msg, msg
        assert cw.get("user") == "carol", cw  # a token still names its user
    assert_refused(cluster, hs256(claims(sub="x"), secret=SECRET[::-1]), "invalid token")
    assert_refused(cluster, hs256(claims(sub="x", exp_in=-120)), "token expired")
    run(body())


# ---- public keys: each pins one algorithm

def test_rsa_public_key_accepts_rs256_and_refuses_algorithm_confusion(make_cluster, keys):
    cluster = auth_cluster(make_cluster, "--jwt-public-key", str(keys.rsa_pub),
                           "--auth-required", "true")

    async def body():
        await connect(with_token(  # admitted: a welcome
            cluster.url_a, jwt.encode(claims(sub="rsa-user"), keys.rsa, algorithm="RS256")))
    # HS256 MACed with the very PEM bytes the edge holds as its public key
    confused = hs256_by_hand(claims(sub="attacker"), keys.rsa_pub.read_bytes())
    assert_refused(cluster, confused, "wrong algorithm")
    assert_refused(cluster, jwt.encode(claims(sub="x"), keys.rsa_other, algorithm="RS256"),
                   "invalid token")
    assert_refused(cluster, jwt.encode(claims(sub="x"), keys.rsa, algorithm="RS512"),
                   "wrong algorithm")
    assert_refused(cluster, jwt.encode(claims(sub="x"), keys.ec, algorithm="ES256"),
                   ("wrong algorithm", "invalid token"))
    run(body())


def test_ec_public_key_accepts_es256_only(make_cluster, keys):
    cluster = auth_cluster(make_cluster, "--jwt-public-key", str(keys.ec_pub),
                           "--auth-required", "true")

    async def body():
        await connect(cluster.url_a, extra_headers={"Authorization": "Bearer " + jwt.encode(
            claims(sub="ec-user"), keys.ec, algorithm="ES256")})  # admitted: a welcome
    assert_refused(cluster, jwt.encode(claims(sub="x"), keys.rsa, algorithm="RS256"),
                   ("wrong algorithm", "invalid token"))
    assert_refused(cluster, hs256_by_hand(claims(sub="x"), keys.ec_pub.read_bytes()),
                   "wrong algorithm")
    run(body())


def test_sighup_rereads_the_public_key_and_keeps_open_connections(make_cluster, tmp_path):
    """A rotated jwt_public_key file takes effect on SIGHUP: tokens from the new
    key are admitted, tokens from the old one refused, and a connection opened
    with the old key stays open and keeps working."""
    import shutil
    import signal

    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def pem(private):
        return private.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    key_file = tmp_path / "jwt.pub.pem"
    key_file.write_bytes(pem(old))
    cluster = auth_cluster(make_cluster, "--jwt-public-key", str(key_file),
                           "--auth-required", "true")
    old_token = jwt.encode(claims(sub="old"), old, algorithm="ES256")
    new_token = jwt.encode(claims(sub="new"), new, algorithm="ES256")
    assert_refused(cluster, new_token, "invalid token")

    async def body():
        ws, welcome = await connect(with_token(cluster.url_a, old_token))
        assert welcome["user"] == "old"
        staged = tmp_path / "staged.pem"
        staged.write_bytes(pem(new))
        shutil.move(staged, key_file)  # rename over: no half-written file is ever read
        cluster.edges["edge-a"].signal(signal.SIGHUP)
        await await_for(lambda: "jwt_public_key reloaded" in cluster.edge_log("edge-a"), 5,
                        "the reload in edge-a's log")
        _, welcome2 = await connect(with_token(cluster.url_a, new_token))
        assert welcome2["user"] == "new"
        assert_refused(cluster, old_token, "invalid token")
        await send(ws, {"op": "ping", "id": 7})
        await expect(ws, op="pong", id=7)
    run(body())


def test_sighup_keeps_the_old_key_when_the_new_file_is_bad(make_cluster, keys, tmp_path):
    key_file = tmp_path / "jwt.pub.pem"
    key_file.write_bytes(keys.ec_pub.read_bytes())
    cluster = auth_cluster(make_cluster, "--jwt-public-key", str(key_file),
                           "--auth-required", "true")
    key_file.write_text("not a key\n")
    import signal
    cluster.edges["edge-a"].signal(signal.SIGHUP)
    wait_for(lambda: "jwt_public_key reload failed, the old key stays" in
             cluster.edge_log("edge-a"), 5, "the failed reload in edge-a's log")

    async def body():
        _, welcome = await connect(with_token(cluster.url_a, jwt.encode(
            claims(sub="still"), keys.ec, algorithm="ES256")))
        assert welcome["user"] == "still"
    run(body())


# ---- what a connection may do

def test_spoke_claim_limits_sub_and_pub_and_the_connection_stays_open(make_cluster):
    cluster = auth_cluster(make_cluster, "--jwt-secret", SECRET, "--auth-required", "true")
    token = hs256(claims(sub="dave", spoke={"sub": ["chat.*", "news"], "pub": ["chat.lobby"]}))

    async def body():
        ws, welcome = await connect(with_token(cluster.url_a, token))
        for id_, topic in ((1, "chat."), (2, "chat"), (3, "secret"), (4, "newsroom")):
            await send(ws, {"op": "sub", "topic": topic, "id": id_})
            await expect_error(ws, id_, 403)
        for id_, topic in ((5, "chat.x"), (6, "news"), (7, "chat.lobby.sub")):
            await send(ws, {"op": "pub", "topic": topic, "data": 0, "id": id_})
            await expect_error(ws, id_, 403)
        await subscribe(ws, "chat.lobby.sub")  # "chat.*" covers deeper topics too
        await subscribe(ws, "news")
        await subscribe(ws, "chat.lobby")
        await cluster.await_interest(welcome["conn"], topics=3)
        await send(ws, {"op": "pub", "topic": "chat.lobby", "data": "ok", "id": 8})
        msg = await ack_and_msg(ws, 8)
        assert (msg.get("topic"), msg.get("data"), msg.get("seq")) == ("chat.lobby", "ok", 1), msg
        assert (msg.get("from"), msg.get("user")) == (welcome["conn"], "dave"), msg
    run(body())


def test_spoke_claim_without_a_pub_list_allows_no_publishing(make_cluster):
    cluster = auth_cluster(make_cluster, "--jwt-secret", SECRET, "--auth-required", "true")
    reader = hs256(claims(sub="reader", spoke={"sub": ["*"]}))
    writer = hs256(claims(sub="writer", spoke={"pub": ["feed"]}))

    async def body():
        r, rw = await connect(with_token(cluster.url_a, reader))
        w, _ = await connect(with_token(cluster.url_a, writer))
        await send(r, {"op": "pub", "topic": "feed", "data": 1, "id": 1})
        await expect_error(r, 1, 403)
        await send(w, {"op": "sub", "topic": "feed", "id": 2})
        await expect_error(w, 2, 403)
        await subscribe(r, "feed")
        await cluster.await_interest(rw["conn"])
        await send(w, {"op": "pub", "topic": "feed", "data": 2, "id": 3})
        await expect(w, op="ack", id=3)
        msg = await recv_json(r)
        assert (msg.get("op"), msg.get("data"), msg.get("user")) == ("msg", 2, "writer"), msg
    run(body())


def test_topic_default_deny_applies_without_the_claim(make_cluster, tmp_path):
    ini = tmp_path / "edge.ini"  # the INI keys, not the flags
    ini.write_text(f"jwt_secret = {SECRET}\nauth_required = false\ntopic_default = deny\n")
    cluster = auth_cluster(make_cluster, "-c", str(ini))

    async def body():
        anon, _ = await connect(cluster.url_a)
        plain, _ = await connect(with_token(cluster.url_a, hs256(claims(sub="noclaim"))))
        granted, gw = await connect(with_token(cluster.url_a, hs256(claims(
            sub="granted", spoke={"sub": ["t"], "pub": ["t"]}))))
        for i, ws in enumerate((anon, plain)):
            await send(ws, {"op": "sub", "topic": "t", "id": 10 + i})
            await expect_error(ws, 10 + i, 403)
            await send(ws, {"op": "pub", "topic": "t", "data": 0, "id": 20 + i})
            await expect_error(ws, 20 + i, 403)
        await subscribe(granted, "t")
        await cluster.await_interest(gw["conn"])
        await send(granted, {"op": "pub", "topic": "t", "data": "mine", "id": 30})
        msg = await ack_and_msg(granted, 30)
        assert (msg.get("data"), msg.get("user")) == ("mine", "granted"), msg
    run(body())
    assert_refused(cluster, "bad.to.ken", "invalid token")  # bad tokens still refused


# ---- settings the edge refuses

@pytest.mark.parametrize("flags, words", [
    (["--jwt-secret", "x" * 31], "jwt_secret"),
    (["--auth-required", "true"], "auth"),
    (["--jwt-secret", SECRET, "--topic-default", "maybe"], "topic_default"),
    (["--jwt-public-key", "/nonexistent/key.pem"], "/nonexistent/key.pem"),
], ids=["short secret", "required without key", "bad topic_default", "missing key file"])
def test_edge_exits_2_on_bad_auth_settings(launch, flags, words):
    edge = launch("spoke-edge", ["--name", "edge-a", "--listen", f"{HOST}:0",
                                 "--admin", f"{HOST}:0", "--workers", "1", *flags])
    assert edge.outcome() == "exited", f"edge started with {flags}"
    assert edge.p.returncode == 2, f"exit status {edge.p.returncode}:\n{edge.output()}"
    lines = [line for line in edge.stderr().splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], edge.stderr()
