"""The periodic allowlist pull (allowlist_pull): entries fetched from a
file, an http:// URL or an https:// URL (verified against a CA file) are
added to the config's allowlist, validated and swapped in like a reload; a
failed pull keeps the previous list, is logged and is counted in /metrics;
a config reload keeps the pulled entries."""
import os
import subprocess
import tempfile

import pytest

from proxy_helpers import Origin, Proxy, admin_request, free_port, parse_metrics, replace_file, wait_for


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="rampart-proxy-pull-") as d:
        yield d


@pytest.fixture(scope="module")
def origin():
    o = Origin(label="origin")
    yield o
    o.close()


@pytest.fixture
def start_proxy(workdir, request):
    started = []

    def start(config):
        p = Proxy(workdir, config, name=request.node.name).start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def config(origin, pull, admin_port=None):
    cfg = {"allow": ["origin.test"], "deny": ["b.sub.test"], "allowed_ports": [origin.port],
           "ssrf_allow": ["127.0.0.0/8"], "allowlist_pull": pull}
    if admin_port:
        cfg["admin_listen"] = f"127.0.0.1:{admin_port}"
    return cfg


def status(proxy, origin, host):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy.url, "--noproxy", "",
                        "--max-time", "10", f"http://{host}:{origin.port}/"],
                       capture_output=True, env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    return int(r.stdout or 0)


def pulls(admin_port):
    m = parse_metrics(admin_request(admin_port, "GET", "/metrics")[2])
    return (m['rampart_proxy_allowlist_pulls_total{result="ok"}'],
            m['rampart_proxy_allowlist_pulls_total{result="failed"}'], m["rampart_proxy_allowlist_pulled_entries"])


def test_file_pull_adds_entries_and_a_bad_list_keeps_the_old_one(start_proxy, origin, workdir):
    listfile = os.path.join(workdir, "pulled.txt")
    replace_file(listfile, "# from the list service\nother.test\n")
    admin = free_port()
    p = start_proxy(config(origin, {"file": listfile, "interval_seconds": 1}, admin))
    assert wait_for(lambda: status(p, origin, "other.test") == 200, timeout=5)
    assert status(p, origin, "origin.test") == 200  # the config's own entries stay
    assert status(p, origin, "a.sub.test") == 403
    replace_file(listfile, "other.test\n.sub.test\n")
    assert wait_for(lambda: status(p, origin, "a.sub.test") == 200, timeout=5)
    assert status(p, origin, "b.sub.test") == 403  # the config's deny list still wins
    ok_before, failed_before, entries = pulls(admin)
    assert ok_before >= 2 and failed_before == 0 and entries == 2
    replace_file(listfile, "other.test\nbad..name\n")
    assert wait_for(lambda: pulls(admin)[1] >= 1, timeout=5)
    assert status(p, origin, "a.sub.test") == 200  # the last good list is kept
    assert "allowlist pull failed; keeping the current list" in p.stderr_text()
    assert "line 2: " in p.stderr_text()
    os.unlink(listfile)
    failed = pulls(admin)[1]
    assert wait_for(lambda: pulls(admin)[1] > failed, timeout=5)
    assert status(p, origin, "other.test") == 200
    assert pulls(admin)[2] == 2


def test_http_pull_and_a_failing_server(start_proxy, origin):
    origin.server.list_text = "other.test\n"
    origin.server.list_status = 200
    admin = free_port()
    p = start_proxy(config(origin, {"url": f"http://127.0.0.1:{origin.port}/list", "interval_seconds": 1}, admin))
    assert wait_for(lambda: status(p, origin, "other.test") == 200, timeout=5)
    origin.server.list_status = 500
    assert wait_for(lambda: pulls(admin)[1] >= 1, timeout=5)
    assert status(p, origin, "other.test") == 200
    assert "answered 500" in p.stderr_text()
    origin.server.list_status = 200
    origin.server.list_text = "a.sub.test\n"
    assert wait_for(lambda: status(p, origin, "a.sub.test") == 200, timeout=5)
    assert status(p, origin, "other.test") == 403  # replaced, not accumulated


def make_ip_cert(directory):
    cert, key = os.path.join(directory, "ip-cert.pem"), os.path.join(directory, "ip-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", key,
                    "-out", cert, "-subj", "/CN=list service", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def test_https_pull_verifies_the_server(start_proxy, origin, workdir):
    cert, key = make_ip_cert(workdir)
    tls = Origin(cert=cert, key=key, label="lists")
    try:
        tls.server.list_text = "other.test\n"
        url = f"https://127.0.0.1:{tls.port}/list"
        p = start_proxy(config(origin, {"url": url, "interval_seconds": 1, "ca_file": cert}))
        assert wait_for(lambda: status(p, origin, "other.test") == 200, timeout=5)
        # Without the CA file the system store does not trust the server.
        admin = free_port()
        q = start_proxy(config(origin, {"url": url, "interval_seconds": 1}, admin))
        assert wait_for(lambda: pulls(admin)[1] >= 1, timeout=5)
        assert "certificate not trusted" in q.stderr_text()
        assert status(q, origin, "other.test") == 403
    finally:
        tls.close()


def test_reload_keeps_pulled_entries(start_proxy, origin, workdir):
    origin.server.list_text = "other.test\n"
    origin.server.list_status = 200
    cfg = config(origin, {"url": f"http://127.0.0.1:{origin.port}/list", "interval_seconds": 3600})
    p = start_proxy(cfg)
    assert wait_for(lambda: status(p, origin, "other.test") == 200, timeout=5)
    fetches = origin.server.list_fetches
    cfg["allow"] = ["origin.test", "a.sub.test"]
    p.reload(cfg)
    assert status(p, origin, "a.sub.test") == 200
    assert status(p, origin, "other.test") == 200  # merged again, without a new fetch
    assert origin.server.list_fetches == fetches
    # Another source drops the old entries and is fetched at once.
    cfg["allowlist_pull"] = {"file": os.path.join(workdir, "absent.txt"), "interval_seconds": 3600}
    p.reload(cfg)
    assert status(p, origin, "other.test") == 403
    assert wait_for(lambda: "cannot open" in p.stderr_text(), timeout=5)
