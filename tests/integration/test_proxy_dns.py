"""The proxy's own DNS resolution (c-ares) against a small DNS responder on
127.0.0.1, with real curl through the proxy: answers used and cached
within their TTL, NXDOMAIN / 0.0.0.0 / :: / block-page answers denied as
"dns: filtered", SSRF applied to DNS answers, lookups bounded by the
connect timeout, and a reload that switches DNS servers."""
import time

import pytest

from proxy_helpers import DnsResponder, curl
from test_proxy import (LOOPBACK, base_config, cert, http_origin, start_proxy, tls_origin,  # noqa: F401
                        workdir)

RECORDS = {
    "origin.test": ["127.0.0.1"],
    "a.sub.test": ["127.0.0.1"],
    "nx.sub.test": "NXDOMAIN",
    "zero.sub.test": ["0.0.0.0"],
    "zero6.sub.test": ["::"],
    "blockpage.sub.test": ["192.0.2.66"],
    "inside.sub.test": ["10.1.2.3"],
    "silent.sub.test": "SILENT",
    "short.sub.test": ["127.0.0.1"],
}


@pytest.fixture
def dns():
    d = DnsResponder(RECORDS)
    yield d
    d.close()


def dns_config(http_origin, tls_origin, dns, **over):
    # "hosts" is emptied so that every name goes to the DNS responder.
    cfg = base_config(http_origin, tls_origin, hosts={},
                      dns={"servers": [dns.server], "block_addresses": ["192.0.2.66"]})
    cfg.update(over)
    return cfg


def test_dns_answer_is_used_and_cached(start_proxy, http_origin, tls_origin, cert, dns):
    p = start_proxy(dns_config(http_origin, tls_origin, dns, workers=1))
    rc, code, _, body = curl(p, f"http://origin.test:{http_origin.port}/dns")
    assert (rc, code) == (0, 200) and "path=/dns" in body
    rc, code, connect, body = curl(p, f"https://origin.test:{tls_origin.port}/tls", cacert=cert[0])
    assert (rc, code, connect) == (0, 200, 200) and "path=/tls" in body
    assert curl(p, f"http://a.sub.test:{http_origin.port}/")[1] == 200
    # One A query for origin.test: the second request was served from the cache.
    assert dns.count("origin.test") == 1
    assert dns.count("origin.test", DnsResponder.AAAA) == 1
    assert dns.count("a.sub.test") == 1
    lines = p.wait_log_count(3)
    assert len(lines) == 3
    # Lines of different connections may land in either order.
    assert sorted((l["host"], l["upstream"]) for l in lines) == sorted([
        ("origin.test", f"127.0.0.1:{http_origin.port}"), ("origin.test", f"127.0.0.1:{tls_origin.port}"),
        ("a.sub.test", f"127.0.0.1:{http_origin.port}")])


def test_dns_ttl_expiry_asks_again(start_proxy, http_origin, tls_origin, dns):
    dns.ttl = 1
    p = start_proxy(dns_config(http_origin, tls_origin, dns, workers=1))
    assert curl(p, f"http://short.sub.test:{http_origin.port}/")[1] == 200
    assert curl(p, f"http://short.sub.test:{http_origin.port}/")[1] == 200
    assert dns.count("short.sub.test") == 1
    time.sleep(1.3)
    assert curl(p, f"http://short.sub.test:{http_origin.port}/")[1] == 200
    assert dns.count("short.sub.test") == 2


@pytest.mark.parametrize("name,detail", [
    ("nx.sub.test", "name not found"),
    ("zero.sub.test", "answer 0.0.0.0"),
    ("zero6.sub.test", "answer ::"),
    ("blockpage.sub.test", "answer 192.0.2.66"),
])
def test_dns_filtered_answers_get_deny_page(start_proxy, http_origin, tls_origin, cert, dns, name, detail):
    p = start_proxy(dns_config(http_origin, tls_origin, dns))
    _, code, _, body = curl(p, f"http://{name}:{http_origin.port}/")
    assert code == 403
    assert f"Reason: dns: filtered ({detail})" in body and f"<b>{name}</b>" in body
    rc, _, connect, _ = curl(p, f"https://{name}:{tls_origin.port}/", cacert=cert[0])
    assert rc != 0 and connect == 403
    lines = p.wait_log_count(2)
    assert len(lines) == 2
    for line in lines:
        assert line["decision"] == "deny" and line["reason"] == f"dns: filtered ({detail})"
        assert line["host"] == name and "upstream" not in line


def test_dns_answer_still_gets_ssrf_check(start_proxy, http_origin, tls_origin, dns):
    p = start_proxy(dns_config(http_origin, tls_origin, dns))
    _, code, _, body = curl(p, f"http://inside.sub.test:{http_origin.port}/")
    assert code == 403 and "ssrf: private address 10.1.2.3" in body


def test_dns_lookup_bounded_by_connect_timeout(start_proxy, http_origin, tls_origin, dns):
    p = start_proxy(dns_config(http_origin, tls_origin, dns, limits={"connect_timeout_ms": 800}))
    started = time.time()
    _, code, _, _ = curl(p, f"http://silent.sub.test:{http_origin.port}/")
    elapsed = time.time() - started
    assert code in (502, 504)
    assert 0.5 < elapsed < 3
    assert dns.count("silent.sub.test") >= 1
    lines = p.wait_log_count(1)
    assert len(lines) == 1 and lines[0]["decision"] == "error"


def test_dns_unreachable_server_is_an_error(start_proxy, http_origin, tls_origin, dns):
    # A closed UDP port: the lookup fails (refused or timed out), never hangs.
    silent = DnsResponder({})
    port = silent.port
    silent.close()
    cfg = dns_config(http_origin, tls_origin, dns, limits={"connect_timeout_ms": 1000})
    cfg["dns"] = {"servers": [f"127.0.0.1:{port}"]}
    p = start_proxy(cfg)
    _, code, _, _ = curl(p, f"http://origin.test:{http_origin.port}/")
    assert code in (502, 504)


def test_reload_switches_dns_servers(start_proxy, http_origin, tls_origin, dns):
    p = start_proxy(dns_config(http_origin, tls_origin, dns, workers=1))
    assert curl(p, f"http://origin.test:{http_origin.port}/")[1] == 200
    other = DnsResponder({"origin.test": ["0.0.0.0"]})
    try:
        p.reload(dns_config(http_origin, tls_origin, other, workers=1))
        _, code, _, body = curl(p, f"http://origin.test:{http_origin.port}/")
        # The new server is asked (the old cache went with the old channel).
        assert code == 403 and "dns: filtered (answer 0.0.0.0)" in body
        assert other.count("origin.test") == 1
    finally:
        other.close()
