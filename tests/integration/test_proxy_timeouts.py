"""The proxy's timeouts with raw sockets against a local origin: a request
head that stops half-way gets 408 within the handshake timeout; a keep-alive
connection that stays quiet after a response is closed after the idle
timeout, not before; a head longer than one read arrives whole; the idle
timeout starts again with each request. Each timeout is small, so a broken
deadline shows as a connection that never ends or ends too early."""
import socket
import tempfile
import time
import weakref

import pytest

from proxy_helpers import Origin, Proxy

LOOPBACK = ["127.0.0.0/8"]
HEAD_TIMEOUT_MS = 600
IDLE_TIMEOUT_MS = 1500
READERS = weakref.WeakKeyDictionary()  # socket -> its buffered reader


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="rampart-proxy-timeouts-") as d:
        yield d


@pytest.fixture(scope="module")
def origin():
    o = Origin(label="origin")
    yield o
    o.close()


@pytest.fixture
def proxy(workdir, origin, request):
    p = Proxy(workdir, {"allow": ["origin.test"], "allowed_ports": [origin.port],
                        "ssrf_allow": LOOPBACK,
                        "limits": {"handshake_timeout_ms": HEAD_TIMEOUT_MS,
                                   "idle_timeout_ms": IDLE_TIMEOUT_MS}},
              name=request.node.name).start()
    yield p
    p.stop()


def connect(proxy):
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    s.settimeout(10)
    return s


def request(origin, extra_headers=b""):
    return (b"GET http://origin.test:%d/ HTTP/1.1\r\nHost: origin.test:%d\r\n" %
            (origin.port, origin.port) + extra_headers + b"\r\n")


def read_until_closed(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def read_one_response(sock):
    """One response with a Content-Length body; returns its head. Reads
    through a buffered file kept on the socket, so bytes of a pipelined
    next response that arrive in the same segment are kept for the next
    call."""
    reader = READERS.get(sock)
    if reader is None:
        reader = READERS[sock] = sock.makefile("rb")
    lines = []
    while True:
        line = reader.readline()
        assert line, "connection closed before a response head"
        if line in (b"\r\n", b"\n"):
            break
        lines.append(line.rstrip(b"\r\n"))
    length = next(int(l.split(b":", 1)[1]) for l in lines
                  if l.lower().startswith(b"content-length:"))
    body = reader.read(length)
    assert len(body) == length, "connection closed inside a response body"
    return b"\r\n".join(lines)


def test_half_a_head_gets_408_in_time(proxy, origin):
    s = connect(proxy)
    started = time.monotonic()
    s.sendall(request(origin)[:30])  # the request line, cut
    data = read_until_closed(s)
    elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408"), data[:100]
    assert HEAD_TIMEOUT_MS / 1000 * 0.8 <= elapsed < HEAD_TIMEOUT_MS / 1000 + 3, elapsed
    lines = proxy.wait_log_count(1)
    assert "timeout reading the request head" in lines[-1].get("reason", ""), lines[-1]


def test_idle_keep_alive_closes_after_the_idle_timeout(proxy, origin):
    s = connect(proxy)
    s.sendall(request(origin))
    assert read_one_response(s).startswith(b"HTTP/1.1 200")
    # The shorter head timeout must not end an idle keep-alive connection:
    # it waits for the (longer) idle timeout.
    started = time.monotonic()
    assert read_until_closed(s) == b""
    elapsed = time.monotonic() - started
    assert IDLE_TIMEOUT_MS / 1000 * 0.8 <= elapsed < IDLE_TIMEOUT_MS / 1000 + 3, elapsed


def test_each_request_starts_the_idle_timeout_again(proxy, origin):
    s = connect(proxy)
    started = time.monotonic()
    # Three requests, each after most of an idle timeout: the connection
    # outlives two idle timeouts in all because each request restarts it.
    for _ in range(3):
        s.sendall(request(origin))
        assert read_one_response(s).startswith(b"HTTP/1.1 200")
        time.sleep(IDLE_TIMEOUT_MS / 1000 * 0.6)
    assert time.monotonic() - started > 2 * IDLE_TIMEOUT_MS / 1000 * 0.8
    s.sendall(request(origin))
    assert read_one_response(s).startswith(b"HTTP/1.1 200")
    s.close()


def test_a_long_head_in_pieces_is_read_whole(proxy, origin):
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 200) for i in range(40))  # ~9 KB
    raw = request(origin, filler)
    s = connect(proxy)
    # Sent in small pieces within the head timeout; the pieces together
    # are longer than one read.
    for i in range(0, len(raw), 1000):
        s.sendall(raw[i:i + 1000])
        time.sleep(0.01)
    assert read_one_response(s).startswith(b"HTTP/1.1 200")
    # Two pipelined requests with long heads, sent at once.
    s.sendall(raw + raw)
    assert read_one_response(s).startswith(b"HTTP/1.1 200")
    assert read_one_response(s).startswith(b"HTTP/1.1 200")
    s.close()
