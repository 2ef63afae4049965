"""Per-client rules: clients matched by CIDR (longest prefix first) get
their own allowlist, denylist and ports instead of the global ones. The
tests use source addresses 127.0.0.1, 127.0.0.2 and 127.0.0.3 (curl
--interface) against a local origin, and reload the rules by SIGHUP."""
import os
import subprocess
import tempfile

import pytest

from proxy_helpers import Origin, Proxy


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="rampart-proxy-cr-") as d:
        yield d


@pytest.fixture(scope="module")
def origin():
    o = Origin(label="origin")
    yield o
    o.close()


def rules_config(origin, rules):
    return {"allow": ["origin.test"], "allowed_ports": [origin.port], "ssrf_allow": ["127.0.0.0/8"],
            "client_rules": rules}


@pytest.fixture
def proxy(workdir, origin, request):
    rules = [{"name": "lab", "clients": ["127.0.0.0/30"], "allow": [".sub.test"], "deny": ["b.sub.test"]},
             {"name": "one-host", "clients": ["127.0.0.3/32"], "allow": ["other.test"]}]
    p = Proxy(workdir, rules_config(origin, rules), name=request.node.name).start()
    yield p
    p.stop()


def get(proxy, origin, host, source):
    """curl from a given source address; returns the HTTP status."""
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--interface", source,
                        "-x", proxy.url, "--noproxy", "", "--max-time", "10", f"http://{host}:{origin.port}/"],
                       capture_output=True, env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    return int(r.stdout or 0)


def test_longest_prefix_rule_decides_else_global(proxy, origin):
    # 127.0.0.1 and .2 are in "lab" (/30): its lists, not the global ones.
    assert get(proxy, origin, "a.sub.test", "127.0.0.2") == 200
    assert get(proxy, origin, "b.sub.test", "127.0.0.2") == 403
    assert get(proxy, origin, "origin.test", "127.0.0.2") == 403
    # 127.0.0.3 is in both; the /32 wins.
    assert get(proxy, origin, "other.test", "127.0.0.3") == 200
    assert get(proxy, origin, "a.sub.test", "127.0.0.3") == 403
    # 127.0.0.9 is in no rule: the global allowlist.
    assert get(proxy, origin, "origin.test", "127.0.0.9") == 200
    assert get(proxy, origin, "a.sub.test", "127.0.0.9") == 403
    lines = proxy.wait_log_lines(lambda ls: len(ls) >= 7)
    # Sorted: lines from different connections may be written in any order.
    assert sorted((l["client"].split(":")[0], l["host"], l["decision"], l.get("client_rule") or "") for l in lines) == sorted([
        ("127.0.0.2", "a.sub.test", "allow", "lab"),
        ("127.0.0.2", "b.sub.test", "deny", "lab"),
        ("127.0.0.2", "origin.test", "deny", "lab"),
        ("127.0.0.3", "other.test", "allow", "one-host"),
        ("127.0.0.3", "a.sub.test", "deny", "one-host"),
        ("127.0.0.9", "origin.test", "allow", ""),
        ("127.0.0.9", "a.sub.test", "deny", ""),
    ])
    denied = [l for l in lines if l["host"] == "b.sub.test"][0]
    assert denied["reason"] == "denylist" and denied["rule"] == "b.sub.test"


def test_rule_ports_replace_the_global_ports(proxy, origin, workdir):
    proxy.reload(rules_config(origin, [{"name": "ports", "clients": ["127.0.0.2"], "allow": ["origin.test"],
                                        "allowed_ports": [1]}]))
    assert get(proxy, origin, "origin.test", "127.0.0.2") == 403
    assert get(proxy, origin, "origin.test", "127.0.0.1") == 200
    lines = proxy.wait_log_lines(lambda ls: len(ls) >= 2)
    reasons = [l["reason"] for l in lines if l["decision"] == "deny"]
    assert reasons == [f"port {origin.port} not allowed"]


def test_rules_are_reloaded_and_bad_rules_rejected(proxy, origin):
    assert get(proxy, origin, "other.test", "127.0.0.3") == 200
    proxy.reload(rules_config(origin, [{"clients": ["127.0.0.3"], "allow": ["origin.test"]}]))
    assert get(proxy, origin, "other.test", "127.0.0.3") == 403
    assert get(proxy, origin, "origin.test", "127.0.0.3") == 200
    # Three requests, three lines; the last is written when curl's
    # connection ends, which may be after curl has its answer.
    lines = proxy.wait_log_lines(lambda ls: len(ls) >= 3)
    allowed = [l for l in lines if l["host"] == "origin.test" and l["decision"] == "allow"]
    assert len(allowed) == 1 and allowed[0]["client_rule"] == "client_rules[0]"
    bad = proxy.complete(rules_config(origin, [{"clients": ["10.0.0.0/24"], "allow": ["other.test"]}]))
    proxy.reload(bad, expect="proxy reload rejected")
    assert "client_rules[0].clients: 10.0.0.0/24 is not inside allowed_clients" in proxy.stderr_text()
    assert get(proxy, origin, "origin.test", "127.0.0.3") == 200  # the old rules stay


def test_keep_alive_requests_each_use_the_clients_rule(proxy, origin):
    r = subprocess.run(["curl", "-s", "--interface", "127.0.0.2", "-x", proxy.url, "--noproxy", "", "--max-time",
                        "10", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code}\n",
                        f"http://a.sub.test:{origin.port}/", f"http://origin.test:{origin.port}/"],
                       capture_output=True, env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    assert r.stdout.decode().split() == ["200", "403"]
    lines = proxy.wait_log_lines(lambda ls: len(ls) >= 2)
    assert lines[0]["client"] == lines[1]["client"]
    assert [l["client_rule"] for l in lines] == ["lab", "lab"]
