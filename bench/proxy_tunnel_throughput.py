#!/usr/bin/python3
"""Bulk throughput through one CONNECT tunnel against the same transfer
straight over loopback (issue 7: >= 90% of direct).

An origin on 127.0.0.1 waits for the first bytes of a connection (the TLS
ClientHello) and then sends SIZE MiB; the client reads them either
directly or through a tunnel. Best of three runs each; for rampart also
the proxy's CPU seconds (user + system) per GiB relayed, and the CPU the
two endpoints (this process: origin and client threads) spent per GiB
directly and through the splice tunnel: on two cores the three processes
share the CPU, which bounds the tunnel's ratio to direct (see
docs/benchmarks.md, session 7).

  bench/proxy_tunnel_throughput.py build/bin/rampart [SIZE_MIB]
      rampart proxy with its splice relay and with "splice": false
  bench/proxy_tunnel_throughput.py --attach PORT [SIZE_MIB]
      a proxy already listening on PORT (Squid, tinyproxy); the tunnel is
      CONNECT localhost:$BENCH_BULK_PORT (the origin listens there) with
      SNI "localhost", which that proxy must allow
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


def origin(size, port=0):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
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


def best_of_three(connect, hello):
    return max(drain(connect(), hello) for _ in range(3))


def own_cpu_seconds():
    t = os.times()
    return t.user + t.system


def cpu_seconds(pid):
    """User + system CPU time a process has used (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_rampart(binary, d, port, splice):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    proxy_port = s.getsockname()[1]
    s.close()
    cfg = {"listen": f"127.0.0.1:{proxy_port}", "allowed_clients": ["127.0.0.0/8"], "allow": ["origin.test"],
           "allowed_ports": [port], "ssrf_allow": ["127.0.0.0/8"], "workers": 2, "splice": splice,
           "hosts": {"origin.test": ["127.0.0.1"]}}
    path = os.path.join(d, f"proxy-{splice}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    proc = subprocess.Popen([binary, "proxy", "--config", path], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    proc.stdout.readline()
    return proc, proxy_port


def main():
    attach = sys.argv[1] == "--attach"
    args = sys.argv[3:] if attach else sys.argv[2:]
    size = int(args[0]) if args else 2048
    port = origin(size, int(os.environ.get("BENCH_BULK_PORT", "0")) if attach else 0)
    own0 = own_cpu_seconds()
    direct = best_of_three(lambda: socket.create_connection(("127.0.0.1", port)), client_hello("origin.test"))
    gib = 3 * size / 1024
    out = {"mib": size, "direct_mib_s": round(direct),
           "endpoints_cpu_s_per_gib_direct": round((own_cpu_seconds() - own0) / gib, 3)}
    if attach:
        hello = client_hello("localhost")
        tunnel = best_of_three(lambda: open_tunnel_head(int(sys.argv[2]), port, "localhost"), hello)
        out.update({"tunnel_mib_s": round(tunnel), "ratio": round(tunnel / direct, 3)})
    else:
        hello = client_hello("origin.test")
        with tempfile.TemporaryDirectory() as d:
            for splice in (True, False):
                proc, proxy_port = start_rampart(sys.argv[1], d, port, splice)
                try:
                    cpu_before, own0 = cpu_seconds(proc.pid), own_cpu_seconds()
                    tunnel = best_of_three(lambda: open_tunnel_head(proxy_port, port), hello)
                    cpu, own = cpu_seconds(proc.pid) - cpu_before, own_cpu_seconds() - own0
                finally:
                    proc.terminate()
                    proc.wait()
                name = "splice" if splice else "buffered"
                # The proxy's own CPU per GiB relayed (three transfers),
                # which the shared machine's load disturbs less than MiB/s.
                out.update({f"{name}_mib_s": round(tunnel), f"{name}_ratio": round(tunnel / direct, 3),
                            f"{name}_cpu_s_per_gib": round(cpu / gib, 3),
                            f"{name}_endpoints_cpu_s_per_gib": round(own / gib, 3)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
