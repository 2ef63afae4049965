"""Client-certificate standing on the proxy's TLS listener over time:
certificate revocation lists (tls.client_crl_file) checked at the
handshake and reloaded with the config, and open CONNECT tunnels inside
TLS connections that a reload ends when it withdraws their client's
standing (client CAs or CRLs, or the certificate's client rule), while
tunnels from the plain listener and tunnels whose standing holds go on.

The CA is run with `openssl ca`, so revocation and CRLs are openssl's own.
Tunnels carry plain HTTP (require_sni off) to the local origin, so each
one is a keep-alive HTTP connection the test can probe after a reload."""
import os
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from proxy_helpers import RAMPART_BIN, Origin, Proxy, admin_request, free_port, parse_metrics, wait_for

CA_CONFIG = """
[ ca ]
default_ca = testca
[ testca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 1
default_crl_days = 1
policy = any_name
unique_subject = no
x509_extensions = client_cert
[ any_name ]
commonName = supplied
[ client_cert ]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
"""


def openssl(*args):
    r = subprocess.run(["openssl", *args], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()


class OpensslCa:
    """A CA kept by `openssl ca` in its own directory: issue, revoke, CRLs."""

    def __init__(self, directory, name):
        self.dir = os.path.join(directory, name)
        os.makedirs(os.path.join(self.dir, "issued"))
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(self.dir, "crlnumber"), "w") as f:
            f.write("01\n")
        self.cnf = os.path.join(self.dir, "ca.cnf")
        with open(self.cnf, "w") as f:
            f.write(CA_CONFIG.format(dir=self.dir))
        self.ca = os.path.join(self.dir, "ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                "-keyout", os.path.join(self.dir, "ca.key"), "-out", self.ca, "-subj", f"/CN={name} CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, cn, san=None):
        key = os.path.join(self.dir, f"{cn}.key")
        csr = os.path.join(self.dir, f"{cn}.csr")
        cert = os.path.join(self.dir, f"{cn}.pem")
        args = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", f"/CN={cn}"]
        openssl(*args)
        extra = []
        if san:
            ext = os.path.join(self.dir, f"{cn}.ext")
            with open(ext, "w") as f:
                f.write(f"basicConstraints=CA:FALSE\nextendedKeyUsage={san[0]}\n")
                if san[1]:
                    f.write(f"subjectAltName={san[1]}\n")
            extra = ["-extfile", ext]
        openssl("ca", "-batch", "-config", self.cnf, "-in", csr, "-out", cert, "-notext", *extra)
        return cert, key

    def revoke(self, cert):
        openssl("ca", "-config", self.cnf, "-revoke", cert)

    def crl(self, name="crl.pem"):
        path = os.path.join(self.dir, name)
        openssl("ca", "-config", self.cnf, "-gencrl", "-out", path)
        return path


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="rampart-proxy-crl-") as d:
        yield d


@pytest.fixture(scope="module")
def pki(workdir):
    ca = OpensslCa(workdir, "clients")
    other = OpensslCa(workdir, "elsewhere")
    return {
        "ca": ca,
        "other": other,
        "server": ca.issue("proxy-server", ("serverAuth", "DNS:proxy.test,IP:127.0.0.1")),
        "builder": ca.issue("build-7"),
        "ci": ca.issue("ci-runner"),
    }


@pytest.fixture(scope="module")
def origin():
    o = Origin(label="plain")
    yield o
    o.close()


def config(pki, origin, tls_port, admin_port, client_ca=None, crl=None, rules=None, workers=2):
    if rules is None:
        rules = [{"name": "builders", "client_names": ["build-7"], "allow": ["a.sub.test"]},
                 {"name": "ci", "client_names": ["ci-runner"], "allow": ["other.test"]}]
    tls = {"cert_file": pki["server"][0], "key_file": pki["server"][1],
           "client_ca_file": client_ca or pki["ca"].ca, "require_client_cert": True}
    if crl is not None:
        tls["client_crl_file"] = crl
    return {"tls_listen": f"127.0.0.1:{tls_port}", "tls": tls, "admin_listen": f"127.0.0.1:{admin_port}",
            "allow": ["origin.test"], "allowed_ports": [origin.port], "ssrf_allow": ["127.0.0.0/8"],
            "require_sni": False, "client_rules": rules, "watch_config": False, "workers": workers}


@pytest.fixture
def start(workdir, pki, origin, request):
    started = []

    def start_proxy(**kw):
        tls_port, admin_port = free_port(), free_port()
        p = Proxy(workdir, config(pki, origin, tls_port, admin_port, **kw), name=request.node.name)
        p.tls_port, p.admin_port, p.workers = tls_port, admin_port, kw.get("workers", 2)
        started.append(p.start())
        assert p.proc.stdout.readline().decode().strip() == f"rampart proxy tls listening on 127.0.0.1:{tls_port}"
        return p

    yield start_proxy
    for p in started:
        p.stop()


def reload(p, pki, origin, expect="proxy config reloaded", **kw):
    p.reload(config(pki, origin, p.tls_port, p.admin_port, workers=p.workers, **kw), expect=expect)


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def tls_tunnel(p, pki, client, host, port):
    """A CONNECT tunnel inside a TLS connection to the proxy, made with `client`'s certificate."""
    ctx = ssl.create_default_context(cafile=pki["ca"].ca)
    ctx.load_cert_chain(*client)
    conn = ctx.wrap_socket(socket.create_connection(("127.0.0.1", p.tls_port), timeout=10), server_hostname="proxy.test")
    conn.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    status = read_head(conn).split(b"\r\n", 1)[0]
    assert status == b"HTTP/1.1 200 Connection established", status
    return conn


def plain_tunnel(p, host, port):
    conn = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    conn.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    assert read_head(conn).startswith(b"HTTP/1.1 200 ")
    return conn


def get_through(conn, host):
    """One keep-alive GET to the origin through an open tunnel; None when the tunnel is gone."""
    try:
        conn.sendall(f"GET /probe HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head = read_head(conn)
        if not head:
            return None
        length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
        body = b""
        while len(body) < length:
            chunk = conn.recv(length - len(body))
            if not chunk:
                return None
            body += chunk
        return body.decode()
    except (ConnectionError, ssl.SSLError, OSError):
        return None


def closed_within(conn, seconds):
    """True when the proxy ends the connection within `seconds` (without the client sending anything)."""
    conn.settimeout(seconds)
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            if not conn.recv(4096):
                return True
    except socket.timeout:
        return False
    except (ConnectionError, ssl.SSLError, OSError):
        return True
    return False


def curl_tls(p, pki, client, url):
    args = ["curl", "-s", "--max-time", "10", "--noproxy", "", "-o", "/dev/null", "-w", "%{http_code}",
            "--proxy", f"https://127.0.0.1:{p.tls_port}", "--proxy-cacert", pki["ca"].ca,
            "--proxy-cert", client[0], "--proxy-key", client[1], url]
    r = subprocess.run(args, capture_output=True, timeout=30,
                       env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    return r.returncode, int(r.stdout or 0)


def metrics(p):
    return parse_metrics(admin_request(p.admin_port, "GET", "/metrics")[2])


def tunnel_lines(p):
    return [l for l in p.read_log() if l.get("method") == "CONNECT"]


def test_reload_changing_client_cas_ends_verified_tls_tunnels_only(start, pki, origin):
    # One worker: a reload's review of its tunnels is one pass over all of
    # them, so seeing one tunnel closed by it shows the others were
    # reviewed too.
    p = start(workers=1)
    port = origin.port
    verified = tls_tunnel(p, pki, pki["builder"], "a.sub.test", port)
    ci = tls_tunnel(p, pki, pki["ci"], "other.test", port)
    plain = plain_tunnel(p, "origin.test", port)
    assert get_through(verified, "a.sub.test").startswith("plain host=a.sub.test")
    assert get_through(ci, "other.test").startswith("plain host=other.test")
    assert get_through(plain, "origin.test").startswith("plain host=origin.test")
    # A rules-only reload: the builders' rule stays (with another list), so
    # its tunnel stays; the ci rule goes and the global lists refuse
    # other.test, so the ci tunnel is closed by the same review. Its close
    # is the sign that the review has run before the kept tunnel is tried.
    reload(p, pki, origin, rules=[{"name": "builders", "client_names": ["build-7"], "allow": ["b.sub.test"]}])
    assert closed_within(ci, 10.0)
    assert get_through(verified, "a.sub.test").startswith("plain host=a.sub.test")
    assert get_through(plain, "origin.test").startswith("plain host=origin.test")
    # Only another CA's certificates count now: the verified tunnel ends at
    # the reload, without the client sending anything.
    reload(p, pki, origin, client_ca=pki["other"].ca)
    assert closed_within(verified, 10.0)
    assert get_through(plain, "origin.test").startswith("plain host=origin.test")
    plain.close()
    verified.close()
    ci.close()
    assert wait_for(lambda: len(tunnel_lines(p)) == 3, timeout=10)
    gone = [l for l in tunnel_lines(p) if l.get("client_cert") == "ci-runner"][0]
    assert gone["reason"] == ("reload: client rule 'ci' for certificate name 'ci-runner' withdrawn, and the "
                              "tunnel is not allowed without it (not in allowlist); tunnel closed")
    ended = [l for l in tunnel_lines(p) if l.get("client_cert") == "build-7"][0]
    assert ended["decision"] == "allow" and ended["client_rule"] == "builders"
    # OpenSSL's reason: the client sent its CA along, which the proxy no
    # longer trusts ("self-signed certificate in certificate chain").
    assert ended["reason"].startswith("tls: client certificate trust changed by a reload (")
    assert ended["reason"].endswith("certificate chain); tunnel closed")
    assert ended["bytes_down"] > 0
    m = metrics(p)
    assert m['rampart_proxy_tunnels_closed_by_reload_total{reason="client_trust"}'] == 1
    assert m['rampart_proxy_tunnels_closed_by_reload_total{reason="client_rule"}'] == 1


def test_reload_withdrawing_a_certificate_rule_ends_its_tunnels(start, pki, origin):
    p = start(workers=1)  # the closed tunnel shows the kept one was reviewed (see above)
    port = origin.port
    builder = tls_tunnel(p, pki, pki["builder"], "a.sub.test", port)
    ci = tls_tunnel(p, pki, pki["ci"], "other.test", port)
    assert get_through(builder, "a.sub.test") and get_through(ci, "other.test")
    # The builders' rule is gone and the global lists do not allow
    # a.sub.test; the ci rule stays (with another list) and its tunnel too.
    reload(p, pki, origin, rules=[{"name": "ci", "client_names": ["ci-runner"], "allow": ["b.sub.test"]}])
    assert closed_within(builder, 10.0)
    assert get_through(ci, "other.test").startswith("plain host=other.test")
    ci.close()
    assert wait_for(lambda: len(tunnel_lines(p)) == 2, timeout=10)
    ended = [l for l in tunnel_lines(p) if l.get("client_cert") == "build-7"][0]
    assert ended["reason"] == ("reload: client rule 'builders' for certificate name 'build-7' withdrawn, and the "
                               "tunnel is not allowed without it (not in allowlist); tunnel closed")
    kept = [l for l in tunnel_lines(p) if l.get("client_cert") == "ci-runner"][0]
    assert "reload" not in (kept.get("reason") or "")
    m = metrics(p)
    assert m['rampart_proxy_tunnels_closed_by_reload_total{reason="client_rule"}'] == 1
    assert m['rampart_proxy_tunnels_closed_by_reload_total{reason="client_trust"}'] == 0


def test_revoked_certificates_are_refused_and_crls_reload(start, pki, origin, workdir):
    ca = pki["ca"]
    good = ca.issue("good-client")
    revoked = ca.issue("revoked-client")
    later = ca.issue("later-client")
    ca.revoke(revoked[0])
    crl = ca.crl("crl-1.pem")
    rules = [{"name": "all", "client_names": ["good-client", "revoked-client", "later-client"],
              "allow": ["origin.test"]}]
    p = start(crl=crl, rules=rules, workers=1)  # see the first test
    url = f"http://origin.test:{origin.port}/"
    assert curl_tls(p, pki, good, url) == (0, 200)
    rc, code = curl_tls(p, pki, revoked, url)
    assert rc != 0 and code == 0
    # The refusal's line is written when its session ends, after the alert
    # curl reports: wait for it rather than read at once.
    lines = p.wait_log_lines(lambda ls: any(l.get("decision") == "deny" for l in ls))
    refused = [l for l in lines if l.get("decision") == "deny"]
    assert [l["reason"] for l in refused] == ["client certificate refused: certificate revoked"]

    # Two open tunnels; then later-client is revoked and a new CRL loaded.
    # Its tunnel ends; the other's certificate still verifies and goes on.
    stays = tls_tunnel(p, pki, good, "origin.test", origin.port)
    goes = tls_tunnel(p, pki, later, "origin.test", origin.port)
    assert get_through(stays, "origin.test") and get_through(goes, "origin.test")
    ca.revoke(later[0])
    reload(p, pki, origin, crl=ca.crl("crl-2.pem"), rules=rules)
    assert closed_within(goes, 10.0)
    assert get_through(stays, "origin.test").startswith("plain host=origin.test")
    assert curl_tls(p, pki, later, url)[1] == 0

    # A CRL that does not parse, or from a CA the proxy does not trust,
    # rejects the reload with a clear message; the running CRLs stay.
    broken = os.path.join(workdir, "broken-crl.pem")
    with open(ca.crl("crl-3.pem")) as f:
        text = f.read()
    with open(broken, "w") as f:
        f.write(text.replace(text.splitlines()[3], "A" * 40 + "!!!!" + "A" * 20))
    reload(p, pki, origin, crl=broken, rules=rules, expect="proxy reload rejected")
    assert f"config: tls.client_crl_file: unreadable CRL (number 1) in {broken}" in p.stderr_text()
    reload(p, pki, origin, crl=[crl, pki["other"].crl()], rules=rules, expect="proxy reload rejected")
    assert "config: tls.client_crl_file: the CRL from CN=elsewhere CA in " in p.stderr_text()
    assert "its issuer is not in tls.client_ca_file" in p.stderr_text()
    assert curl_tls(p, pki, later, url)[1] == 0
    assert get_through(stays, "origin.test").startswith("plain host=origin.test")
    stays.close()
    assert wait_for(lambda: len(tunnel_lines(p)) == 2, timeout=10)
    ended = [l for l in tunnel_lines(p) if l.get("client_cert") == "later-client"][0]
    assert ended["reason"] == "tls: client certificate trust changed by a reload (certificate revoked); tunnel closed"
    m = metrics(p)
    assert m['rampart_proxy_tunnels_closed_by_reload_total{reason="client_trust"}'] == 1
    assert m['rampart_proxy_config_reloads_total{result="rejected"}'] == 2


def test_bad_crl_settings_refuse_to_start(workdir, pki, origin):
    def run(tls_extra, name):
        cfg = config(pki, origin, free_port(), free_port())
        cfg["tls"].update(tls_extra)
        cfg.update({"listen": f"127.0.0.1:{free_port()}", "allowed_clients": ["127.0.0.0/8"]})
        path = os.path.join(workdir, f"{name}.json")
        with open(path, "w") as f:
            import json
            json.dump(cfg, f)
        r = subprocess.run([RAMPART_BIN, "proxy", "--config", path], capture_output=True, timeout=20)
        return r.returncode, r.stderr.decode()

    rc, err = run({"client_crl_file": os.path.join(workdir, "missing-crl.pem")}, "missing")
    assert rc == 2 and "config: tls.client_crl_file: cannot open " in err
    rc, err = run({"client_crl_file": pki["ca"].ca}, "not-a-crl")
    assert rc == 2 and f"config: tls.client_crl_file: no PEM CRL (X509 CRL) in {pki['ca'].ca}" in err
    rc, err = run({"client_crl_file": []}, "empty")
    assert rc == 2 and "config: tls.client_crl_file: must not be an empty array" in err
