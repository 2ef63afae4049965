"""The proxy's admin endpoint (GET /metrics, GET /health, POST /reload) and
reload on config-file change (inotify), driven against a running proxy
with real curl traffic."""
import json
import subprocess
import time

import pytest

from proxy_helpers import (RAMPART_BIN, DnsResponder, admin_request, curl, free_port, parse_metrics,
                           replace_file, wait_for)
from test_proxy import base_config, cert, http_origin, start_proxy, tls_origin, workdir  # noqa: F401


def admin_config(http_origin, tls_origin, **over):
    return base_config(http_origin, tls_origin, admin_listen=f"127.0.0.1:{free_port()}", **over)


def admin_port(p):
    return int(p.config["admin_listen"].rsplit(":", 1)[1])


def file_reloads(p, expect="proxy config reloaded"):
    return sum(1 for line in p.stderr_text().splitlines()
               if expect in line and '"source":"file"' in line)


def test_metrics_count_requests_and_dns(start_proxy, http_origin, tls_origin, cert):
    dns = DnsResponder({"a.sub.test": ["127.0.0.1"]})
    try:
        cfg = admin_config(http_origin, tls_origin, dns={"servers": [dns.server]}, workers=1)
        cfg["hosts"] = {"origin.test": ["127.0.0.1"]}
        p = start_proxy(cfg)
        port = admin_port(p)
        status, headers, text = admin_request(port, "GET", "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        before = parse_metrics(text)
        assert before['rampart_proxy_requests_total{decision="allow"}'] == 0
        assert curl(p, f"http://origin.test:{http_origin.port}/")[1] == 200
        assert curl(p, f"https://origin.test:{tls_origin.port}/", cacert=cert[0])[1] == 200
        assert curl(p, f"http://evil.test:{http_origin.port}/")[1] == 403
        assert curl(p, f"http://a.sub.test:{http_origin.port}/")[1] == 200
        assert curl(p, f"http://a.sub.test:{http_origin.port}/")[1] == 200
        time.sleep(0.1)
        m = parse_metrics(admin_request(port, "GET", "/metrics")[2])
        assert m['rampart_proxy_requests_total{decision="allow"}'] == 4
        assert m['rampart_proxy_requests_total{decision="deny"}'] == 1
        assert m['rampart_proxy_requests_total{decision="error"}'] == 0
        assert m['rampart_proxy_bytes_total{direction="down"}'] > 1000
        assert m["rampart_proxy_connections_active"] == 0 and m["rampart_proxy_tunnels_active"] == 0
        # a.sub.test: one lookup on the network (A and AAAA together), then the cache.
        assert m["rampart_proxy_dns_lookup_seconds_count"] == 1
        assert m['rampart_proxy_dns_lookup_seconds_bucket{le="+Inf"}'] == 1
        assert m["rampart_proxy_dns_cache_hits_total"] == 1
    finally:
        dns.close()


def test_metrics_show_open_tunnel(start_proxy, http_origin, tls_origin, cert):
    from proxy_helpers import connect_tunnel, https_get, tls_over
    p = start_proxy(admin_config(http_origin, tls_origin))
    s, status = connect_tunnel(p, "origin.test", tls_origin.port)
    tls = tls_over(s, "origin.test", cert[0])
    assert https_get(tls, "origin.test")[0] == "HTTP/1.1 200 OK"
    m = parse_metrics(admin_request(admin_port(p), "GET", "/metrics")[2])
    assert m["rampart_proxy_tunnels_active"] == 1 and m["rampart_proxy_connections_active"] == 1
    tls.close()
    assert wait_for(lambda: parse_metrics(admin_request(admin_port(p), "GET", "/metrics")[2])
                    ["rampart_proxy_tunnels_active"] == 0, timeout=10)


def test_health_and_unknown_paths(start_proxy, http_origin, tls_origin):
    p = start_proxy(admin_config(http_origin, tls_origin))
    port = admin_port(p)
    assert admin_request(port, "GET", "/health")[::2] == (200, "ok\n")
    status, headers, _ = admin_request(port, "GET", "/reload")
    assert status == 405 and headers["Allow"] == "POST"
    assert admin_request(port, "POST", "/metrics")[0] == 405
    assert admin_request(port, "GET", "/")[0] == 404


def test_admin_reload_applies_and_rejects(start_proxy, http_origin, tls_origin):
    p = start_proxy(admin_config(http_origin, tls_origin, watch_config=False))
    port = admin_port(p)
    assert curl(p, f"http://other.test:{http_origin.port}/")[1] == 403
    p.config["allow"] = ["origin.test", "other.test"]
    p.write_config()
    status, _, body = admin_request(port, "POST", "/reload")
    assert status == 200 and body == "config reloaded: 3 allow/deny entries\n"
    assert curl(p, f"http://other.test:{http_origin.port}/")[1] == 200
    # A bad config: 400 with the validation error; the running config stays.
    bad = dict(p.config, allow=["origin.test", "bad..name"])
    p.write_config(bad)
    status, _, body = admin_request(port, "POST", "/reload")
    assert status == 400
    assert body.startswith("config: allow[1]: 'bad..name' is not a valid host name")
    assert curl(p, f"http://other.test:{http_origin.port}/")[1] == 200
    p.write_config(raw="{not json")
    status, _, body = admin_request(port, "POST", "/reload")
    assert status == 400 and "not valid JSON" in body
    m = parse_metrics(admin_request(port, "GET", "/metrics")[2])
    assert m['rampart_proxy_config_reloads_total{result="ok"}'] == 1
    assert m['rampart_proxy_config_reloads_total{result="rejected"}'] == 2


def test_admin_rejects_request_bodies_and_huge_heads(start_proxy, http_origin, tls_origin):
    import socket
    p = start_proxy(admin_config(http_origin, tls_origin))
    port = admin_port(p)

    def raw(data):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(data)
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return out
                out += chunk

    assert raw(b"POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc").startswith(b"HTTP/1.1 413 ")
    assert raw(b"GET /health HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431 ")
    assert raw(b"GET /health\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert "reloaded" not in p.stderr_text()


def test_admin_listen_must_be_loopback(workdir):
    path = f"{workdir}/admin-public.json"
    with open(path, "w") as f:
        json.dump({"listen": f"127.0.0.1:{free_port()}", "allowed_clients": ["127.0.0.0/8"],
                   "admin_listen": "0.0.0.0:9090"}, f)
    r = subprocess.run([RAMPART_BIN, "proxy", "--config", path], capture_output=True, timeout=20)
    assert r.returncode == 2 and b"admin_listen: '0.0.0.0' is not a loopback address" in r.stderr


def test_admin_port_taken_exits_1(workdir):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        path = f"{workdir}/admin-taken.json"
        with open(path, "w") as f:
            json.dump({"listen": f"127.0.0.1:{free_port()}", "allowed_clients": ["127.0.0.0/8"],
                       "admin_listen": f"127.0.0.1:{taken.getsockname()[1]}"}, f)
        r = subprocess.run([RAMPART_BIN, "proxy", "--config", path], capture_output=True, timeout=20)
    assert r.returncode == 1 and b"cannot listen on admin address" in r.stderr


# --- reload on file change -------------------------------------------------------

def test_file_change_in_place_reloads(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    assert curl(p, f"http://other.test:{http_origin.port}/")[1] == 403
    p.config["allow"] = ["origin.test", "other.test"]
    started = time.time()
    p.write_config()
    assert wait_for(lambda: curl(p, f"http://other.test:{http_origin.port}/")[1] == 200, timeout=3)
    assert time.time() - started < 2
    assert file_reloads(p) == 1


def test_file_atomic_rename_reloads_and_debounces(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    # A burst of edits within the debounce window gives one reload of the last version.
    for i in range(5):
        replace_file(p.config_path, json.dumps(dict(p.config, allow=["origin.test", f"n{i}.test"])))
        time.sleep(0.005)
    final = dict(p.config, allow=["origin.test", "other.test"])
    replace_file(p.config_path, json.dumps(final))
    assert wait_for(lambda: file_reloads(p) >= 1, timeout=10)
    time.sleep(0.5)
    assert file_reloads(p) == 1
    assert curl(p, f"http://other.test:{http_origin.port}/")[1] == 200
    # Another file in the same directory changes nothing.
    with open(p.config_path + ".bak", "w") as f:
        f.write("{}")
    time.sleep(0.5)
    assert file_reloads(p) == 1


def test_bad_file_change_keeps_running_config(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin))
    replace_file(p.config_path, '{"listen": "127.0.0.1:1", "allowed_clients": ["0.0.0.0/0"]}')
    assert wait_for(lambda: file_reloads(p, "proxy reload rejected") == 1, timeout=10)
    assert "wider than /8" in p.stderr_text()
    assert curl(p, f"http://origin.test:{http_origin.port}/")[1] == 200


def test_watch_config_false_ignores_file_changes(start_proxy, http_origin, tls_origin):
    p = start_proxy(base_config(http_origin, tls_origin, watch_config=False))
    replace_file(p.config_path, json.dumps(dict(p.config, allow=["other.test"])))
    time.sleep(0.6)
    assert file_reloads(p) == 0
    assert curl(p, f"http://origin.test:{http_origin.port}/")[1] == 200
