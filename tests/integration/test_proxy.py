"""The egress proxy (`rampart proxy`) driven by real curl and raw sockets
against local origins on 127.0.0.1: allowlist rules, deny page, port
rules, Host/URL and SNI/CONNECT agreement, SSRF refusal, access log, and
reload without dropping an open tunnel."""
import os
import signal
import ssl
import subprocess
import tempfile
import time

import pytest

from proxy_helpers import (RAMPART_BIN, Origin, Proxy, connect_tunnel, curl, https_get, make_cert,
                           raw_exchange, tls_over)

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="rampart-proxy-it-") as d:
        yield d


@pytest.fixture(scope="module")
def cert(workdir):
    return make_cert(workdir)


@pytest.fixture(scope="module")
def http_origin():
    o = Origin(label="http-origin")
    yield o
    o.close()


@pytest.fixture(scope="module")
def tls_origin(cert):
    o = Origin(cert=cert[0], key=cert[1], label="tls-origin")
    yield o
    o.close()


@pytest.fixture
def start_proxy(workdir, request):
    started = []

    def start(config, name=None):
        p = Proxy(workdir, config, name=name or request.node.name).start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def base_config(http_origin, tls_origin, **over):
    cfg = {"allow": ["origin.test", ".sub.test"], "deny": ["b.sub.test"],
           "allowed_ports": [http_origin.port, tls_origin.port], "ssrf_allow": LOOPBACK}
    cfg.update(over)
    return cfg


# --- plain HTTP ---------------------------------------------------------------

def test_http_allowed_exact_name(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    rc, code, _, body = curl(p, f"http://origin.test:{http_origin.port}/hello?x=1")
    assert (rc, code) == (0, 200)
    assert body == f"http-origin host=origin.test:{http_origin.port} path=/hello?x=1"


def test_http_suffix_rule_and_denylist(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    assert curl(p, f"http://a.sub.test:{http_origin.port}/")[1] == 200
    assert curl(p, f"http://sub.test:{http_origin.port}/")[1] == 200
    _, code, _, body = curl(p, f"http://b.sub.test:{http_origin.port}/")
    assert code == 403 and "denylist" in body


def test_http_denied_name_gets_deny_page(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    _, code, _, body = curl(p, f"http://evil.test:{http_origin.port}/")
    assert code == 403
    assert "Access denied" in body and "<b>evil.test</b>" in body
    assert "not in allowlist" in body and "127.0.0.1" in body


def test_custom_deny_page_is_escaped(start_proxy, http_origin, tls_origin, workdir):
    page = os.path.join(workdir, "deny.html")
    with open(page, "w") as f:
        f.write("<h1>No</h1><p id=h>{host}</p><p id=r>{reason}</p><p id=c>{client}</p><p id=t>{time}</p>")
    p = start_proxy(base_config(http_origin, tls_origin, deny_page_file=page))
    # The reason carries the Host header's text back, so escaping is visible.
    _, code, _, body = curl(p, f"http://other.test:{http_origin.port}/")
    assert code == 403
    assert body.startswith("<h1>No</h1><p id=h>other.test</p><p id=r>not in allowlist</p><p id=c>127.0.0.1</p>")
    assert "{time}" not in body and "Z</p>" in body


def test_port_rule(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin, allowed_ports=[tls_origin.port]))
    _, code, _, body = curl(p, f"http://origin.test:{http_origin.port}/")
    assert code == 403 and f"port {http_origin.port} not allowed" in body


def test_host_header_must_match_url(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    req = (f"GET http://origin.test:{http_origin.port}/ HTTP/1.1\r\n"
           f"Host: evil.test:{http_origin.port}\r\n\r\n").encode()
    answer = raw_exchange(p, req)
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert b"Host header does not match the URL" in answer
    # Same name, other port: also a mismatch.
    req = f"GET http://origin.test:{http_origin.port}/ HTTP/1.1\r\nHost: origin.test\r\n\r\n".encode()
    assert raw_exchange(p, req).startswith(b"HTTP/1.1 403 ")


def test_post_body_is_forwarded(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    rc, code, _, body = curl(p, f"http://origin.test:{http_origin.port}/submit", "-d", "a=1&b=two")
    assert (rc, code) == (0, 200)
    assert body == "http-origin got=a=1&b=two"


def test_malformed_and_oversized_requests(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin, limits={"max_header_bytes": 2048}))
    assert raw_exchange(p, b"GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw_exchange(p, b"GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n bad fold\r\n\r\n") \
        .startswith(b"HTTP/1.1 400 ")
    big = b"GET http://origin.test/ HTTP/1.1\r\nX: " + b"a" * 4000 + b"\r\n\r\n"
    assert raw_exchange(p, big).startswith(b"HTTP/1.1 431 ")
    # Transfer-Encoding other than chunked, or with Content-Length: refused.
    for framing in ("Transfer-Encoding: gzip\r\n", "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"):
        req = (f"POST http://origin.test:{http_origin.port}/ HTTP/1.1\r\nHost: origin.test:{http_origin.port}\r\n"
               + framing + "\r\n").encode()
        assert raw_exchange(p, req).startswith(b"HTTP/1.1 400 ")


# --- CONNECT and SNI ----------------------------------------------------------

def test_https_allowed_through_tunnel(start_proxy, http_origin, tls_origin, cert):
    p = start_proxy(base_config(http_origin, tls_origin))
    rc, code, connect, body = curl(p, f"https://a.sub.test:{tls_origin.port}/secure", cacert=cert[0])
    assert (rc, code, connect) == (0, 200, 200)
    assert body == f"tls-origin host=a.sub.test:{tls_origin.port} path=/secure"
    assert "a.sub.test" in tls_origin.snis


def test_https_denied_name_gets_403_before_tunnel(start_proxy, http_origin, tls_origin, cert):
    p = start_proxy(base_config(http_origin, tls_origin))
    rc, code, connect, _ = curl(p, f"https://evil.test:{tls_origin.port}/", cacert=cert[0])
    assert rc != 0 and connect == 403
    s, status = connect_tunnel(p, "evil.test", tls_origin.port)
    s.close()
    assert status.startswith("HTTP/1.1 403")


def test_sni_must_match_connect_host(start_proxy, http_origin, tls_origin, cert):
    p = start_proxy(base_config(http_origin, tls_origin))
    s, status = connect_tunnel(p, "origin.test", tls_origin.port)
    assert status == "HTTP/1.1 200 Connection established"
    # Both names are allowed and in the certificate: only the mismatch is wrong.
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_over(s, "a.sub.test", cert[0])
    s.close()
    lines = [l for l in p.wait_log_lines(lambda ls: any(l["method"] == "CONNECT" for l in ls))
             if l["method"] == "CONNECT"]
    assert len(lines) == 1
    assert lines[-1]["decision"] == "deny"
    assert lines[-1]["reason"] == "SNI does not match CONNECT host"
    assert lines[-1]["sni"] == "a.sub.test"


def test_openssl_s_client_sni_mismatch(start_proxy, http_origin, tls_origin, cert):
    p = start_proxy(base_config(http_origin, tls_origin))
    r = subprocess.run(["openssl", "s_client", "-proxy", f"127.0.0.1:{p.port}",
                        "-connect", f"origin.test:{tls_origin.port}", "-servername", "other.test",
                        "-CAfile", cert[0]], input=b"", capture_output=True, timeout=20)
    assert b"no peer certificate available" in r.stdout
    assert b"unexpected eof" in r.stderr
    r = subprocess.run(["openssl", "s_client", "-proxy", f"127.0.0.1:{p.port}",
                        "-connect", f"origin.test:{tls_origin.port}", "-servername", "origin.test",
                        "-CAfile", cert[0]], input=b"", capture_output=True, timeout=20)
    assert b"no peer certificate available" not in r.stdout
    assert b"Verify return code: 0 (ok)" in r.stdout


def test_tunnel_without_tls_is_closed(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    s, status = connect_tunnel(p, "origin.test", http_origin.port)
    assert status.startswith("HTTP/1.1 200")
    s.sendall(b"GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n")
    assert s.recv(100) == b""
    s.close()
    lines = p.wait_log_count(1)
    assert len(lines) == 1 and lines[0]["reason"] == "not TLS"


def test_tunnel_without_tls_allowed_when_sni_not_required(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin, require_sni=False))
    s, status = connect_tunnel(p, "origin.test", http_origin.port)
    assert status.startswith("HTTP/1.1 200")
    s.sendall(b"GET /plain HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200")
    assert b"path=/plain" in data


# --- SSRF ---------------------------------------------------------------------

def test_ssrf_refuses_loopback_by_default(start_proxy, http_origin, tls_origin, cert):
    cfg = base_config(http_origin, tls_origin, allow=["origin.test", "127.0.0.1", "inside.test"])
    del cfg["ssrf_allow"]
    cfg["hosts"] = {"origin.test": ["127.0.0.1"], "inside.test": ["10.1.2.3"]}
    p = start_proxy(cfg)
    _, code, _, body = curl(p, f"http://origin.test:{http_origin.port}/")
    assert code == 403 and "ssrf: loopback address 127.0.0.1" in body
    s, status = connect_tunnel(p, "127.0.0.1", tls_origin.port)
    s.close()
    assert status.startswith("HTTP/1.1 403")
    # A name answering with a private address is refused before any connect.
    _, code, _, body = curl(p, f"http://inside.test:{http_origin.port}/")
    assert code == 403 and "ssrf: private address 10.1.2.3" in body
    lines = p.wait_log_count(3)
    assert len(lines) == 3
    assert all(l["decision"] == "deny" and l["reason"].startswith("ssrf") for l in lines)


def test_client_outside_allowed_cidrs_is_dropped(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin, allowed_clients=["10.0.0.0/8"]))
    answer = raw_exchange(p, f"GET http://origin.test:{http_origin.port}/ HTTP/1.1\r\nHost: origin.test\r\n\r\n".encode())
    assert answer == b""
    lines = p.wait_log_count(1)
    assert len(lines) == 1 and lines[0]["reason"] == "client not allowed"


# --- access log ---------------------------------------------------------------

def test_access_log_lines(start_proxy, http_origin, tls_origin, cert):
    p = start_proxy(base_config(http_origin, tls_origin))
    curl(p, f"http://origin.test:{http_origin.port}/a")
    curl(p, f"https://origin.test:{tls_origin.port}/b", cacert=cert[0])
    curl(p, f"http://evil.test:{http_origin.port}/c")
    # Each line is written when its connection ends: they may land in any order.
    lines = p.wait_log_count(3)
    assert len(lines) == 3
    get, = [l for l in lines if l["method"] == "GET" and l["decision"] == "allow"]
    tunnel, = [l for l in lines if l["method"] == "CONNECT"]
    denied, = [l for l in lines if l["decision"] == "deny"]
    for line in (get, tunnel, denied):
        assert set(line) >= {"time", "client", "method", "host", "port", "decision", "bytes_up",
                             "bytes_down", "duration_ms"}
        assert line["client"].startswith("127.0.0.1:")
    assert get["method"] == "GET" and get["decision"] == "allow" and get["rule"] == "origin.test"
    assert get["status"] == 200 and get["upstream"] == f"127.0.0.1:{http_origin.port}"
    assert get["bytes_up"] > 0 and get["bytes_down"] > 0
    assert tunnel["method"] == "CONNECT" and tunnel["sni"] == "origin.test"
    assert tunnel["port"] == tls_origin.port and tunnel["bytes_down"] > 1000
    assert denied["decision"] == "deny" and denied["reason"] == "not in allowlist" and denied["status"] == 403


def test_sigusr1_reopens_access_log(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    curl(p, f"http://origin.test:{http_origin.port}/one")
    rotated = p.access_log + ".1"
    os.rename(p.access_log, rotated)
    curl(p, f"http://origin.test:{http_origin.port}/two")  # still goes to the moved file
    # A line is written just after the answer went out: wait for it, or the
    # reopen below could race it into the new file.
    p.wait_log_count(2, path=rotated)
    p.proc.send_signal(signal.SIGUSR1)
    deadline = time.time() + 5
    while not os.path.exists(p.access_log) and time.time() < deadline:
        time.sleep(0.02)
    curl(p, f"http://origin.test:{http_origin.port}/three")
    assert len(p.wait_log_count(1)) == 1
    assert len(p.read_log(rotated)) == 2


# --- reload -------------------------------------------------------------------

def test_reload_changes_decisions_and_keeps_open_tunnel(start_proxy, http_origin, tls_origin, cert):
    p = start_proxy(base_config(http_origin, tls_origin))
    s, status = connect_tunnel(p, "origin.test", tls_origin.port)
    assert status.startswith("HTTP/1.1 200")
    tls = tls_over(s, "origin.test", cert[0])
    assert https_get(tls, "origin.test", "/before")[0] == "HTTP/1.1 200 OK"

    p.reload(base_config(http_origin, tls_origin, allow=["other.test"]))
    assert curl(p, f"https://origin.test:{tls_origin.port}/", cacert=cert[0])[2] == 403
    assert curl(p, f"http://other.test:{http_origin.port}/")[1] == 200
    # The tunnel opened under the old config keeps working.
    status_line, body = https_get(tls, "origin.test", "/after")
    assert status_line == "HTTP/1.1 200 OK" and "path=/after" in body
    tls.close()


def test_bad_reload_keeps_running_config(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    p.reload(raw='{"listen": "127.0.0.1:1", "allow": ["x..y"]}', expect="proxy reload rejected")
    assert "allowed_clients" in p.stderr_text() or "allow" in p.stderr_text()
    assert curl(p, f"http://origin.test:{http_origin.port}/")[1] == 200
    p.reload(raw="{not json", expect="proxy reload rejected")
    assert curl(p, f"http://origin.test:{http_origin.port}/")[1] == 200


def test_many_reloads_under_requests(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    for i in range(10):
        extra = [f"n{i}.test"]
        p.reload(base_config(http_origin, tls_origin, allow=["origin.test"] + extra))
        assert curl(p, f"http://origin.test:{http_origin.port}/{i}")[1] == 200


# --- process ------------------------------------------------------------------

def test_bad_config_exits_with_2(workdir):
    path = os.path.join(workdir, "bad.json")
    with open(path, "w") as f:
        f.write('{"listen": "127.0.0.1:3128", "allowed_clients": ["0.0.0.0/0"]}')
    r = subprocess.run([RAMPART_BIN, "proxy", "--config", path], capture_output=True, timeout=20)
    assert r.returncode == 2
    assert b"wider than /8" in r.stderr


def test_sigterm_stops_cleanly(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    assert curl(p, f"http://origin.test:{http_origin.port}/")[1] == 200
    assert p.stop() == 0
