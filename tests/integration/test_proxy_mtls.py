"""The proxy's TLS listener (tls_listen): clients speak TLS to the proxy
(curl --proxy https://...) and authenticate with a client certificate from
a test CA made with openssl; client rules keyed by certificate name decide
their destinations. Refusals at the handshake (no certificate, an untrusted
one) and reloads of the certificates and rules are covered too."""
import json
import os
import socket
import ssl
import subprocess
import tempfile

import pytest

from proxy_helpers import RAMPART_BIN, Origin, Proxy, free_port, make_cert


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class Pki:
    """A CA and certificates it signs, all P-256, written to `directory`."""

    def __init__(self, directory, name):
        self.directory = directory
        self.ca_key = os.path.join(directory, f"{name}-ca.key")
        self.ca = os.path.join(directory, f"{name}-ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                "-keyout", self.ca_key, "-out", self.ca, "-subj", f"/CN={name} test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, stem, subject, san=None, usage="clientAuth"):
        key = os.path.join(self.directory, f"{stem}.key")
        csr = os.path.join(self.directory, f"{stem}.csr")
        cert = os.path.join(self.directory, f"{stem}.pem")
        ext = os.path.join(self.directory, f"{stem}.ext")
        with open(ext, "w") as f:
            f.write(f"extendedKeyUsage={usage}\n")
            if san:
                f.write(f"subjectAltName={san}\n")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", subject)
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
                "-days", "1", "-out", cert, "-extfile", ext)
        return cert, key


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="rampart-proxy-mtls-") as d:
        yield d


@pytest.fixture(scope="module")
def pki(workdir):
    ca = Pki(workdir, "clients")
    other = Pki(workdir, "stranger")  # a CA the proxy does not trust
    return {
        "ca": ca,
        "server": ca.issue("proxy-server", "/CN=proxy.test", "DNS:proxy.test,IP:127.0.0.1", usage="serverAuth"),
        "builder": ca.issue("builder", "/CN=build-7"),
        "ci": ca.issue("ci", "/CN=some-other-name", "DNS:ci-runner.clients.test"),
        "nobody": ca.issue("nobody", "/CN=nobody-in-particular"),
        "untrusted": other.issue("untrusted", "/CN=build-7"),
        "server_only": ca.issue("server-only", "/CN=build-7", usage="serverAuth"),  # not for clients
    }


@pytest.fixture(scope="module")
def origins(workdir):
    cert, key = make_cert(workdir)
    http, tls = Origin(label="plain"), Origin(cert, key, label="tls")
    yield {"http": http, "tls": tls, "cacert": cert}
    http.close()
    tls.close()


def mtls_config(pki, origins, tls_port, require=True, rules=None, server=None, client_ca=None):
    cert, key = server or pki["server"]
    if rules is None:
        rules = [{"name": "builders", "client_names": ["build-7"], "allow": ["a.sub.test"]},
                 {"name": "ci", "client_names": ["CI-Runner.clients.test"], "allow": ["other.test"]}]
    return {"tls_listen": f"127.0.0.1:{tls_port}",
            "tls": {"cert_file": cert, "key_file": key, "client_ca_file": client_ca or pki["ca"].ca,
                    "require_client_cert": require},
            "allow": ["origin.test"], "allowed_ports": [origins["http"].port, origins["tls"].port],
            "ssrf_allow": ["127.0.0.0/8"], "client_rules": rules}


@pytest.fixture
def start(workdir, pki, origins, request):
    started = []

    def start_proxy(**kw):
        tls_port = free_port()
        p = Proxy(workdir, mtls_config(pki, origins, tls_port, **kw), name=request.node.name)
        p.tls_port = tls_port
        started.append(p.start())
        line = p.proc.stdout.readline().decode()
        assert line.strip() == f"rampart proxy tls listening on 127.0.0.1:{tls_port}"
        return p

    yield start_proxy
    for p in started:
        p.stop()


def curl_tls(proxy, url, client=None, proxy_ca=None, cacert=None, extra=()):
    """curl through the proxy's TLS listener; returns (exit code, http code, body)."""
    args = ["curl", "-s", "--max-time", "10", "--noproxy", "", "-o", "-", "-w", "\n%{http_code}",
            "--proxy", f"https://127.0.0.1:{proxy.tls_port}", "--proxy-cacert", proxy_ca]
    if client:
        args += ["--proxy-cert", client[0], "--proxy-key", client[1]]
    if cacert:
        args += ["--cacert", cacert]
    r = subprocess.run(args + list(extra) + [url], capture_output=True, timeout=30,
                       env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    body, _, code = r.stdout.decode(errors="replace").rpartition("\n")
    return r.returncode, int(code or 0), body


def test_certificate_name_rule_decides(start, pki, origins):
    p = start()
    ca = pki["ca"].ca
    http = f"http://a.sub.test:{origins['http'].port}/x"
    # build-7 (subject CN) may reach a.sub.test, which only its rule allows.
    rc, code, body = curl_tls(p, http, pki["builder"], ca)
    assert (rc, code) == (0, 200) and body == "plain host=a.sub.test:%d path=/x" % origins["http"].port
    # The rule replaces the global list: origin.test is refused for build-7.
    assert curl_tls(p, f"http://origin.test:{origins['http'].port}/", pki["builder"], ca)[1] == 403
    # ci-runner.clients.test (a DNS SAN; the rule's name is matched without
    # regard to case) gets other.test and not a.sub.test.
    assert curl_tls(p, f"http://other.test:{origins['http'].port}/", pki["ci"], ca)[1] == 200
    rc, code, body = curl_tls(p, http, pki["ci"], ca)
    assert code == 403 and "a.sub.test" in body
    # A certificate no rule names gets the global lists.
    assert curl_tls(p, f"http://origin.test:{origins['http'].port}/", pki["nobody"], ca)[1] == 200
    assert curl_tls(p, http, pki["nobody"], ca)[1] == 403
    lines = p.wait_log_count(6)
    assert len(lines) == 6
    got = sorted((l["host"], l["decision"], l.get("client_cert"), l.get("client_rule")) for l in lines)
    assert got == sorted([
        ("a.sub.test", "allow", "build-7", "builders"),
        ("origin.test", "deny", "build-7", "builders"),
        ("other.test", "allow", "ci-runner.clients.test", "ci"),
        ("a.sub.test", "deny", "ci-runner.clients.test", "ci"),
        ("origin.test", "allow", "nobody-in-particular", None),
        ("a.sub.test", "deny", "nobody-in-particular", None),
    ])


def test_https_tunnel_inside_tls_to_the_proxy(start, pki, origins):
    p = start()
    url = f"https://a.sub.test:{origins['tls'].port}/tunnelled"
    rc, code, body = curl_tls(p, url, pki["builder"], pki["ca"].ca, cacert=origins["cacert"])
    assert (rc, code) == (0, 200) and body == "tls host=a.sub.test:%d path=/tunnelled" % origins["tls"].port
    # The inner ClientHello's SNI is still checked against the CONNECT host
    # and the rule: the ci certificate may not open this tunnel.
    rc, code, _ = curl_tls(p, url, pki["ci"], pki["ca"].ca, cacert=origins["cacert"])
    assert rc != 0
    lines = p.wait_log_lines(lambda ls: len([l for l in ls if l["method"] == "CONNECT"]) >= 2)
    tunnel = sorted((l for l in lines if l["method"] == "CONNECT"), key=lambda l: l["decision"])
    assert [(l["decision"], l["client_cert"], l.get("status")) for l in tunnel] == [
        ("allow", "build-7", None), ("deny", "ci-runner.clients.test", 403)]
    assert tunnel[0]["sni"] == "a.sub.test" and tunnel[0]["bytes_down"] > 1000


def test_large_bodies_both_ways_through_tls(start, pki, origins, workdir):
    p = start()
    body = os.path.join(workdir, "body.bin")
    with open(body, "wb") as f:
        f.write(os.urandom(3 << 20))
    rc, code, text = curl_tls(p, f"http://a.sub.test:{origins['http'].port}/size", pki["builder"], pki["ca"].ca,
                              extra=["--data-binary", "@" + body])
    assert (rc, code, text) == (0, 200, "plain got 3145728 bytes")
    rc, code, text = curl_tls(p, f"https://a.sub.test:{origins['tls'].port}/size", pki["builder"], pki["ca"].ca,
                              cacert=origins["cacert"], extra=["--data-binary", "@" + body])
    assert (rc, code, text) == (0, 200, "tls got 3145728 bytes")


def test_no_certificate_refused_when_required(start, pki, origins):
    p = start()
    rc, code, _ = curl_tls(p, f"http://origin.test:{origins['http'].port}/", None, pki["ca"].ca)
    assert rc != 0 and code == 0
    lines = p.wait_log_count(1)
    assert [(l["decision"], l["reason"]) for l in lines] == [("deny", "client certificate required")]


def test_untrusted_certificate_refused_at_the_handshake(start, pki, origins):
    p = start()
    rc, code, _ = curl_tls(p, f"http://a.sub.test:{origins['http'].port}/", pki["untrusted"], pki["ca"].ca)
    assert rc != 0 and code == 0
    # Python's TLS client sees the handshake itself fail (TLS 1.2: the
    # server refuses before Finished).
    ctx = ssl.create_default_context(cafile=pki["ca"].ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(*pki["untrusted"])
    with socket.create_connection(("127.0.0.1", p.tls_port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="proxy.test")
    lines = p.wait_log_count(2)
    assert len(lines) == 2
    for l in lines:
        assert l["decision"] == "deny"
        assert l["reason"].startswith("client certificate refused: ")
        assert "client_cert" not in l


def test_certificate_not_for_client_use_is_refused(start, pki, origins):
    p = start()
    rc, code, _ = curl_tls(p, f"http://a.sub.test:{origins['http'].port}/", pki["server_only"], pki["ca"].ca)
    assert rc != 0 and code == 0
    assert [(l["decision"], l["reason"]) for l in p.wait_log_count(1)] == [
        ("deny", "client certificate refused: unsuitable certificate purpose")]


def test_optional_certificate_falls_back_to_global_rules(start, pki, origins):
    p = start(require=False)
    ca = pki["ca"].ca
    assert curl_tls(p, f"http://origin.test:{origins['http'].port}/", None, ca)[1] == 200
    assert curl_tls(p, f"http://a.sub.test:{origins['http'].port}/", None, ca)[1] == 403
    assert curl_tls(p, f"http://a.sub.test:{origins['http'].port}/", pki["builder"], ca)[1] == 200
    # An untrusted certificate is still refused, even when none is required.
    assert curl_tls(p, f"http://origin.test:{origins['http'].port}/", pki["untrusted"], ca)[0] != 0
    lines = p.wait_log_count(4)
    assert len(lines) == 4
    # Lines of different connections may land in either order.
    served = [l for l in lines if not l.get("reason", "").startswith("client certificate refused")]
    assert sorted((l["host"], l["decision"], l.get("client_cert") or "-") for l in served) == sorted([
        ("origin.test", "allow", "-"), ("a.sub.test", "deny", "-"), ("a.sub.test", "allow", "build-7")])
    refused = [l for l in lines if l not in served]
    assert len(refused) == 1 and "client_cert" not in refused[0]
    # The plain listener keeps working beside the TLS one, with CIDR and global rules.
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--noproxy", "", "-x", p.url,
                        f"http://origin.test:{origins['http'].port}/"], capture_output=True, timeout=30,
                       env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    assert r.stdout == b"200"


def keep_alive_get(tls_sock, host, port):
    """One absolute-form GET on an open TLS connection to the proxy; returns the status code."""
    tls_sock.sendall(f"GET http://{host}:{port}/ HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls_sock.recv(4096)
        assert chunk, "proxy closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(body) < length:
        body += tls_sock.recv(4096)
    return int(head.split(b" ")[1])


def test_reload_swaps_certificates_and_rules_keeping_open_connections(start, pki, origins, workdir):
    p = start()
    port = origins["http"].port
    ctx = ssl.create_default_context(cafile=pki["ca"].ca)
    ctx.load_cert_chain(*pki["builder"])
    with socket.create_connection(("127.0.0.1", p.tls_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="proxy.test") as conn:
            assert keep_alive_get(conn, "a.sub.test", port) == 200
            # A new server certificate from another CA, and new rules for build-7.
            fresh = Pki(workdir, "rotated")
            server = fresh.issue("proxy-server-2", "/CN=proxy.test", "DNS:proxy.test,IP:127.0.0.1",
                                 usage="serverAuth")
            rules = [{"name": "builders-v2", "client_names": ["build-7"], "allow": ["other.test"]}]
            p.reload(mtls_config(pki, origins, p.tls_port, rules=rules, server=server))
            # The open connection goes on, its next request under the new rules.
            assert keep_alive_get(conn, "other.test", port) == 200
            assert keep_alive_get(conn, "a.sub.test", port) == 403
    # New connections get the new certificate: the old CA no longer verifies it.
    assert curl_tls(p, f"http://other.test:{port}/", pki["builder"], pki["ca"].ca)[0] == 60
    assert curl_tls(p, f"http://other.test:{port}/", pki["builder"], fresh.ca)[1] == 200
    # A reload with a key that does not match its certificate is rejected;
    # the running certificate stays.
    bad = mtls_config(pki, origins, p.tls_port, rules=rules, server=(server[0], pki["builder"][1]))
    p.reload(bad, expect="proxy reload rejected")
    assert "config: tls.key_file: does not match the certificate in tls.cert_file" in p.stderr_text()
    assert curl_tls(p, f"http://other.test:{port}/", pki["builder"], fresh.ca)[1] == 200
    lines = p.wait_log_count(6)
    # Lines of different connections may land in either order.
    assert sorted((l.get("client_rule") or "-", l["decision"]) for l in lines) == [
        ("-", "error"), ("builders", "allow"), ("builders-v2", "allow"), ("builders-v2", "allow"),
        ("builders-v2", "allow"), ("builders-v2", "deny")]
    refused = [l for l in lines if l["decision"] == "error"][0]
    assert refused["reason"] == "tls handshake failed: tlsv1 alert unknown ca"


def expect_refused_then_closed(conn, host, port):
    """The next request on `conn` is refused because the client trust changed, and the proxy closes."""
    conn.sendall(f"GET http://{host}:{port}/ HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    data = b""
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 "), data[:200]
    assert b"connection: close" in head.lower()
    assert b"client certificate trust changed" in body


def test_reload_with_other_client_cas_ends_verified_connections(start, pki, origins, workdir):
    p = start()
    port = origins["http"].port
    ctx = ssl.create_default_context(cafile=pki["ca"].ca)
    ctx.load_cert_chain(*pki["builder"])
    with socket.create_connection(("127.0.0.1", p.tls_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="proxy.test") as conn:
            # build-7's rule is the only one allowing a.sub.test.
            assert keep_alive_get(conn, "a.sub.test", port) == 200
            # The clients' CA is distrusted: only another CA's certificates count.
            other = Pki(workdir, "replacement")
            p.reload(mtls_config(pki, origins, p.tls_port, client_ca=other.ca))
            # Not served under the old rule (nor under any): refused, then closed.
            expect_refused_then_closed(conn, "a.sub.test", port)
    # A new connection is handshaken under the new trust: build-7's
    # certificate no longer verifies.
    assert curl_tls(p, f"http://a.sub.test:{port}/", pki["builder"], pki["ca"].ca)[1] == 0
    # Lines of different connections may land in either order.
    got = sorted((l["decision"], l.get("reason") or "-", l.get("client_rule") or "-", l.get("client_cert") or "-")
                 for l in p.wait_log_count(3))
    assert len(got) == 3
    assert got[0] == ("allow", "-", "builders", "build-7")
    assert got[1][0] == "deny" and got[1][1].startswith("client certificate refused: ")
    # OpenSSL's reason why the certificate no longer verifies: the client
    # sent its CA along, which the proxy no longer trusts.
    assert got[2] == ("deny", "tls: client certificate trust changed by a reload "
                      "(self-signed certificate in certificate chain); reconnect", "-", "build-7")


def test_reload_adding_a_client_ca_keeps_verified_connections(start, pki, origins, workdir):
    p = start()
    port = origins["http"].port
    bundle = os.path.join(workdir, "clients-and-more.pem")
    with open(bundle, "w") as out:
        for path in (pki["ca"].ca, Pki(workdir, "added").ca):
            with open(path) as f:
                out.write(f.read())
    ctx = ssl.create_default_context(cafile=pki["ca"].ca)
    ctx.load_cert_chain(*pki["builder"])
    with socket.create_connection(("127.0.0.1", p.tls_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="proxy.test") as conn:
            assert keep_alive_get(conn, "a.sub.test", port) == 200
            # The trust changed, but build-7's certificate still verifies
            # under it: the connection keeps its standing.
            p.reload(mtls_config(pki, origins, p.tls_port, client_ca=bundle))
            assert keep_alive_get(conn, "a.sub.test", port) == 200
    assert [l["decision"] for l in p.wait_log_count(2)] == ["allow", "allow"]


def test_reload_requiring_certificates_ends_connections_without_one(start, pki, origins):
    p = start(require=False)
    port = origins["http"].port
    ctx = ssl.create_default_context(cafile=pki["ca"].ca)
    with socket.create_connection(("127.0.0.1", p.tls_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="proxy.test") as conn:
            assert keep_alive_get(conn, "origin.test", port) == 200  # the global lists, no certificate
            p.reload(mtls_config(pki, origins, p.tls_port, require=True))
            expect_refused_then_closed(conn, "origin.test", port)
    # A reload that leaves the client CAs and the requirement alone keeps
    # verified connections (here: only the rules change).
    ctx.load_cert_chain(*pki["builder"])
    with socket.create_connection(("127.0.0.1", p.tls_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="proxy.test") as conn:
            assert keep_alive_get(conn, "a.sub.test", port) == 200
            rules = [{"name": "builders-v2", "client_names": ["build-7"], "allow": ["origin.test"]}]
            p.reload(mtls_config(pki, origins, p.tls_port, require=True, rules=rules))
            assert keep_alive_get(conn, "origin.test", port) == 200
            assert keep_alive_get(conn, "a.sub.test", port) == 403
    got = sorted((l["decision"], l.get("client_rule") or "-", l.get("reason") or "-") for l in p.wait_log_count(5))
    assert got == [
        ("allow", "-", "-"), ("allow", "builders", "-"), ("allow", "builders-v2", "-"),
        ("deny", "-", "tls: client certificate trust changed by a reload (a client certificate is now required); "
                      "reconnect"),
        ("deny", "builders-v2", "not in allowlist")]


def test_reload_without_tls_settings_refuses_the_bound_tls_listener(start, pki, origins):
    p = start()
    port = origins["http"].port
    p.reload({"allow": ["origin.test"], "allowed_ports": [port], "ssrf_allow": ["127.0.0.0/8"]})
    assert "listen addresses, workers and watch_config change only on restart" in p.stderr_text()
    assert curl_tls(p, f"http://origin.test:{port}/", pki["builder"], pki["ca"].ca)[0] != 0
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--noproxy", "", "-x", p.url,
                        f"http://origin.test:{port}/"], capture_output=True, timeout=30,
                       env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    assert r.stdout == b"200"
    # Two connections: their lines may land in either order.
    lines = p.wait_log_count(2)
    assert sorted((l["decision"], l.get("reason") or "-") for l in lines) == [
        ("allow", "-"), ("error", "tls listener: the running config has no tls settings")]


def test_bad_tls_configs_are_refused(workdir, pki, origins):
    def run(config):
        path = os.path.join(workdir, "bad-tls.json")
        with open(path, "w") as f:
            json.dump(config, f)
        r = subprocess.run([RAMPART_BIN, "proxy", "--config", path],
                           capture_output=True, timeout=20)
        return r.returncode, r.stderr.decode()

    base = {"listen": f"127.0.0.1:{free_port()}", "allowed_clients": ["127.0.0.0/8"]}
    rc, err = run({**base, "tls_listen": f"127.0.0.1:{free_port()}"})
    assert rc == 2 and "config: tls_listen: needs tls (cert_file and key_file)" in err
    rc, err = run({**base, "tls_listen": f"127.0.0.1:{free_port()}",
                   "tls": {"cert_file": pki["server"][0], "key_file": os.path.join(workdir, "missing.key")}})
    assert rc == 2 and "config: tls.key_file: cannot open" in err
    rc, err = run({**base, "client_rules": [{"client_names": ["build-7"], "allow": ["a.test"]}]})
    assert rc == 2 and "client_rules[0].client_names: need tls_listen with tls.client_ca_file" in err
