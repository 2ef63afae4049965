#!/usr/bin/python3
"""Bulk throughput through one CONNECT tunnel of `rampart proxy` against the
same transfer straight over loopback (issue 7: >= 90% of direct).

An origin on 127.0.0.1 waits for the first bytes of a connection (the TLS
ClientHello) and then sends SIZE MiB; the client reads them either
directly or through a tunnel. Best of three runs each.

  bench/proxy_tunnel_throughput.py build/bin/rampart [SIZE_MIB]
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from proxy_tunnel_memory import client_hello, open_tunnel_head  # noqa: E402


def origin(size):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    block = b"x" * (1 << 20)

    def serve():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=send, args=(c,), daemon=True).start()

    def send(c):
        c.recv(65536)
        for _ in range(size):
            c.sendall(block)
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def drain(s, hello):
    s.sendall(hello)
    start = time.perf_counter()
    total = 0
    buf = bytearray(1 << 20)
    while True:
        n = s.recv_into(buf)
        if n == 0:
            break
        total += n
    return total / (time.perf_counter() - start) / (1 << 20)


def main():
    binary = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    port = origin(size)
    hello = client_hello("origin.test")
    with tempfile.TemporaryDirectory() as d:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        proxy_port = s.getsockname()[1]
        s.close()
        cfg = {"listen": f"127.0.0.1:{proxy_port}", "allowed_clients": ["127.0.0.0/8"], "allow": ["origin.test"],
               "allowed_ports": [port], "ssrf_allow": ["127.0.0.0/8"], "workers": 2,
               "hosts": {"origin.test": ["127.0.0.1"]}}
        path = os.path.join(d, "proxy.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        proc = subprocess.Popen([binary, "proxy", "--config", path], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        proc.stdout.readline()
        try:
            direct = max(drain(socket.create_connection(("127.0.0.1", port)), hello) for _ in range(3))
            tunnel = max(drain(open_tunnel_head(proxy_port, port), hello) for _ in range(3))
        finally:
            proc.terminate()
            proc.wait()
    print(json.dumps({"mib": size, "direct_mib_s": round(direct), "tunnel_mib_s": round(tunnel),
                      "ratio": round(tunnel / direct, 3)}))


if __name__ == "__main__":
    main()
