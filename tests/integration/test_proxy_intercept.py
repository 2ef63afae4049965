"""Intercept mode end to end: the firewall redirects connections to
FAKE_DST:<origin port> to the proxy's intercept listener (an iptables nat
OUTPUT REDIRECT rule, added for one port and removed afterwards); curl talks
to the origin as if there were no proxy. Plain HTTP is decided by Host, TLS
by SNI; a denied TLS client gets a TLS access_denied alert. Skipped where
iptables cannot be used (no binary, no CAP_NET_ADMIN)."""
import os
import random
import shutil
import socket
import subprocess

import pytest

from proxy_helpers import free_port
from test_proxy import base_config, cert, http_origin, start_proxy, tls_origin, workdir  # noqa: F401

# The redirected destination: a loopback address of its own for each test
# (set by the intercept fixture). The kernel's connection tracking keeps a
# closed connection's NAT mapping for two minutes (TIME_WAIT); a later
# connection to the same address and port that happened to get the same
# source port was sent to the previous test's (stopped) intercept port.
FAKE_DST = "127.0.0.2"


def iptables(action, dport, to_port, dst):
    return subprocess.run(["iptables", "-w", "5", "-t", "nat", action, "OUTPUT", "-p", "tcp", "-d", dst,
                           "--dport", str(dport), "-j", "REDIRECT", "--to-ports", str(to_port),
                           "-m", "comment", "--comment", "rampart-proxy-test"],
                          capture_output=True, timeout=20)


@pytest.fixture
def intercept(start_proxy, http_origin, tls_origin):
    global FAKE_DST
    if shutil.which("iptables") is None:
        pytest.skip("iptables is not installed")
    dst = FAKE_DST = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(2, 254)}"
    port = free_port()
    rules = []
    try:
        for dport in (http_origin.port, tls_origin.port):
            r = iptables("-A", dport, port, dst)
            if r.returncode != 0:
                pytest.skip("cannot add an iptables nat rule: " + r.stderr.decode(errors="replace"))
            rules.append(dport)

        def start(**over):
            return start_proxy(base_config(http_origin, tls_origin, intercept_listen=f"127.0.0.1:{port}", **over))

        yield start
    finally:
        for dport in rules:
            iptables("-D", dport, port, dst)


def direct_curl(url, *extra):
    """curl without any proxy; names resolve to the redirected address."""
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    args = ["curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", "--noproxy", "*"]
    if not host[0].isdigit():
        args += ["--resolve", f"{host}:{port}:{FAKE_DST}"]
    r = subprocess.run(args + list(extra) + [url], capture_output=True, timeout=20,
                       env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    body, _, code = r.stdout.decode(errors="replace").rpartition("\n")
    return r.returncode, int(code or 0), body, r.stderr.decode(errors="replace")


def test_intercepted_tls_allowed_by_sni(intercept, tls_origin, cert):
    p = intercept()
    rc, code, body, err = direct_curl(f"https://origin.test:{tls_origin.port}/tls", "--cacert", cert[0])
    assert (rc, code) == (0, 200), err
    assert body == f"tls-origin host=origin.test:{tls_origin.port} path=/tls"
    lines = p.wait_log_count(1)
    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "TLS" and line["sni"] == "origin.test" and line["decision"] == "allow"
    assert line["port"] == tls_origin.port and line["upstream"] == f"127.0.0.1:{tls_origin.port}"


def test_intercepted_tls_denied_gets_alert(intercept, tls_origin, cert):
    p = intercept()
    rc, _, _, err = direct_curl(f"https://other.test:{tls_origin.port}/", "--cacert", cert[0])
    assert rc == 35 and "access denied" in err.lower()
    lines = p.wait_log_count(1)
    assert len(lines) == 1
    line = lines[0]
    assert line["decision"] == "deny" and line["reason"] == "not in allowlist" and line["sni"] == "other.test"
    # No SNI at all (an IP-literal URL): nothing to decide by, denied the same way.
    rc, _, _, err = direct_curl(f"https://{FAKE_DST}:{tls_origin.port}/", "--insecure")
    assert rc == 35 and "access denied" in err.lower()
    # Two connections: their lines may land in either order.
    lines = p.wait_log_count(2)
    assert sorted(l["reason"] for l in lines) == ["no SNI", "not in allowlist"]


def test_intercepted_http_decided_by_host(intercept, http_origin):
    p = intercept()
    rc, code, body, err = direct_curl(f"http://origin.test:{http_origin.port}/plain")
    assert (rc, code) == (0, 200), err
    assert body == f"http-origin host=origin.test:{http_origin.port} path=/plain"
    rc, code, body, _ = direct_curl(f"http://other.test:{http_origin.port}/")
    assert code == 403 and "<b>other.test</b>" in body and "not in allowlist" in body
    lines = p.wait_log_count(2)
    assert len(lines) == 2
    # Lines of different connections may land in either order.
    lines.sort(key=lambda l: l["decision"])
    assert [(l["host"], l["decision"]) for l in lines] == [("origin.test", "allow"), ("other.test", "deny")]
    assert lines[0]["method"] == "GET" and lines[0]["upstream"] == f"127.0.0.1:{http_origin.port}"


def test_intercept_listener_refuses_unredirected_connections(intercept):
    p = intercept()
    port = int(p.config["intercept_listen"].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        try:
            assert s.recv(100) == b""  # closed without an answer (a reset is as good)
        except ConnectionResetError:
            pass
    lines = p.wait_log_count(1)
    assert len(lines) == 1
    assert lines[0]["reason"] == "intercept: no original destination (connection was not redirected)"


def test_intercepted_http_keeps_alive_and_checks_each_host(intercept, http_origin):
    """One redirected connection carries several requests; each is decided
    by its own Host, and a Host naming another origin never rides the
    previous request's origin connection."""
    from test_proxy_keepalive import read_response
    p = intercept()
    port = http_origin.port
    with socket.create_connection((FAKE_DST, port), timeout=10) as s:
        def ask(host, path="/conn"):
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            head, body, rest = read_response(s)
            assert rest == b""
            return head.split(" ")[1], body.decode()

        status, first = ask("origin.test")
        assert status == "200" and f"host=origin.test:{port}" in first
        status, other = ask("a.sub.test")
        assert status == "200" and f"host=a.sub.test:{port}" in other
        assert other.rsplit("conn=", 1)[1] != first.rsplit("conn=", 1)[1]
        status, denied = ask("other.test")
        assert status == "403" and "not in allowlist" in denied
        status, again = ask("origin.test")
        assert status == "200" and again.rsplit("conn=", 1)[1] == first.rsplit("conn=", 1)[1]
    lines = p.wait_log_count(4)
    assert len(lines) == 4
    assert [l["host"] for l in lines] == ["origin.test", "a.sub.test", "other.test", "origin.test"]
    assert [l["decision"] for l in lines] == ["allow", "allow", "deny", "allow"]
    assert len({l["client"] for l in lines}) == 1


def test_intercepted_http_tls_bytes_after_a_request_are_not_a_handshake(intercept, http_origin):
    """Only a connection's first byte can start TLS: later, 0x16 is just a
    malformed request."""
    from test_proxy_keepalive import read_response
    p = intercept()
    port = http_origin.port
    with socket.create_connection((FAKE_DST, port), timeout=10) as s:
        s.sendall(f"GET /plain HTTP/1.1\r\nHost: origin.test:{port}\r\n\r\n".encode())
        head, _, _ = read_response(s)
        assert head.startswith("HTTP/1.1 200")
        s.sendall(b"\x16\x03\x01\x00\x05hello\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    lines = p.wait_log_count(2)
    assert len(lines) == 2 and [l["status"] for l in lines] == [200, 400]
    assert all(l.get("method") != "TLS" for l in lines)
