"""deploy/redis/spoke.acl, the ACL file the deploy example gives Redis,
really lets two hubs run the redis engine: every command and script step
the hubs use is allowed to the `spoke` user (a missing one would fail
publishes with NOPERM at run time, not at startup), while the default user
is off and `spoke` can touch nothing outside its prefix and nothing
dangerous."""
import secrets
from pathlib import Path

from helpers import connect, expect, http_get, run, send, wait_for

REPO = Path(__file__).resolve().parents[2]
TOPIC = "room.deploy"


def acl_server(redis, tmp_path):
    """A redis-server with deploy/redis/spoke.acl, its PASSWORD replaced;
    returns (server, password)."""
    password = secrets.token_hex(16)
    text = (REPO / "deploy" / "redis" / "spoke.acl").read_text()
    assert "PASSWORD" in text
    acl = tmp_path / "spoke.acl"
    acl.write_text(text.replace("PASSWORD", password))
    return redis("acl", args=["--aclfile", str(acl)], auth=("spoke", password)), password


def test_the_deploy_acl_lets_two_hubs_work_and_nothing_more(make_cluster, redis, tmp_path):
    r, password = acl_server(redis, tmp_path)
    # The default user is off; spoke is confined to its prefix and to
    # harmless commands.
    assert r.command("PING", auth=False).startswith("-NOAUTH"), "the default user is not off"
    assert r.command("SET", "spoke:x", "1") == "+OK"
    assert r.command("SET", "other:x", "1").startswith("-NOPERM")
    for cmd in (("FLUSHALL",), ("CONFIG", "GET", "maxmemory"), ("KEYS", "*"),
                ("CLIENT", "KILL", "ID", "999999")):
        assert r.command(*cmd).startswith("-NOPERM"), f"{cmd[0]} is allowed to spoke"
    assert r.command("DEL", "spoke:x") == ":1"

    store = ["--engine", "redis", "--redis", r.sock, "--redis-user", "spoke",
             "--redis-password", password]
    a = make_cluster(edges=("edge-a",), workers=1, hub_args=[*store, "--name", "hub-a"])
    b = make_cluster(edges=("edge-b",), workers=1, hub_args=[*store, "--name", "hub-b"])
    for c in (a, b):
        wait_for(lambda c=c: http_get(c.http_port, "/readyz")[0] == 200, 10,
                 "both hubs ready on the ACL user")

    async def body():
        sub, _ = await connect(a.url_a)
        await send(sub, {"op": "sub", "topic": TOPIC, "id": 1})
        ack = await expect(sub, op="ack", id=1)
        pub, _ = await connect(b.url_b)
        for i in range(3):
            await send(pub, {"op": "pub", "topic": TOPIC, "data": i, "id": 10 + i})
            await expect(pub, op="ack", id=10 + i)
        for i in range(3):
            await expect(sub, op="msg", topic=TOPIC, seq=ack["seq"] + 1 + i, data=i)
        # History through the other hub: a resume from the first position.
        late, _ = await connect(b.url_b)
        await send(late, {"op": "sub", "topic": TOPIC, "id": 2,
                          "since": {"seq": ack["seq"], "epoch": ack["epoch"]}})
        got = await expect(late, op="ack", id=2)
        assert got["recovered"] is True, got
        for i in range(3):
            await expect(late, op="msg", topic=TOPIC, data=i)
    run(body())
    for c in (a, b):
        status, text = http_get(c.http_port, "/metrics")
        assert status == 200
        errors = [ln for ln in text.decode().splitlines()
                  if ln.startswith("spoke_hub_redis_errors_total") and not ln.endswith(" 0")]
        assert not errors, f"Redis refused commands under the deploy ACL: {errors}"
