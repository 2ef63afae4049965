"""Fixtures for the egress proxy tests: local origins on 127.0.0.1 (plain
HTTP and HTTPS with a throwaway multi-name certificate), a rampart proxy
process with a JSON config, and raw-socket helpers. Every byte of test
traffic stays on loopback: names resolve through the proxy's static
"hosts" map, never through DNS."""
import http.server
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

RAMPART_BIN = os.environ.get("RAMPART_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin/rampart"))
CERT_NAMES = ("origin.test", "a.sub.test", "b.sub.test", "sub.test", "other.test")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(directory, names=CERT_NAMES):
    """A self-signed certificate for several names, made by openssl."""
    cert = os.path.join(directory, "origin-cert.pem")
    key = os.path.join(directory, "origin-key.pem")
    san = ",".join(f"DNS:{n}" for n in names)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", key, "-out", cert, "-subj", f"/CN={names[0]}",
                    "-addext", f"subjectAltName={san}"],
                   check=True, capture_output=True)
    return cert, key


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so one tunnel can carry many requests

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
        super().setup()

    def _reply(self, body):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if getattr(self, "drop_next", False):
            self.close_connection = True  # close this connection without an answer
            return
        if self.path.startswith("/conn"):
            # Which origin connection carried the request (its client port),
            # and "/conn?drop-next" closes that connection at its next request.
            self.drop_next = "drop-next" in self.path
            return self._reply(f"{self.server.label} host={self.headers.get('Host')} conn={self.client_address[1]}")
        if self.path.startswith("/then-close"):
            self._reply("then-close")  # keep-alive framing, then the origin closes anyway
            self.close_connection = True
            return
        if self.path.startswith("/list"):
            return self._reply_list()
        if self.path.startswith("/chunked"):
            return self._reply_chunked(int(self.path.partition("n=")[2] or "3"))
        if self.path.startswith("/until-close"):
            return self._reply_until_close()
        if self.path.startswith("/headers"):
            return self._reply_headers()
        self._reply(f"{self.server.label} host={self.headers.get('Host')} path={self.path}")

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "1234")
        self.end_headers()

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
            label = "chunked"
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            label = "got"
        if self.path.startswith("/size"):
            return self._reply(f"{self.server.label} {label} {len(body)} bytes")
        self._reply(f"{self.server.label} {label}={body.decode(errors='replace')}")

    def _read_chunked(self):
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass  # trailer fields
                return body
            body += self.rfile.read(size)
            self.rfile.readline()

    def _reply_list(self):
        """The origin's `list_text` (an allowlist for the pull), or `list_status`."""
        status = getattr(self.server, "list_status", 200)
        data = getattr(self.server, "list_text", "").encode()
        self.server.list_fetches = getattr(self.server, "list_fetches", 0) + 1
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reply_chunked(self, n):
        """A chunked response whose body is "part0 part1 ..." with n parts."""
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(n):
            data = f"part{i} ".encode()
            self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")

    def _reply_until_close(self):
        """A response delimited by closing the connection (no length)."""
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"until-close body")
        self.close_connection = True

    def _reply_headers(self):
        """The request's field names, and hop-by-hop fields in the response."""
        data = ",".join(sorted(k.lower() for k in self.headers.keys())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "keep-alive, X-Hop")
        self.send_header("X-Hop", "1")
        self.send_header("Keep-Alive", "timeout=5")
        self.send_header("X-End", "2")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # handshake failures are part of the tests


class Origin:
    """An HTTP or HTTPS origin on 127.0.0.1 in a background thread. For
    HTTPS, `snis` records the server names clients asked for."""

    def __init__(self, cert=None, key=None, label="origin"):
        self.port = free_port()
        self.snis = []
        self.server = _Server(("127.0.0.1", self.port), _Handler)
        self.server.label = label
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            ctx.sni_callback = lambda sock, name, _ctx: self.snis.append(name)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Proxy:
    """One `rampart proxy` process. `config` is a dict; listen, the access
    log and a hosts map pointing the test names at 127.0.0.1 are filled in."""

    def __init__(self, workdir, config, name="proxy"):
        self.workdir = workdir
        self.port = free_port()
        self.config_path = os.path.join(workdir, f"{name}.json")
        self.access_log = os.path.join(workdir, f"{name}-access.log")
        self.stderr_path = os.path.join(workdir, f"{name}-stderr.log")
        self.config = self.complete(config)
        self.proc = None

    def complete(self, config):
        cfg = {"listen": f"127.0.0.1:{self.port}", "allowed_clients": ["127.0.0.0/8"],
               "access_log": self.access_log, "workers": 2,
               "hosts": {n: ["127.0.0.1"] for n in CERT_NAMES + ("evil.test",)}}
        cfg.update(config)
        return cfg

    def write_config(self, config=None, raw=None):
        with open(self.config_path, "w") as f:
            f.write(raw if raw is not None else json.dumps(config or self.config))

    def start(self):
        self.write_config()
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([RAMPART_BIN, "proxy", "--config", self.config_path],
                                     stdout=subprocess.PIPE, stderr=self.stderr)
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError("proxy did not start: " + line + self.stderr_text())
        return self

    def stderr_text(self):
        with open(self.stderr_path) as f:
            return f.read()

    def reload(self, config=None, raw=None, expect="proxy config reloaded"):
        """Rewrites the config, sends SIGHUP and waits for the log line."""
        before = self.stderr_text().count(expect)
        if config is not None:
            config = self.complete(config)
        self.write_config(config, raw)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10  # generous: the machine may be loaded
        while time.time() < deadline:
            if self.stderr_text().count(expect) > before:
                return
            time.sleep(0.02)
        raise AssertionError("no '" + expect + "' after SIGHUP:\n" + self.stderr_text())

    def read_log(self, path=None):
        """The access log as parsed JSON lines, as it is now."""
        path = path or self.access_log
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.endswith("\n")]

    def wait_log_lines(self, predicate, timeout=10.0, path=None):
        """The access log once predicate(lines) holds. A request's line is
        written when its session ends, which may be after the client has its
        answer (the client's close ends a keep-alive session), so a test
        waits for the lines it checks instead of reading at once."""
        seen = []

        def ready():
            seen[:] = self.read_log(path)
            return predicate(seen)

        assert wait_for(ready, timeout=timeout), f"the access log never matched; it holds {seen}"
        return list(seen)

    def wait_log_count(self, n, timeout=10.0, path=None):
        """The access log once it holds at least n lines (see wait_log_lines);
        a test that expects exactly n asserts that itself."""
        return self.wait_log_lines(lambda lines: len(lines) >= n, timeout=timeout, path=path)

    def reload_events(self):
        """The proxy's 'proxy config reloaded' stderr lines, parsed (time, source, ...)."""
        events = []
        for line in self.stderr_text().splitlines():
            if '"proxy config reloaded"' in line:
                events.append(json.loads(line))
        return events

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
        self.stderr.close()
        return self.proc.returncode

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


def curl(proxy, url, *extra, cacert=None, timeout=20):
    """curl through the proxy; returns (exit code, http code, connect code, body)."""
    args = ["curl", "-s", "-x", proxy.url, "--max-time", "10", "-o", "-",
            "-w", "\n%{http_code} %{http_connect}", "--noproxy", ""]
    if cacert:
        args += ["--cacert", cacert]
    r = subprocess.run(args + list(extra) + [url], capture_output=True, timeout=timeout,
                       env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    out = r.stdout.decode(errors="replace")
    body, _, codes = out.rpartition("\n")
    http_code, _, connect_code = codes.partition(" ")
    return r.returncode, int(http_code or 0), int(connect_code or 0), body


def raw_exchange(proxy, data, read_timeout=5):
    """Sends raw bytes to the proxy; returns everything it answers until it closes."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=read_timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (socket.timeout, ConnectionResetError):
            pass
        return b"".join(chunks)


def connect_tunnel(proxy, host, port, timeout=10):
    """Opens a CONNECT tunnel; returns (socket, status line)."""
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)
    s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head.split(b"\r\n", 1)[0].decode()


def tls_over(sock, server_name, cacert):
    ctx = ssl.create_default_context(cafile=cacert)
    return ctx.wrap_socket(sock, server_hostname=server_name)


def https_get(tls_sock, host, path="/"):
    """One keep-alive GET over an established TLS socket; returns the body."""
    tls_sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls_sock.recv(4096)
        if not chunk:
            raise ConnectionError("tunnel closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(body) < length:
        chunk = tls_sock.recv(4096)
        if not chunk:
            raise ConnectionError("tunnel closed")
        body += chunk
    return head.split(b"\r\n", 1)[0].decode(), body.decode()


class DnsResponder:
    """A small authoritative-style DNS server on 127.0.0.1 (UDP) for the
    proxy's resolver. `records` maps a name to a list of addresses (IPv4
    answered for A, IPv6 for AAAA), to "NXDOMAIN", or to "SILENT" (never
    answered). Unknown names are NXDOMAIN. `queries` counts (name, type)."""

    A, AAAA = 1, 28

    def __init__(self, records, ttl=300):
        self.records = dict(records)
        self.ttl = ttl
        self.queries = {}
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def count(self, name, qtype=A):
        with self.lock:
            return self.queries.get((name, qtype), 0)

    def _serve(self):
        while not self.closed:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                reply = self._answer(data)
            except (IndexError, ValueError, UnicodeDecodeError):
                continue
            if reply:
                try:
                    self.sock.sendto(reply, addr)
                except OSError:
                    return  # closed meanwhile

    def _answer(self, data):
        qid, flags, qdcount = int.from_bytes(data[0:2], "big"), data[2], int.from_bytes(data[4:6], "big")
        if flags & 0x80 or qdcount != 1:
            return None
        labels, i = [], 12
        while data[i]:
            labels.append(data[i + 1:i + 1 + data[i]].decode("ascii").lower())
            i += 1 + data[i]
        question = data[12:i + 5]
        qtype = int.from_bytes(data[i + 1:i + 3], "big")
        name = ".".join(labels)
        with self.lock:
            self.queries[(name, qtype)] = self.queries.get((name, qtype), 0) + 1
        record = self.records.get(name, "NXDOMAIN")
        if record == "SILENT":
            return None
        rcode, answers = 0, []
        if record == "NXDOMAIN":
            rcode = 3
        else:
            family = socket.AF_INET if qtype == self.A else socket.AF_INET6
            for addr in record:
                try:
                    answers.append(socket.inet_pton(family, addr))
                except OSError:
                    continue  # the other family
        header = (qid.to_bytes(2, "big") + bytes([0x84 | (data[2] & 0x01), 0x80 | rcode]) +
                  (1).to_bytes(2, "big") + len(answers).to_bytes(2, "big") + b"\0\0\0\0")
        body = b"".join(b"\xc0\x0c" + qtype.to_bytes(2, "big") + b"\0\x01" + self.ttl.to_bytes(4, "big") +
                        len(rdata).to_bytes(2, "big") + rdata for rdata in answers)
        return header + question + body

    def close(self):
        self.closed = True
        self.sock.close()


def admin_request(port, method, path, timeout=10):
    """One request to the proxy's admin endpoint; returns (status, headers, body text)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        conn.close()


def parse_metrics(text):
    """Prometheus text -> {'name{labels}': float}."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def replace_file(path, text):
    """Writes path the way editors and config managers do: a new file renamed over the old."""
    tmp = path + ".tmp-edit"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def wait_for(predicate, timeout=5.0, interval=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
