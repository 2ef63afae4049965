"""Durable replication between network HSM nodes: three `rampart hsm-server`
nodes, each with its own SoftHSM2 token and data directory. Node A reaches
node B through a TCP relay that the tests can cut (connections refused) or
blackhole (connections accepted, nothing forwarded, no RST), so that B
stays up and serves clients while A cannot reach it.

What is checked:
- a change A cannot deliver to B waits in A's outbox (the hsm_outbox
  table of hsm.db) and
  reaches B, which never restarts, once the link is back, even when A was
  killed with the entries queued and restarted meanwhile;
- a blackholed peer costs an officer's request at most one bounded wait,
  not the I/O timeout on every request; the request answers success and a
  key is usable once it is on min_nodes (2) nodes;
- a node that was down catches up from whichever peer is live (not
  necessarily the first in its list), and the node that made the changes
  later drains its outbox to it without errors (the applies are
  idempotent);
- a node upgraded from the version that kept its outbox in a file of its
  own (data_dir/outbox.db) moves the file's entries into hsm.db at start
  and delivers them."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import threading
import time

import pytest

from conftest import RAMPART_BIN, free_port
from hsm_helpers import start_hsm_server
from test_hsm_network import MODULE, OFFICER_PASSWORD, SOFTHSM, TOKEN_PIN, init_token, openssl_ca, \
    openssl_cert, run

ALICE_PASSWORD = "alice-password"
ALICE = "alice:" + ALICE_PASSWORD


def secret_file(path, text):
    """Writes a password or PIN file readable by its owner only (hsm-server
    refuses others)."""
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


class Relay:
    """A TCP relay on 127.0.0.1 to a target port. Modes: "forward";
    "refuse" (every connection is closed at once); "blackhole" (connections
    are accepted and held, nothing is forwarded or answered)."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.mode = "forward"
        self.lock = threading.Lock()
        self.conns = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode
            conns, self.conns = self.conns, []
        for c in conns:  # a new mode starts with fresh connections
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def close(self):
        self.closed = True
        self.set_mode("refuse")
        self.listener.close()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                mode = self.mode
                if mode != "refuse":
                    self.conns.append(client)
            if mode == "refuse":
                client.close()
            elif mode == "forward":
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
                    upstream.settimeout(None)
                except OSError:
                    client.close()
                    continue
                with self.lock:
                    self.conns.append(upstream)
                threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
                threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
            # blackhole: held open, never read

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data or self.mode != "forward":
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Node:
    def __init__(self, cluster, name):
        self.cluster, self.name = cluster, name
        self.port = free_port()
        self.dir = cluster.dir / name
        self.env = init_token(self.dir)
        self.data = self.dir / "data"
        self.proc = None
        self.peers = []  # host:port strings, set by the cluster
        self.conf = None

    def start(self, bootstrap=False):
        c = self.cluster
        config = {
            "listen": f"127.0.0.1:{self.port}", "node_name": self.name,
            "nodes": [f"127.0.0.1:{n.port}" for n in c.nodes],
            "peers": self.peers, "bootstrap_cluster": bootstrap,
            "replication_password_file": str(c.replication_file), "peer_subjects": ["/CN=server"],
            "cert": c.server_cert, "key": c.server_key, "ca": str(c.ca),
            "data_dir": str(self.data), "module": SOFTHSM, "token_label": "nethsm",
            "pin_file": str(c.pin_file), "officer_password_file": str(c.officer_file),
            "password_iterations": 10000, "max_failed_logins": 3, "min_nodes": 2,
        }
        path = c.dir / f"{self.name}.json"
        path.write_text(json.dumps(config))
        self.proc, self.log = start_hsm_server(path, self.port, c.dir / f"{self.name}.log", self.env,
                                               what=f"node {self.name}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def outbox(self):
        """(peer, kind) of every entry this node still owes its peers."""
        db = sqlite3.connect(str(self.data / "hsm.db"), timeout=10)
        try:
            return db.execute("SELECT peer, kind FROM hsm_outbox ORDER BY seq").fetchall()
        finally:
            db.close()

    def move_outbox_to_legacy_file(self):
        """Makes this stopped node's data directory look like one of the
        version that kept the outbox apart: its entries in outbox.db (a
        copy of hsm.db, so with the outbox's table and migration record),
        none left in hsm.db."""
        assert not self.running()
        hsm = sqlite3.connect(str(self.data / "hsm.db"), timeout=10)
        legacy = sqlite3.connect(str(self.data / "outbox.db"))
        try:
            hsm.backup(legacy)
            hsm.execute("DELETE FROM hsm_outbox")
            hsm.commit()
        finally:
            legacy.close()
            hsm.close()

    def log_text(self):
        return (self.cluster.dir / f"{self.name}.log").read_text()


class Cluster:
    def __init__(self, d):
        self.dir = d
        self.pin_file = secret_file(d / "token.pin", TOKEN_PIN)
        self.officer_file = secret_file(d / "officer.pw", OFFICER_PASSWORD)
        self.replication_file = secret_file(d / "replication.pw", "replication-secret-1")
        self.ca, ca_key = openssl_ca(d, "test-ca")
        self.server_cert, self.server_key = openssl_cert(d, "server", self.ca, ca_key, san="IP:127.0.0.1")
        self.client_cert, self.client_key = openssl_cert(d, "app", self.ca, ca_key)
        self.nodes = [Node(self, n) for n in ("node-a", "node-b", "node-c")]
        self.a, self.b, self.c = self.nodes
        # A reaches B only through the relay; every other path is direct.
        self.relay = Relay(self.b.port)
        for node in self.nodes:
            node.peers = [f"127.0.0.1:{self.relay.port if (node is self.a and other is self.b) else other.port}"
                          for other in self.nodes if other is not node]
            node.conf = self.client_conf(node)

    def client_conf(self, node):
        path = self.dir / f"client-{node.name}.conf"
        path.write_text(f"node = 127.0.0.1:{node.port}\ncert = {self.client_cert}\nkey = {self.client_key}\n"
                        f"ca = {self.ca}\ntimeout_ms = 10000\n")
        return str(path)

    def admin(self, node, *args, user="admin", password=OFFICER_PASSWORD, role="CO", check=True):
        pw = secret_file(self.dir / f"{user}.pw", password)
        return run([RAMPART_BIN, "hsm-admin", "--config", node.conf, "--user", user, "--password-file", str(pw),
                    "--role", role, *args], check=check)

    def make_user(self, node, name, password):
        pw = secret_file(self.dir / f"{name}.new.pw", password)
        return self.admin(node, "create-user", name, "CU", "--new-password-file", str(pw))

    def users(self, node):
        return {line.split("\t")[0] for line in self.admin(node, "list-users").stdout.splitlines() if line}

    def tool(self, node, *args, pin=ALICE, check=True):
        env = dict(os.environ, RAMPART_PKCS11_CONF=node.conf)
        return run(["pkcs11-tool", "--module", str(MODULE), "--login", "--pin", pin, *args], env=env, check=check)

    def labels(self, node, pin=ALICE):
        return self.tool(node, "--list-objects", pin=pin).stdout

    def sign_on(self, node, key_id, pin=ALICE):
        src = self.dir / "msg.txt"
        src.write_bytes(b"signed after replication\n")
        sig = self.dir / f"sig-{node.name}.bin"
        self.tool(node, "--sign", "--id", key_id, "-m", "ECDSA-SHA256", "-i", str(src), "-o", str(sig), pin=pin)
        return sig.stat().st_size


def eventually(check, what, timeout=45):
    deadline = time.time() + timeout
    while True:
        try:
            if check():
                return
        except AssertionError:
            pass
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    for tool in ("softhsm2-util", "pkcs11-tool", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed (scripts/install-deps.sh)")
    if not os.path.exists(SOFTHSM):
        pytest.skip("softhsm2 is needed")
    assert MODULE.exists(), f"build the rampart-pkcs11 target first ({MODULE})"
    c = Cluster(tmp_path_factory.mktemp("durable"))
    c.a.start(bootstrap=True)
    c.b.start()
    c.c.start()
    c.make_user(c.a, "alice", ALICE_PASSWORD)
    yield c
    for node in c.nodes:
        node.stop()
    c.relay.close()


@pytest.fixture(autouse=True)
def healthy(cluster):
    """Every test starts and ends with the link up and every node running."""
    cluster.relay.set_mode("forward")
    for node in cluster.nodes:
        if not node.running():
            node.start()
    yield
    cluster.relay.set_mode("forward")
    for node in cluster.nodes:
        if not node.running():
            node.start()


def test_changes_queued_while_a_peer_is_cut_off_survive_a_kill_of_the_sender(cluster):
    a, b, c = cluster.nodes
    cluster.relay.set_mode("refuse")
    # The officer sees success: the change is done on A and C and queued
    # for B (docs/hsm.md, "Durable pushes").
    cluster.make_user(a, "queued-user", "queued-password")
    cluster.tool(a, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "queued-ec", "--id", "51")
    assert "queued-user" in cluster.users(c)
    assert "queued-user" not in cluster.users(b)  # B is up, but A cannot reach it
    assert "queued-ec" not in cluster.labels(b)
    owed = [peer for peer, _ in a.outbox()]
    assert owed and set(owed) == {f"127.0.0.1:{cluster.relay.port}"}, owed

    # A dies with the entries queued, and starts again while B is still cut off.
    a.stop(signal.SIGKILL)
    a.start()
    assert len(a.outbox()) >= 2
    assert "queued-user" not in cluster.users(b)

    # The link returns: A's sender delivers to B, which never restarted.
    cluster.relay.set_mode("forward")
    eventually(lambda: "queued-user" in cluster.users(b), "B has the queued user")
    eventually(lambda: "queued-ec" in cluster.labels(b), "B has the queued key")
    eventually(lambda: a.outbox() == [], "A's outbox is empty")
    assert cluster.sign_on(b, "51") > 0
    assert "keeps refusing" not in a.log_text()


def test_a_blackholed_peer_does_not_cost_every_request_the_io_timeout(cluster):
    a, b, c = cluster.nodes
    cluster.make_user(a, "warm-up", "warm-up-password")  # A's connection to B is up
    cluster.relay.set_mode("blackhole")
    took = []
    for i in range(4):
        start = time.time()
        cluster.make_user(a, f"dark-{i}", "dark-password")
        took.append(time.time() - start)
        # Live peers still get each change before the officer's answer.
        assert f"dark-{i}" in cluster.users(c)
    # The first request may wait for B up to wait_ms (3 s); once B is known
    # to be stalled, requests do not wait for it. A synchronous push would
    # cost every request at least the 5 s I/O timeout.
    assert took[0] < 8, took
    assert max(took[1:]) < 2.5, took
    # A key needs min_nodes = 2 holders: A and C are enough.
    start = time.time()
    cluster.tool(a, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "dark-ec", "--id", "52")
    assert time.time() - start < 5 + 2.5
    assert "dark-ec" in cluster.labels(c)
    assert "dark-3" not in cluster.users(b)

    cluster.relay.set_mode("forward")
    eventually(lambda: {f"dark-{i}" for i in range(4)} <= cluster.users(b), "B has every change")
    eventually(lambda: "dark-ec" in cluster.labels(b), "B has the key")
    eventually(lambda: a.outbox() == [], "A's outbox is empty")


def test_a_returning_node_catches_up_from_any_live_peer_and_the_maker_drains_later(cluster):
    a, b, c = cluster.nodes
    cluster.make_user(a, "doomed", "doomed-password")
    cluster.tool(a, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "doomed-ec", "--id", "53")
    assert "doomed-ec" in cluster.labels(c)
    c.stop()
    # While C is down: a new user and key, a deleted key and a deleted user.
    cluster.make_user(a, "while-away", "away-password")
    cluster.tool(a, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "away-ec", "--id", "54",
                 pin="while-away:away-password")
    cluster.tool(a, "--delete-object", "--type", "privkey", "--id", "53")
    cluster.admin(a, "delete-user", "doomed")
    assert {peer for peer, _ in a.outbox()} == {f"127.0.0.1:{c.port}"}
    # A, the node that made the changes and is first in C's peer list, is
    # killed with them queued: C catches up from B, the live peer.
    a.stop(signal.SIGKILL)
    log_before = len(c.log_text())
    c.start()
    assert f'"msg":"hsm-server: caught up from a peer","peer":"127.0.0.1:{b.port}"' in c.log_text()[log_before:]
    assert "while-away" in cluster.users(c) and "doomed" not in cluster.users(c)
    assert "doomed-ec" not in cluster.labels(c)
    # The new key's only extractable copy is on A, its maker (B's copy was
    # locked when B installed it): C gets it from A's outbox once A is
    # back. A delivers what it owed C; every entry that C already applied
    # through B is accepted again, none refused.
    a.start()
    eventually(lambda: a.outbox() == [], "A's outbox is empty")
    assert "keeps refusing" not in a.log_text()
    assert "away-ec" in cluster.labels(c, pin="while-away:away-password")
    assert cluster.sign_on(c, "54", pin="while-away:away-password") > 0
    assert "while-away" in cluster.users(c) and "doomed" not in cluster.users(c)
    assert "doomed-ec" not in cluster.labels(c)


def test_an_upgraded_node_delivers_what_its_old_outbox_file_owed(cluster):
    a, b, c = cluster.nodes
    cluster.relay.set_mode("refuse")
    cluster.make_user(a, "legacy-user", "legacy-password")
    assert "legacy-user" in cluster.users(c)
    assert "legacy-user" not in cluster.users(b)
    owed = a.outbox()
    assert owed and {peer for peer, _ in owed} == {f"127.0.0.1:{cluster.relay.port}"}, owed
    # A stops and comes back as if upgraded with a non-empty outbox file.
    a.stop()
    a.move_outbox_to_legacy_file()
    assert a.outbox() == []
    log_before = len(a.log_text())
    a.start()
    assert not (a.data / "outbox.db").exists()
    assert a.outbox() == owed  # same entries, same order
    assert "moved the queued changes of the old outbox file" in a.log_text()[log_before:]
    # The link returns: B gets what the old file owed it.
    cluster.relay.set_mode("forward")
    eventually(lambda: "legacy-user" in cluster.users(b), "B has the user the old outbox owed it")
    eventually(lambda: a.outbox() == [], "A's outbox is empty")
    assert "keeps refusing" not in a.log_text()
