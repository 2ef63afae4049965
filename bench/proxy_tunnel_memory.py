#!/usr/bin/python3
"""Memory per idle CONNECT tunnel in `rampart proxy` (issue 7: < 16 KB).

Starts a TCP origin on 127.0.0.1 that answers each connection's first bytes
with a 1 KiB reply (a stand-in for a ServerHello) and then stays silent,
starts the proxy, opens N tunnels (CONNECT, 200, a real TLS ClientHello with
SNI, the origin's reply read back through the tunnel) and leaves them idle.
Reports the proxy's resident memory (VmRSS) before and after, per tunnel.

  bench/proxy_tunnel_memory.py build/bin/rampart [N]
  bench/proxy_tunnel_memory.py --attach PID PORT [N]   # another proxy (Squid, tinyproxy)

With --attach the proxy is already running (pid PID, listening on PORT)
and the tunnels go to 127.0.0.1:$BENCH_ORIGIN_PORT with a ClientHello
without SNI (an IP literal has none); the proxy must allow that (rampart:
"require_sni": false).
"""
import json
import os
import resource
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time


def raise_fd_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class SilentOrigin:
    """Accepts connections; answers the first bytes of each with 1 KiB."""

    def __init__(self, port=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.conns = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            for key, _ in self.sel.select():
                if key.fileobj is self.sock:
                    c, _ = self.sock.accept()
                    self.conns.append(c)
                    self.sel.register(c, selectors.EVENT_READ)
                else:
                    data = key.fileobj.recv(65536)
                    self.sel.unregister(key.fileobj)
                    if data:
                        key.fileobj.sendall(b"S" * 1024)


def client_hello(name):
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pipe_fds(pid):
    """How many of the process's descriptors are pipe ends (threads share them)."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:")
        except OSError:
            pass
    return n


def open_tunnel_head(proxy_port, origin_port, host="origin.test"):
    """A socket after CONNECT and its 200 (nothing sent through yet)."""
    s = socket.create_connection(("127.0.0.1", proxy_port))
    s.sendall(f"CONNECT {host}:{origin_port} HTTP/1.1\r\nHost: {host}:{origin_port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("proxy closed: " + head.decode(errors="replace"))
        head += chunk
    assert head.split(b" ", 2)[1] == b"200", head
    return s


def open_tunnel(proxy_port, origin_port, hello, host="origin.test"):
    s = open_tunnel_head(proxy_port, origin_port, host)
    s.sendall(hello)
    got = 0
    while got < 1024:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("tunnel closed")
        got += len(chunk)
    return s


def measure(pid, proxy_port, origin_port, n, host):
    hello = client_hello(None if host == "127.0.0.1" else host)
    # Warm up: allocator arenas and worker state exist before measuring.
    for s in [open_tunnel(proxy_port, origin_port, hello, host) for _ in range(100)]:
        s.close()
    time.sleep(0.5)
    before = rss_kib(pid)
    pipes_before = pipe_fds(pid)
    tunnels = [open_tunnel(proxy_port, origin_port, hello, host) for _ in range(n)]
    time.sleep(1.0)
    after = rss_kib(pid)
    # Kernel memory the RSS does not show: pipes (rampart's splice relay
    # holds one per direction only while bytes flow).
    print(json.dumps({"tunnels": n, "rss_before_kib": before, "rss_after_kib": after,
                      "bytes_per_idle_tunnel": round((after - before) * 1024 / n),
                      "pipe_fds_before": pipes_before, "pipe_fds_after": pipe_fds(pid)}))
    for s in tunnels:
        s.close()


def main():
    if sys.argv[1] == "--attach":
        raise_fd_limit()
        origin = SilentOrigin(int(os.environ["BENCH_ORIGIN_PORT"]))
        n = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
        return measure(int(sys.argv[2]), int(sys.argv[3]), origin.port, n, "127.0.0.1")
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    raise_fd_limit()
    origin = SilentOrigin()
    with tempfile.TemporaryDirectory() as d:
        port = socket.socket()
        port.bind(("127.0.0.1", 0))
        proxy_port = port.getsockname()[1]
        port.close()
        cfg = {"listen": f"127.0.0.1:{proxy_port}", "allowed_clients": ["127.0.0.0/8"], "allow": ["origin.test"],
               "allowed_ports": [origin.port], "ssrf_allow": ["127.0.0.0/8"], "workers": 2,
               "hosts": {"origin.test": ["127.0.0.1"]}, "limits": {"max_connections": 100000}}
        path = os.path.join(d, "proxy.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        proc = subprocess.Popen([binary, "proxy", "--config", path], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, preexec_fn=raise_fd_limit)
        proc.stdout.readline()
        try:
            measure(proc.pid, proxy_port, origin.port, n, "origin.test")
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
