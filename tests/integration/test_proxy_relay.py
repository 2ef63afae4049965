"""The tunnel relay (splice(2) through pipes, or a buffer) and the reuse
of origin connections by forwarded HTTP, driven through a real `rampart
proxy` against local origins: bytes arrive intact both ways and in order,
half-closes pass through, an idle tunnel holds no pipe, and an origin
connection is reused only for the same checked address and host."""
import hashlib
import os
import socket
import subprocess
import tempfile
import threading

import pytest

from proxy_helpers import Origin, Proxy, connect_tunnel

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="rampart-proxy-relay-") as d:
        yield d


class EchoOrigin:
    """A TCP origin on 127.0.0.1 that echoes every byte back and passes
    the client's half-close on (shutdown after the last echoed byte)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c):
        with c:
            while True:
                data = c.recv(1 << 16)
                if not data:
                    c.shutdown(socket.SHUT_WR)
                    return
                c.sendall(data)

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def echo():
    o = EchoOrigin()
    yield o
    o.close()


@pytest.fixture(scope="module")
def origin():
    o = Origin(label="origin")
    yield o
    o.close()


@pytest.fixture
def start_proxy(workdir, request):
    started = []

    def start(config):
        p = Proxy(workdir, config, name=f"{request.node.name}-{len(started)}").start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def tunnel_config(echo, **over):
    cfg = {"allow": ["origin.test"], "allowed_ports": [echo.port], "ssrf_allow": LOOPBACK, "require_sni": False}
    cfg.update(over)
    return cfg


def pump_through(sock, payload):
    """Sends payload while reading the echo; half-closes; returns what came back before EOF."""
    received = []

    def reader():
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                return
            received.append(chunk)

    t = threading.Thread(target=reader)
    t.start()
    view = memoryview(payload)
    for i in range(0, len(payload), 1 << 16):
        sock.sendall(view[i:i + (1 << 16)])
    sock.shutdown(socket.SHUT_WR)
    t.join(60)
    assert not t.is_alive(), "the echo did not end"
    return b"".join(received)


@pytest.mark.parametrize("splice", [True, False])
def test_bulk_bytes_arrive_intact_both_ways(start_proxy, echo, splice):
    p = start_proxy(tunnel_config(echo, splice=splice))
    payload = os.urandom(24 << 20)
    s, status = connect_tunnel(p, "origin.test", echo.port, timeout=60)
    assert status.startswith("HTTP/1.1 200")
    back = pump_through(s, payload)
    s.close()
    assert len(back) == len(payload)
    assert hashlib.sha256(back).digest() == hashlib.sha256(payload).digest()
    lines = p.wait_log_count(1, timeout=30)
    assert len(lines) == 1
    line = lines[0]
    assert line["bytes_down"] == len(payload)
    assert line["decision"] == "allow" and "reason" not in line
    assert 0 < line["bytes_up"] - len(payload) < 100  # the payload and the CONNECT head


def test_half_close_passes_through_and_small_messages_interleave(start_proxy, echo):
    p = start_proxy(tunnel_config(echo))
    s, status = connect_tunnel(p, "origin.test", echo.port)
    assert status.startswith("HTTP/1.1 200")
    for i in range(50):  # request/response traffic: a pipe taken and given back each time
        msg = f"message {i}\n".encode()
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            got += s.recv(100)
        assert got == msg
    s.shutdown(socket.SHUT_WR)
    assert s.recv(100) == b""  # the origin saw our EOF and closed its side
    s.close()


def pipe_fds(pid):
    fds = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:"):
                fds += 1
        except OSError:
            continue
    return fds


def test_idle_tunnels_hold_no_pipes(start_proxy, echo):
    p = start_proxy(tunnel_config(echo))
    before = pipe_fds(p.proc.pid)
    tunnels = []
    for _ in range(20):
        s, status = connect_tunnel(p, "origin.test", echo.port)
        assert status.startswith("HTTP/1.1 200")
        s.sendall(b"x" * 100000)
        got = 0
        while got < 100000:
            got += len(s.recv(1 << 16))
        tunnels.append(s)
    # Twenty idle tunnels; only the workers' small pools of empty pipes
    # remain (2 workers x at most 2 pipes used at once x 2 descriptors).
    assert pipe_fds(p.proc.pid) - before <= 8
    for s in tunnels:
        s.close()


# --- origin connection reuse (forwarded HTTP) -------------------------------------

def pool_config(origin, **over):
    cfg = {"allow": ["origin.test", ".sub.test"], "allowed_ports": [origin.port], "ssrf_allow": LOOPBACK,
           "workers": 1}
    cfg.update(over)
    return cfg


def get(proxy, url):
    """One request on its own client connection; returns (status, body)."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        host = url.split("//", 1)[1].split("/", 1)[0]
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body.decode()


def conn_of(body):
    return body.rsplit("conn=", 1)[1]


def test_origin_connection_reused_for_same_host_only(start_proxy, origin):
    p = start_proxy(pool_config(origin))
    url = f"http://origin.test:{origin.port}/conn"
    first = get(p, url)
    second = get(p, url)
    assert first[0] == second[0] == 200
    assert conn_of(first[1]) == conn_of(second[1])  # two clients, one origin connection
    # Another name for the same address gets a connection of its own.
    other = get(p, f"http://a.sub.test:{origin.port}/conn")
    assert other[0] == 200 and conn_of(other[1]) != conn_of(first[1])
    assert "host=a.sub.test" in other[1]
    again = get(p, url)
    assert conn_of(again[1]) == conn_of(first[1])
    assert [l["decision"] for l in p.wait_log_count(4)] == ["allow"] * 4


def test_origin_reuse_can_be_turned_off(start_proxy, origin):
    p = start_proxy(pool_config(origin, limits={"upstream_idle_connections": 0}))
    url = f"http://origin.test:{origin.port}/conn"
    assert conn_of(get(p, url)[1]) != conn_of(get(p, url)[1])


def test_origin_that_closes_is_not_reused(start_proxy, origin):
    p = start_proxy(pool_config(origin))
    base = f"http://origin.test:{origin.port}"
    assert get(p, base + "/then-close") == (200, "then-close")
    first = get(p, base + "/conn")
    assert first[0] == 200
    # An origin that drops a reused connection at the next request: the
    # bodiless GET goes again on a fresh connection, and the client never
    # sees the failure.
    assert get(p, base + "/conn?drop-next")[0] == 200
    retried = get(p, base + "/conn")
    assert retried[0] == 200
    assert conn_of(retried[1]) != conn_of(first[1])
    assert [l["status"] for l in p.wait_log_count(4)] == [200] * 4


def test_denied_host_never_gets_a_pooled_connection(start_proxy, origin):
    p = start_proxy(pool_config(origin, deny=["b.sub.test"]))
    assert get(p, f"http://origin.test:{origin.port}/conn")[0] == 200
    status, body = get(p, f"http://b.sub.test:{origin.port}/conn")
    assert status == 403 and "conn=" not in body


def test_curl_keepalive_client_with_pooled_origin(start_proxy, origin):
    p = start_proxy(pool_config(origin))
    urls = [f"http://origin.test:{origin.port}/conn"] * 3 + [f"http://a.sub.test:{origin.port}/conn"]
    r = subprocess.run(["curl", "-s", "-x", p.url, "--noproxy", "", "--max-time", "10"] + urls,
                       capture_output=True, env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    assert r.returncode == 0
    conns = [part.split()[0] for part in r.stdout.decode().split("conn=")[1:]]
    assert len(conns) == 4 and len(set(conns[:3])) == 1 and conns[3] != conns[0]
