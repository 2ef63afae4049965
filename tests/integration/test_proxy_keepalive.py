"""Keep-alive and message bodies on the explicit proxy, with real curl,
Python's http.client and raw sockets against a local origin: several
requests per client connection, each checked on its own (a denied host
later on the same connection is refused, and the connection goes on);
Content-Length and chunked bodies both ways; responses delimited by the
origin closing; hop-by-hop fields; HTTP/1.0 clients; pipelining; one
access-log line per request."""
import http.client
import os
import socket
import subprocess
import tempfile

import pytest

from proxy_helpers import Origin, Proxy

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="rampart-proxy-ka-") as d:
        yield d


@pytest.fixture(scope="module")
def origin():
    o = Origin(label="origin")
    yield o
    o.close()


@pytest.fixture
def proxy(workdir, origin, request):
    p = Proxy(workdir, {"allow": ["origin.test", ".sub.test"], "deny": ["b.sub.test"],
                        "allowed_ports": [origin.port], "ssrf_allow": LOOPBACK},
              name=request.node.name).start()
    yield p
    p.stop()


def url(origin, host="origin.test", path="/"):
    return f"http://{host}:{origin.port}{path}"


def through(proxy):
    return http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)


def read_response(sock):
    """One response with a Content-Length body from a raw socket: (head, body, rest)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "connection closed before a response head"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    fields = {l.split(b":", 1)[0].strip().lower(): l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")[1:]}
    length = int(fields[b"content-length"])
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, "connection closed inside a body"
        body += chunk
    return head.decode(), body[:length], body[length:]


def test_curl_reuses_one_connection_for_several_urls(proxy, origin):
    r = subprocess.run(["curl", "-sv", "-x", proxy.url, "--noproxy", "", "--max-time", "10",
                        url(origin, path="/one"), url(origin, "a.sub.test", "/two"), url(origin, path="/three")],
                       capture_output=True, env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert f"host=origin.test:{origin.port} path=/one" in out
    assert f"host=a.sub.test:{origin.port} path=/two" in out
    assert f"host=origin.test:{origin.port} path=/three" in out
    assert "Re-using existing connection" in r.stderr.decode()
    lines = proxy.wait_log_count(3)
    assert [l["host"] for l in lines] == ["origin.test", "a.sub.test", "origin.test"]
    assert len({l["client"] for l in lines}) == 1  # one client connection
    assert all(l["decision"] == "allow" and l["status"] == 200 for l in lines)


def test_each_request_is_checked_and_a_deny_keeps_the_connection(proxy, origin):
    conn = through(proxy)
    conn.request("GET", url(origin, path="/first"))
    r = conn.getresponse()
    assert (r.status, r.read().decode()) == (200, f"origin host=origin.test:{origin.port} path=/first")
    assert r.getheader("Connection") == "keep-alive"
    sock = conn.sock
    conn.request("GET", url(origin, "b.sub.test", "/denied"))
    r = conn.getresponse()
    body = r.read().decode()
    assert r.status == 403 and "denylist" in body
    assert r.getheader("Connection") == "keep-alive"
    conn.request("GET", url(origin, "evil.test", "/denied"))
    r = conn.getresponse()
    assert r.status == 403 and "not in allowlist" in r.read().decode()
    conn.request("GET", url(origin, path="/after"))
    r = conn.getresponse()
    assert (r.status, r.read().decode()) == (200, f"origin host=origin.test:{origin.port} path=/after")
    assert conn.sock is sock  # never reconnected
    conn.close()
    lines = proxy.wait_log_count(4)
    assert [(l["host"], l["decision"]) for l in lines] == [
        ("origin.test", "allow"), ("b.sub.test", "deny"), ("evil.test", "deny"), ("origin.test", "allow")]
    assert len({l["client"] for l in lines}) == 1


def test_content_length_and_chunked_request_bodies(proxy, origin):
    conn = through(proxy)
    conn.request("POST", url(origin, path="/echo"), body=b"a=1&b=two")
    r = conn.getresponse()
    assert (r.status, r.read()) == (200, b"origin got=a=1&b=two")
    conn.request("POST", url(origin, path="/echo"), body=iter([b"abc", b"", b"defg", b"h" * 5000]),
                 encode_chunked=True)
    r = conn.getresponse()
    assert (r.status, r.read()) == (200, b"origin chunked=abcdefg" + b"h" * 5000)
    big = os.urandom(3 * 1024 * 1024 + 17)
    conn.request("POST", url(origin, path="/size"), body=big)
    r = conn.getresponse()
    assert (r.status, r.read()) == (200, f"origin got {len(big)} bytes".encode())
    conn.request("POST", url(origin, path="/size"), body=(big[i:i + 70000] for i in range(0, len(big), 70000)),
                 encode_chunked=True)
    r = conn.getresponse()
    assert (r.status, r.read()) == (200, f"origin chunked {len(big)} bytes".encode())
    conn.close()
    lines = proxy.wait_log_count(4)
    assert len(lines) == 4 and len({l["client"] for l in lines}) == 1
    assert lines[2]["bytes_up"] > len(big)


def test_chunked_and_bodiless_responses(proxy, origin):
    conn = through(proxy)
    conn.request("GET", url(origin, path="/chunked?n=50"))
    r = conn.getresponse()
    assert r.getheader("Transfer-Encoding") == "chunked"
    assert r.read().decode() == "".join(f"part{i} " for i in range(50))
    conn.request("HEAD", url(origin, path="/head"))
    r = conn.getresponse()
    assert (r.status, r.getheader("Content-Length"), r.read()) == (200, "1234", b"")
    conn.request("GET", url(origin, path="/again"))
    r = conn.getresponse()
    assert r.status == 200 and r.read().endswith(b"path=/again")
    conn.close()
    lines = proxy.wait_log_count(3)
    assert len(lines) == 3
    assert [l["method"] for l in lines] == ["GET", "HEAD", "GET"]
    assert len({l["client"] for l in lines}) == 1


def test_response_delimited_by_close_ends_the_client_connection(proxy, origin):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(f"GET {url(origin, path='/until-close')} HTTP/1.1\r\nHost: origin.test:{origin.port}\r\n\r\n"
                  .encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"\r\nConnection: close" in head
    assert body == b"until-close body"


def test_hop_by_hop_fields_both_ways(proxy, origin):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall((f"GET {url(origin, path='/headers')} HTTP/1.1\r\nHost: origin.test:{origin.port}\r\n"
                   "Proxy-Connection: keep-alive\r\nConnection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 30\r\n"
                   "Proxy-Authorization: Basic eDp5\r\nX-Kept: yes\r\n\r\n").encode())
        head, body, _ = read_response(s)
    # The origin saw none of the client's hop-by-hop fields, only ours.
    assert body.decode().split(",") == ["accept-encoding", "connection", "host", "x-kept"] or \
        body.decode().split(",") == ["connection", "host", "x-kept"]
    lines = head.split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    names = [l.split(":")[0].lower() for l in lines[1:]]
    assert "x-hop" not in names and "keep-alive" not in names
    assert "x-end" in names and names.count("connection") == 1
    assert "Connection: keep-alive" in lines


def test_http10_client_closes_unless_it_asks_for_keep_alive(proxy, origin):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(f"GET {url(origin, path='/old')} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and b"\r\nConnection: close\r\n" in data
    assert data.endswith(f"host=origin.test:{origin.port} path=/old".encode())
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        for path in ("/k1", "/k2"):
            s.sendall(f"GET {url(origin, path=path)} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
            head, body, rest = read_response(s)
            assert "\r\nConnection: keep-alive" in head and rest == b""
            assert body.decode().endswith(f"path={path}")
        # A chunked body cannot come from an HTTP/1.0 client.
        s.sendall(f"POST {url(origin)} HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 400 ")


def test_pipelined_requests_are_answered_in_order_and_checked_each(proxy, origin):
    reqs = (f"GET {url(origin, path='/p1')} HTTP/1.1\r\nHost: origin.test:{origin.port}\r\n\r\n"
            f"POST {url(origin, path='/p2')} HTTP/1.1\r\nHost: origin.test:{origin.port}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n"
            f"GET {url(origin, 'evil.test', '/p3')} HTTP/1.1\r\nHost: evil.test:{origin.port}\r\n\r\n"
            f"GET {url(origin, path='/p4')} HTTP/1.1\r\nHost: origin.test:{origin.port}\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(reqs.encode())
        rest = b""
        answers = []
        for _ in range(4):
            head, body, rest = read_response(_Prefixed(s, rest))
            answers.append((head.split("\r\n")[0], body.decode()))
        assert s.recv(10) == b""  # closed after the request that asked for it
    assert answers[0] == ("HTTP/1.1 200 OK", f"origin host=origin.test:{origin.port} path=/p1")
    assert answers[1] == ("HTTP/1.1 200 OK", "origin chunked=xyz")
    assert answers[2][0] == "HTTP/1.1 403 Forbidden" and "evil.test" in answers[2][1]
    assert answers[3] == ("HTTP/1.1 200 OK", f"origin host=origin.test:{origin.port} path=/p4")


def test_malformed_chunked_request_body_is_refused(proxy, origin):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall((f"POST {url(origin)} HTTP/1.1\r\nHost: origin.test:{origin.port}\r\n"
                   "Transfer-Encoding: chunked\r\n\r\nzz\r\n").encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 400 ")
    lines = proxy.wait_log_count(1)
    assert len(lines) == 1 and lines[0]["reason"] == "malformed chunked request body"


class _Prefixed:
    """A socket whose first recv returns bytes already read."""

    def __init__(self, sock, prefix):
        self.sock, self.prefix = sock, prefix

    def recv(self, n):
        if self.prefix:
            out, self.prefix = self.prefix, b""
            return out
        return self.sock.recv(n)


def test_squid_native_access_log_format(workdir, origin, request):
    import re
    p = Proxy(workdir, {"allow": ["origin.test"], "allowed_ports": [origin.port], "ssrf_allow": LOOPBACK,
                        "access_log_format": "squid"}, name=request.node.name).start()
    try:
        conn = through(p)
        conn.request("GET", url(origin, path="/sq?secret=1"))
        assert conn.getresponse().read()
        conn.request("GET", url(origin, "evil.test", "/no"))
        assert conn.getresponse().status == 403
        conn.close()
    finally:
        p.stop()
    with open(p.access_log) as f:
        lines = f.read().splitlines()
    assert len(lines) == 2
    fields = [l.split() for l in lines]
    assert all(len(f) == 10 and re.fullmatch(r"\d+\.\d{3}", f[0]) for f in fields), lines
    assert fields[0][2:] == ["127.0.0.1", "TCP_MISS/200", fields[0][4], "GET",
                             f"http://origin.test:{origin.port}/sq", "-", "HIER_DIRECT/127.0.0.1", "-"]
    assert int(fields[0][4]) > 0
    assert fields[1][3] == "TCP_DENIED/403" and fields[1][8] == "HIER_NONE/-"
