"""Internationalised names (UTS #46 with libidn2): Unicode allowlist
entries match the A-labels clients send (curl converts the URL itself),
mapping folds case and width, and invalid IDNs are refused with a reason,
in requests (400) and in the config (rejected at start and on reload)."""
import os
import subprocess
import tempfile

import pytest

from proxy_helpers import RAMPART_BIN, Origin, Proxy, raw_exchange


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="rampart-proxy-idn-") as d:
        yield d


@pytest.fixture(scope="module")
def origin():
    o = Origin(label="origin")
    yield o
    o.close()


@pytest.fixture
def proxy(workdir, origin, request):
    cfg = {"allow": ["BÜCHER.test", "xn--caf-dma.test", ".ＥＸＡＭＰＬＥ.test"], "allowed_ports": [origin.port],
           "ssrf_allow": ["127.0.0.0/8"],
           "hosts": {"bücher.test": ["127.0.0.1"], "café.test": ["127.0.0.1"], "a.example.test": ["127.0.0.1"],
                     "xn--tst-qla.test": ["127.0.0.1"]}}
    p = Proxy(workdir, cfg, name=request.node.name)
    p.config["hosts"].update(cfg["hosts"])
    p.start()
    yield p
    p.stop()


def get(proxy, target, host):
    req = f"GET http://{target}/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    return raw_exchange(proxy, req)


def test_unicode_entries_match_a_labels(proxy, origin):
    port = origin.port
    answer = get(proxy, f"xn--bcher-kva.test:{port}", f"xn--bcher-kva.test:{port}")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert f"host=xn--bcher-kva.test:{port}".encode() in answer
    assert get(proxy, f"XN--CAF-DMA.test:{port}", f"xn--caf-dma.test:{port}").startswith(b"HTTP/1.1 200 ")
    assert get(proxy, f"a.example.test:{port}", f"a.example.test:{port}").startswith(b"HTTP/1.1 200 ")
    assert get(proxy, f"xn--tst-qla.test:{port}", f"xn--tst-qla.test:{port}").startswith(b"HTTP/1.1 403 ")
    lines = proxy.wait_log_count(4)
    assert len(lines) == 4
    # Lines of different connections may land in either order.
    by_host = {l["host"]: l for l in lines}
    assert sorted(by_host) == ["a.example.test", "xn--bcher-kva.test", "xn--caf-dma.test", "xn--tst-qla.test"]
    assert [by_host[h]["decision"] for h in ("xn--bcher-kva.test", "xn--caf-dma.test", "xn--tst-qla.test")] == [
        "allow", "allow", "deny"]
    assert by_host["xn--bcher-kva.test"]["rule"] == "xn--bcher-kva.test"


def test_curl_sends_the_a_label_of_a_unicode_url(proxy, origin):
    r = subprocess.run(["curl", "-s", "-x", proxy.url, "--noproxy", "", "--max-time", "10",
                        f"http://bücher.test:{origin.port}/u"],
                       capture_output=True, env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    if r.returncode == 3:
        pytest.skip("this curl cannot convert IDN URLs")
    assert r.stdout.decode() == f"origin host=xn--bcher-kva.test:{origin.port} path=/u"


def test_invalid_idns_are_refused_with_a_reason(proxy, origin):
    port = origin.port
    assert get(proxy, f"xn--zz.test:{port}", f"xn--zz.test:{port}").startswith(b"HTTP/1.1 400 ")
    tunnel = raw_exchange(proxy, f"CONNECT xn--a.test:443 HTTP/1.1\r\nHost: xn--a.test:443\r\n\r\n".encode())
    assert tunnel.startswith(b"HTTP/1.1 400 ")
    # Two connections: their lines may come in either order.
    reasons = sorted(l["reason"] for l in proxy.wait_log_count(2))
    assert len(reasons) == 2
    assert reasons[0].startswith("'xn--a.test' is not a valid host name: invalid IDN: "), reasons
    assert reasons[1].startswith("'xn--zz.test' is not a valid host name: invalid IDN: "), reasons


def test_invalid_idn_in_config_is_rejected(proxy, workdir):
    bad = dict(proxy.config, allow=["\U0001F600.test"])
    proxy.reload(bad, expect="proxy reload rejected")
    assert "allow[0]: " in proxy.stderr_text() and "invalid IDN: " in proxy.stderr_text()
    path = os.path.join(workdir, "bad-idn.json")
    with open(path, "w") as f:
        import json
        json.dump(bad, f)
    r = subprocess.run([RAMPART_BIN, "proxy", "--config", path], capture_output=True, timeout=20)
    assert r.returncode == 2
    assert b"invalid IDN" in r.stderr
