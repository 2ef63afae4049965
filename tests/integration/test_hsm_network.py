"""The network HSM end to end: two `rampart hsm-server` nodes, each with its
own SoftHSM2 token directory and data directory, replicating keys, users
and sharing to each other (each names the other in `peers`); TLS 1.3 with
client certificates from a test CA made with openssl, users managed with
`rampart hsm-admin`, and applications using the keys through OpenSC's
pkcs11-tool with librampart-pkcs11.so. Signatures are verified with
openssl. Keys made through one node sign through the other, a user deleted
on one node cannot log in on the other, a node that was down catches up
when it starts, and the failover tests kill one node in the middle of a
run: the module fails over to the other node, which it learned from the
first node's node list, and finds the same key there."""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import RAMPART_BIN, free_port
from hsm_helpers import CTYPES_PREAMBLE, start_hsm_server, write_private

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
# The module built beside the rampart binary, unless RAMPART_PKCS11_MODULE names
# another build of it (e.g. a sanitizer build).
MODULE = Path(os.environ.get("RAMPART_PKCS11_MODULE") or
              Path(RAMPART_BIN).resolve().parent.parent / "lib" / "librampart-pkcs11.so")
TOKEN_PIN = "5150-user"
OFFICER_PASSWORD = "officer-secret-1"
ALICE = "alice:alice-password"
BOB = "bob:bob-password-1"


def run(args, env=None, check=True, **kw):
    out = subprocess.run(args, capture_output=True, text=True, env=env, **kw)
    if check:
        assert out.returncode == 0, f"{args}\n{out.stdout}\n{out.stderr}"
    return out


def openssl_cert(d, name, ca, ca_key, san=None):
    key, csr, pem = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem"
    run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr)])
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(pem)])
    return str(pem), str(key)


def openssl_ca(d, name):
    key, pem = d / f"{name}.key", d / f"{name}.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", f"/CN={name}", "-days", "2", "-keyout", str(key), "-out", str(pem)])
    return pem, key


def init_token(d):
    """A SoftHSM2 token directory of its own under d; returns its env."""
    (d / "tokens").mkdir(parents=True)
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {d}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    run(["softhsm2-util", "--init-token", "--free", "--label", "nethsm", "--pin", TOKEN_PIN,
         "--so-pin", "5150-so"], env=env)
    return env


class Node:
    """One node: its own token directory and data directory; the other
    nodes of the cluster are its peers."""
    def __init__(self, cluster, name, port):
        self.cluster, self.name, self.port = cluster, name, port
        self.proc = None
        self.dir = cluster.dir / name
        self.env = init_token(self.dir)
        self.data = self.dir / "data"

    def start(self, bootstrap=False, expect_failure=False, **overrides):
        """Starts the node (bootstrap: allowed to make the cluster wrapping
        key while a peer is silent). With expect_failure, waits for the
        process to exit instead and returns its log."""
        c = self.cluster
        config = {
            "listen": f"127.0.0.1:{self.port}", "node_name": self.name,
            "nodes": [f"127.0.0.1:{n}" for n in c.ports],
            "peers": [f"127.0.0.1:{n}" for n in c.ports if n != self.port],
            "bootstrap_cluster": bootstrap,
            "replication_password_file": str(c.replication_file),
            # Only the nodes' own certificate may replicate, not the applications'.
            "peer_subjects": ["/CN=server"],
            "cert": c.server_cert, "key": c.server_key, "ca": str(c.ca),
            "data_dir": str(self.data), "module": SOFTHSM, "token_label": "nethsm",
            "pin_file": str(c.pin_file), "officer_password_file": str(c.officer_file),
            "password_iterations": 10000, "max_failed_logins": 3,
        }
        config.update(overrides)
        config = {k: v for k, v in config.items() if v is not None}
        path = c.dir / f"{self.name}.json"
        path.write_text(json.dumps(config))
        log_path = c.dir / f"{self.name}.log"
        if expect_failure:
            with open(log_path, "ab") as log:
                proc = subprocess.Popen([RAMPART_BIN, "hsm-server", "--config", str(path)],
                                        stdout=log, stderr=log, env=self.env)
                assert proc.wait(timeout=60) != 0
            self.proc = None
            return log_path.read_text()
        self.proc, self.log = start_hsm_server(path, self.port, log_path, self.env,
                                               what=f"node {self.name}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)


class Cluster:
    def __init__(self, d):
        self.dir = d
        self.pin_file = Path(write_private(d / "token.pin", TOKEN_PIN + "\n"))
        self.officer_file = Path(write_private(d / "officer.pw", OFFICER_PASSWORD + "\n"))
        self.replication_file = Path(write_private(d / "replication.pw", "replication-secret-1\n"))
        self.ca, ca_key = openssl_ca(d, "test-ca")
        self.server_cert, self.server_key = openssl_cert(d, "server", self.ca, ca_key, san="IP:127.0.0.1")
        self.client_cert, self.client_key = openssl_cert(d, "app", self.ca, ca_key)
        rogue_ca, rogue_key = openssl_ca(d, "rogue-ca")
        self.rogue_cert, self.rogue_key = openssl_cert(d, "rogue", rogue_ca, rogue_key)
        self.ports = [free_port(), free_port()]
        self.nodes = [Node(self, "node-a", self.ports[0]), Node(self, "node-b", self.ports[1])]
        self.env = self.nodes[0].env
        # The application knows only node A; node B comes from A's node list.
        self.client_conf = self.write_client_conf("client.conf", self.client_cert, self.client_key)
        self.rogue_conf = self.write_client_conf("rogue.conf", self.rogue_cert, self.rogue_key)
        self.both_conf = self.write_client_conf("both.conf", self.client_cert, self.client_key,
                                                extra=f"node = 127.0.0.1:{self.ports[1]}\n")
        # Node B alone (the module learns node A from B's node list, but
        # stays on B while B answers).
        self.b_conf = self.write_client_conf("b.conf", self.client_cert, self.client_key, first=self.ports[1])

    def write_client_conf(self, name, cert, key, extra="", first=None):
        path = self.dir / name
        path.write_text(f"# test client\nnode = 127.0.0.1:{first or self.ports[0]}\n{extra}cert = {cert}\n"
                        f"key = {key}\nca = {self.ca}\ntimeout_ms = 5000\n")
        return str(path)

    def admin(self, *args, user="admin", password=OFFICER_PASSWORD, role="CO", check=True, conf=None):
        pw = self.dir / f"{user}.pw"
        pw.write_text(password + "\n")
        return run([RAMPART_BIN, "hsm-admin", "--config", conf or self.client_conf, "--user", user,
                    "--password-file", str(pw), "--role", role, *args], check=check)

    def tool(self, *args, pin=ALICE, conf=None, check=True, **kw):
        env = dict(os.environ, RAMPART_PKCS11_CONF=conf or self.client_conf)
        login = ["--login", "--pin", pin] if pin else []
        return run(["pkcs11-tool", "--module", str(MODULE), *login, *args], env=env, check=check, **kw)

    def audit(self):
        """Both nodes' audit records, in time order."""
        records = []
        for node in self.nodes:
            path = node.data / "audit.jsonl"
            if path.exists():
                records += [json.loads(line) for line in path.read_text().splitlines()]
        return sorted(records, key=lambda r: r["time_ms"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    for tool in ("softhsm2-util", "pkcs11-tool", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed (scripts/install-deps.sh)")
    if not os.path.exists(SOFTHSM):
        pytest.skip("softhsm2 is needed")
    assert MODULE.exists(), f"build the rampart-pkcs11 target first ({MODULE})"
    c = Cluster(tmp_path_factory.mktemp("nethsm"))
    # Node A starts the cluster: B is not up yet, so A may make the cluster
    # wrapping key only because it is told to (bootstrap_cluster); node B
    # fetches that key from A and catches up.
    c.nodes[0].start(bootstrap=True)
    c.nodes[1].start()
    new_pw = c.dir / "new.pw"
    for name, password in (("alice", "alice-password"), ("bob", "bob-password-1")):
        new_pw.write_text(password + "\n")
        c.admin("create-user", name, "CU", "--new-password-file", str(new_pw))
    yield c
    for node in c.nodes:
        node.stop()


def keypair(cluster, key_type, label, key_id, pin=ALICE):
    return cluster.tool("--keypairgen", "--key-type", key_type, "--label", label, "--id", key_id, pin=pin)


def public_key_pem(cluster, key_id, pin=ALICE, conf=None):
    der = cluster.dir / f"pub-{key_id}.der"
    cluster.tool("--read-object", "--type", "pubkey", "--id", key_id, "-o", str(der), pin=pin, conf=conf)
    pem = cluster.dir / f"pub-{key_id}.pem"
    run(["openssl", "pkey", "-pubin", "-inform", "DER", "-in", str(der), "-out", str(pem)])
    return str(pem)


def sign(cluster, key_id, mechanism, data, pin=ALICE, fmt=None, check=True):
    src = cluster.dir / "data.bin"
    src.write_bytes(data)
    sig = cluster.dir / f"sig-{key_id}.bin"
    extra = ["--signature-format", fmt] if fmt else []
    out = cluster.tool("--sign", "--id", key_id, "-m", mechanism, "-i", str(src), "-o", str(sig), *extra,
                       pin=pin, check=check)
    return out, src, sig


def test_module_shows_the_cluster_as_one_token(cluster):
    out = cluster.tool("--list-token-slots", pin=None)
    assert "Rampart HSM" in out.stdout
    assert "login required" in out.stdout
    mechs = cluster.tool("--list-mechanisms", pin=None).stdout
    for m in ("ECDSA-SHA256", "SHA256-RSA-PKCS-PSS", "AES-GCM", "SHA256-HMAC"):
        assert m in mechs


def test_officer_manages_users(cluster):
    users = cluster.admin("list-users").stdout
    assert "admin\tCO" in users and "alice\tCU" in users and "bob\tCU" in users
    # Crypto users may not manage users.
    denied = cluster.admin("list-users", user="alice", password="alice-password", role="CU", check=False)
    assert denied.returncode != 0 and "CKR_ACTION_PROHIBITED" in denied.stderr


def test_ec_signature_verifies_with_openssl(cluster):
    keypair(cluster, "EC:prime256v1", "alice-ec", "01")
    _, src, sig = sign(cluster, "01", "ECDSA-SHA256", b"hello from the network HSM\n", fmt="openssl")
    pem = public_key_pem(cluster, "01")
    ok = run(["openssl", "dgst", "-sha256", "-verify", pem, "-signature", str(sig), str(src)])
    assert "Verified OK" in ok.stdout
    # The module's own C_Verify agrees, and refuses other data.
    good = cluster.tool("--verify", "--id", "01", "-m", "ECDSA-SHA256", "-i", str(src),
                        "--signature-file", str(sig), "--signature-format", "openssl")
    assert "Signature is valid" in good.stdout
    src.write_bytes(b"tampered\n")
    bad = cluster.tool("--verify", "--id", "01", "-m", "ECDSA-SHA256", "-i", str(src),
                       "--signature-file", str(sig), "--signature-format", "openssl", check=False)
    assert "Invalid signature" in bad.stdout + bad.stderr


@pytest.mark.parametrize("mechanism,digest,extra", [
    ("SHA256-RSA-PKCS", "-sha256", []),
    ("SHA256-RSA-PKCS-PSS", "-sha256",
     ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]),
])
def test_rsa_signatures_verify_with_openssl(cluster, mechanism, digest, extra):
    listing = cluster.tool("--list-objects").stdout
    if "alice-rsa" not in listing:
        keypair(cluster, "rsa:2048", "alice-rsa", "02")
    _, src, sig = sign(cluster, "02", mechanism, b"a document to sign\n")
    assert sig.stat().st_size == 256
    pem = public_key_pem(cluster, "02")
    ok = run(["openssl", "dgst", digest, "-verify", pem, *extra, "-signature", str(sig), str(src)])
    assert "Verified OK" in ok.stdout


def test_objects_are_listed_sensitive_and_never_extractable(cluster):
    cluster.tool("--keygen", "--key-type", "AES:32", "--label", "alice-aes", "--id", "03")
    listing = cluster.tool("--list-objects").stdout
    assert "Secret Key Object; AES length 32" in listing
    assert "alice-aes" in listing and "alice-ec" in listing
    for block in listing.split("\n\n"):
        if "Private Key Object" in block or "Secret Key Object" in block:
            assert "sensitive" in block and "never extractable" in block, block
    # Without a login nothing is visible; other users do not see alice's keys.
    assert "alice" not in cluster.tool("--list-objects", pin=None).stdout
    assert "alice" not in cluster.tool("--list-objects", pin=BOB).stdout
    # Secret values cannot be read.
    read = cluster.tool("--read-object", "--type", "secrkey", "--id", "03", check=False)
    assert read.returncode != 0


def test_shared_key_can_be_used_but_not_deleted_by_the_other_user(cluster):
    keypair(cluster, "EC:prime256v1", "shared-ec", "04")
    cluster.admin("share-key", "shared-ec", "bob", user="alice", password="alice-password", role="CU")
    out, src, sig = sign(cluster, "04", "ECDSA-SHA256", b"bob signs with alice's key\n", pin=BOB, fmt="openssl")
    pem = public_key_pem(cluster, "04", pin=BOB)
    assert "Verified OK" in run(["openssl", "dgst", "-sha256", "-verify", pem, "-signature", str(sig),
                                 str(src)]).stdout
    delete = cluster.tool("--delete-object", "--type", "privkey", "--id", "04", pin=BOB, check=False)
    assert delete.returncode != 0
    assert "(0x1b)" in delete.stdout + delete.stderr  # CKR_ACTION_PROHIBITED
    assert "shared-ec" in cluster.tool("--list-objects").stdout
    # Bob may not share it further either.
    reshare = cluster.admin("share-key", "shared-ec", "alice", user="bob", password="bob-password-1",
                            role="CU", check=False)
    assert reshare.returncode != 0
    # The audit trail names the user, the key and the result of each use.
    signs = [r for r in cluster.audit() if r["operation"] == "Sign" and r["user"] == "bob"]
    assert signs and signs[-1]["result"] == "CKR_OK" and len(signs[-1]["key"]) == 32
    assert any(r["operation"] == "DestroyKey" and r["user"] == "bob" and r["result"] == "CKR_ACTION_PROHIBITED"
               for r in cluster.audit())


def test_owner_deletes_a_key(cluster):
    keypair(cluster, "EC:prime256v1", "to-delete", "05")
    cluster.tool("--delete-object", "--type", "privkey", "--id", "05")
    assert "to-delete" not in cluster.tool("--list-objects").stdout


def test_random_bytes(cluster):
    out = cluster.tool("--generate-random", "64", "-o", str(cluster.dir / "rnd.bin"))
    assert (cluster.dir / "rnd.bin").stat().st_size == 64, out.stdout


def test_client_without_a_valid_certificate_is_refused(cluster):
    port = cluster.ports[0]
    # A certificate from another CA: the module cannot reach any node.
    rogue = cluster.tool("--list-objects", conf=cluster.rogue_conf, check=False)
    assert rogue.returncode != 0
    assert "CKR_DEVICE_ERROR" in rogue.stdout + rogue.stderr
    # No certificate at all: the server ends the handshake.
    ctx = ssl.create_default_context(cafile=str(cluster.ca))
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"RH\x01\x01\x00\x00\x00\x00")
                if not tls.recv(8):
                    raise ConnectionResetError("closed")
    # TLS 1.2 is refused even with a good certificate.
    ctx12 = ssl.create_default_context(cafile=str(cluster.ca))
    ctx12.load_cert_chain(cluster.client_cert, cluster.client_key)
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        with socket.create_connection(("127.0.0.1", port)) as raw:
            ctx12.wrap_socket(raw, server_hostname="127.0.0.1")


def test_revoked_user_loses_access(cluster):
    new_pw = cluster.dir / "carol.pw"
    new_pw.write_text("carol-password\n")
    cluster.admin("create-user", "carol", "CU", "--new-password-file", str(new_pw))
    cluster.tool("--list-objects", pin="carol:carol-password")  # logs in
    cluster.admin("delete-user", "carol")
    out = cluster.tool("--list-objects", pin="carol:carol-password", check=False)
    assert out.returncode != 0 and "CKR_PIN_INCORRECT" in out.stdout + out.stderr


def test_failed_logins_lock_the_user(cluster):
    new_pw = cluster.dir / "dave.pw"
    new_pw.write_text("dave-password\n")
    cluster.admin("create-user", "dave", "CU", "--new-password-file", str(new_pw))
    for _ in range(3):
        cluster.tool("--list-objects", pin="dave:wrong-password", check=False)
    locked = cluster.tool("--list-objects", pin="dave:dave-password", check=False)
    assert "CKR_PIN_LOCKED" in locked.stdout + locked.stderr
    assert "dave\tCU\tlocked" in cluster.admin("list-users").stdout
    cluster.admin("change-password", "dave", "--new-password-file", str(new_pw))
    cluster.tool("--list-objects", pin="dave:dave-password")


def token_access(node, label):
    """The Access line of the private or secret key labelled `label`, read
    from the node's SoftHSM2 token directly (not through the service)."""
    out = run(["pkcs11-tool", "--module", SOFTHSM, "--token-label", "nethsm", "--login", "--pin", TOKEN_PIN,
               "--list-objects"], env=node.env).stdout
    for block in re.split(r"\n(?=\S)", out):
        if block.startswith(("Private Key Object", "Secret Key Object")) and f"label:      {label}\n" in block:
            return block.split("Access:")[1].splitlines()[0]
    raise AssertionError(f"no key {label} in {node.name}'s token:\n{out}")


def make_user(cluster, name, password, conf=None):
    pw = cluster.dir / f"{name}.new.pw"
    pw.write_text(password + "\n")
    cluster.admin("create-user", name, "CU", "--new-password-file", str(pw), conf=conf)


def test_key_made_through_node_a_signs_through_node_b(cluster):
    keypair(cluster, "EC:prime256v1", "replicated-ec", "10")
    data = b"made on A, signed on B\n"
    (cluster.dir / "b.txt").write_bytes(data)
    sig = cluster.dir / "b.sig"
    env = dict(os.environ, RAMPART_PKCS11_CONF=cluster.b_conf)
    run(["pkcs11-tool", "--module", str(MODULE), "--login", "--pin", ALICE, "--sign", "--id", "10",
         "-m", "ECDSA-SHA256", "--signature-format", "openssl", "-i", str(cluster.dir / "b.txt"),
         "-o", str(sig)], env=env)
    pem = public_key_pem(cluster, "10")  # read through node A
    assert "Verified OK" in run(["openssl", "dgst", "-sha256", "-verify", pem, "-signature", str(sig),
                                 str(cluster.dir / "b.txt")]).stdout
    # An RSA pair and an AES key travel too, and B lists them never extractable.
    keypair(cluster, "rsa:2048", "replicated-rsa", "11")
    cluster.tool("--keygen", "--key-type", "AES:32", "--label", "replicated-aes", "--id", "12")
    listing = cluster.tool("--list-objects", conf=cluster.b_conf).stdout
    for label in ("replicated-ec", "replicated-rsa", "replicated-aes"):
        assert label in listing
    for block in listing.split("\n\n"):
        if "Private Key Object" in block or "Secret Key Object" in block:
            assert "never extractable" in block, block
    # In both tokens themselves: A locked its key once B held it, and B's
    # copy was never extractable.
    for label in ("replicated-ec", "replicated-rsa", "replicated-aes"):
        for node in cluster.nodes:
            access = token_access(node, label)
            assert "sensitive" in access and " extractable" not in access.replace("never extractable", ""), \
                (node.name, label, access)
    # Only node B signed, and it got the key from node A's appliance user.
    records = cluster.audit()
    b_signs = [r for r in records if r["operation"] == "Sign" and r["user"] == "alice" and r["node"] == "node-b"]
    assert b_signs and b_signs[-1]["result"] == "CKR_OK"
    assert any(r["operation"] == "Replicate" and r["node"] == "node-b" and r["user"] == "replicator"
               and r.get("key") == b_signs[-1]["key"] and r.get("target_user") == "alice" for r in records)


def test_user_deleted_on_node_a_cannot_log_in_on_node_b(cluster):
    make_user(cluster, "erin", "erin-password")
    cluster.tool("--list-objects", pin="erin:erin-password", conf=cluster.b_conf)  # B knows erin
    assert "erin\tCU" in cluster.admin("list-users", conf=cluster.b_conf).stdout
    # A password change on A ends the old password on B.
    new_pw = cluster.dir / "erin2.pw"
    new_pw.write_text("erin-password-2\n")
    cluster.admin("change-password", "erin", "--new-password-file", str(new_pw))
    old = cluster.tool("--list-objects", pin="erin:erin-password", conf=cluster.b_conf, check=False)
    assert old.returncode != 0 and "CKR_PIN_INCORRECT" in old.stdout + old.stderr
    cluster.tool("--list-objects", pin="erin:erin-password-2", conf=cluster.b_conf)
    cluster.admin("delete-user", "erin")
    out = cluster.tool("--list-objects", pin="erin:erin-password-2", conf=cluster.b_conf, check=False)
    assert out.returncode != 0 and "CKR_PIN_INCORRECT" in out.stdout + out.stderr
    assert "erin" not in cluster.admin("list-users", conf=cluster.b_conf).stdout


def test_sharing_and_key_deletion_replicate(cluster):
    keypair(cluster, "EC:prime256v1", "shared-repl", "13")
    cluster.admin("share-key", "shared-repl", "bob", user="alice", password="alice-password", role="CU")
    assert "shared-repl" in cluster.tool("--list-objects", pin=BOB, conf=cluster.b_conf).stdout
    cluster.admin("unshare-key", "shared-repl", "bob", user="alice", password="alice-password", role="CU")
    assert "shared-repl" not in cluster.tool("--list-objects", pin=BOB, conf=cluster.b_conf).stdout
    cluster.tool("--delete-object", "--type", "privkey", "--id", "13")
    assert "shared-repl" not in cluster.tool("--list-objects", conf=cluster.b_conf).stdout


def test_a_node_that_was_down_catches_up_when_it_starts(cluster):
    a, b = cluster.nodes
    make_user(cluster, "gone", "gone-password")
    cluster.tool("--list-objects", pin="gone:gone-password", conf=cluster.b_conf)
    keypair(cluster, "EC:prime256v1", "doomed", "14")
    b.stop()
    # While B is down: a new user with a new key, a deleted user, a deleted key.
    make_user(cluster, "frank", "frank-password")
    keypair(cluster, "EC:prime256v1", "frank-ec", "15", pin="frank:frank-password")
    cluster.admin("delete-user", "gone")
    cluster.tool("--delete-object", "--type", "privkey", "--id", "14")
    # A keeps frank's key extractable (under the cluster key only) for B...
    assert "extractable" in token_access(a, "frank-ec").replace("never extractable", "")
    b.start()
    # ... and locks it once B has fetched it.
    assert "extractable" not in token_access(a, "frank-ec").replace("never extractable", "")
    assert "extractable" not in token_access(b, "frank-ec").replace("never extractable", "")
    out, src, sig = sign(cluster, "15", "ECDSA-SHA256", b"frank on B\n", pin="frank:frank-password",
                         fmt="openssl")
    env = dict(os.environ, RAMPART_PKCS11_CONF=cluster.b_conf)
    run(["pkcs11-tool", "--module", str(MODULE), "--login", "--pin", "frank:frank-password", "--sign",
         "--id", "15", "-m", "ECDSA-SHA256", "--signature-format", "openssl", "-i", str(src),
         "-o", str(sig)], env=env)
    pem = public_key_pem(cluster, "15", pin="frank:frank-password")
    assert "Verified OK" in run(["openssl", "dgst", "-sha256", "-verify", pem, "-signature", str(sig),
                                 str(src)]).stdout
    denied = cluster.tool("--list-objects", pin="gone:gone-password", conf=cluster.b_conf, check=False)
    assert denied.returncode != 0 and "CKR_PIN_INCORRECT" in denied.stdout + denied.stderr
    assert "doomed" not in cluster.tool("--list-objects", conf=cluster.b_conf).stdout
    assert any(r["operation"] == "Sign" and r["node"] == "node-b" and r["user"] == "frank"
               and r["result"] == "CKR_OK" for r in cluster.audit())
    assert a.proc.poll() is None


SIGN_LOOP = CTYPES_PREAMBLE + r"""
def ck(rv, what):
    if rv != 0:
        print(f"FAIL {what} {rv:#x}", flush=True)
        sys.exit(1)
ck(lib.C_Initialize(None), "C_Initialize")
session = U()
ck(lib.C_OpenSession(U(0), U(6), None, None, ctypes.byref(session)), "C_OpenSession")
pin = sys.argv[2].encode()
ck(lib.C_Login(session, U(1), pin, U(len(pin))), "C_Login")
cls, key_id = U(3), bytes.fromhex(sys.argv[3])
id_buf = ctypes.create_string_buffer(key_id, len(key_id))
tmpl = (Attr * 2)(Attr(0, ctypes.cast(ctypes.byref(cls), ctypes.c_void_p), ctypes.sizeof(cls)),
                  Attr(0x102, ctypes.cast(id_buf, ctypes.c_void_p), len(key_id)))
ck(lib.C_FindObjectsInit(session, tmpl, U(2)), "C_FindObjectsInit")
key, found = U(), U()
ck(lib.C_FindObjects(session, ctypes.byref(key), U(1), ctypes.byref(found)), "C_FindObjects")
ck(lib.C_FindObjectsFinal(session), "C_FindObjectsFinal")
assert found.value == 1
mech = Mech(0x1044, None, 0)  # CKM_ECDSA_SHA256
for i in range(int(sys.argv[4])):
    data = f"message {i}".encode()
    sig, sig_len = ctypes.create_string_buffer(64), U(64)
    rv = lib.C_SignInit(session, ctypes.byref(mech), key)
    if rv == 0:
        rv = lib.C_Sign(session, data, U(len(data)), sig, ctypes.byref(sig_len))
    print(f"{i} {rv:#x} {sig.raw[:sig_len.value].hex()}", flush=True)
ck(lib.C_Finalize(None), "C_Finalize")
"""


def der_ecdsa(raw):
    def integer(b):
        b = b.lstrip(b"\0") or b"\0"
        if b[0] & 0x80:
            b = b"\0" + b
        return b"\x02" + bytes([len(b)]) + b
    body = integer(raw[:32]) + integer(raw[32:])
    return b"\x30" + bytes([len(body)]) + body


def test_thousand_signatures_with_a_node_killed_midway(cluster):
    """The issue's failover check: one application signs 1,000 times in a
    loop through the module; node A is killed after the 500th signature;
    no call fails. Node A is started again afterwards."""
    env = dict(os.environ, RAMPART_PKCS11_CONF=cluster.client_conf)
    proc = subprocess.Popen(["/usr/bin/python3", "-c", SIGN_LOOP, str(MODULE), ALICE, "01", "1000"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = []
    for line in proc.stdout:
        assert not line.startswith("FAIL"), line
        index, rv, sig = line.split()
        results.append((int(index), rv, bytes.fromhex(sig)))
        if len(results) == 500:
            cluster.nodes[0].stop(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read()
    assert len(results) == 1000
    assert [rv for _, rv, _ in results if rv != "0x0"] == []
    pem = public_key_pem(cluster, "01", conf=cluster.both_conf)
    for index in (0, 499, 500, 501, 999):
        (cluster.dir / "loop.txt").write_bytes(f"message {index}".encode())
        (cluster.dir / "loop.sig").write_bytes(der_ecdsa(results[index][2]))
        ok = run(["openssl", "dgst", "-sha256", "-verify", pem, "-signature", str(cluster.dir / "loop.sig"),
                  str(cluster.dir / "loop.txt")])
        assert "Verified OK" in ok.stdout
    signs = [r for r in cluster.audit() if r["operation"] == "Sign" and r["user"] == "alice"]
    # The loop may run a little ahead of the reader: the kill lands near the middle.
    assert {r["node"] for r in signs[-1000:]} == {"node-a", "node-b"}
    assert signs[-1]["node"] == "node-b"
    cluster.nodes[0].start()


def test_failover_when_a_node_dies_mid_run(cluster):
    """pkcs11-tool logs in and finds the key on node A, then blocks reading
    its input from a FIFO; node A is killed; the signature is made on node B
    after a transparent reconnect and login."""
    fifo = cluster.dir / "input.fifo"
    os.mkfifo(fifo)
    sig = cluster.dir / "failover.sig"
    env = dict(os.environ, RAMPART_PKCS11_CONF=cluster.client_conf)
    before = len(cluster.audit())
    proc = subprocess.Popen(["pkcs11-tool", "--module", str(MODULE), "--login", "--pin", ALICE, "--sign",
                             "--id", "01", "-m", "ECDSA-SHA256", "--signature-format", "openssl",
                             "-i", str(fifo), "-o", str(sig)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        new = cluster.audit()[before:]
        if any(r["operation"] == "Login" and r["user"] == "alice" and r["node"] == "node-a" for r in new):
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("pkcs11-tool never logged in on node A")
    time.sleep(0.5)  # let it finish finding the key and block on the FIFO
    cluster.nodes[0].stop(signal.SIGKILL)
    data = b"signed across a failover\n"
    with open(fifo, "wb") as f:
        f.write(data)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stdout + stderr
    src = cluster.dir / "failover.txt"
    src.write_bytes(data)
    pem = public_key_pem(cluster, "01", conf=cluster.both_conf)
    assert "Verified OK" in run(["openssl", "dgst", "-sha256", "-verify", pem, "-signature", str(sig),
                                 str(src)]).stdout
    after = cluster.audit()[before:]
    assert any(r["operation"] == "Login" and r["node"] == "node-b" and r["result"] == "CKR_OK" for r in after)
    assert any(r["operation"] == "Sign" and r["node"] == "node-b" and r["result"] == "CKR_OK" for r in after)
    # A new application whose config names both nodes starts on node B.
    assert "alice-ec" in cluster.tool("--list-objects", conf=cluster.both_conf).stdout


def test_overlong_node_name_is_refused_at_start(cluster):
    # Clients refuse a Hello reply naming a node in more than 255 bytes, so
    # the server must not start with such a name.
    c = cluster
    config = {
        "listen": f"127.0.0.1:{free_port()}", "node_name": "n" * 300,
        "cert": c.server_cert, "key": c.server_key, "ca": str(c.ca),
        "data_dir": str(c.dir / "long-name-data"), "module": SOFTHSM, "token_label": "nethsm",
        "pin_file": str(c.pin_file), "officer_password_file": str(c.officer_file),
    }
    path = c.dir / "long-name.json"
    path.write_text(json.dumps(config))
    r = subprocess.run([RAMPART_BIN, "hsm-server", "--config", str(path)], capture_output=True,
                       text=True, env=c.env, timeout=30)
    assert r.returncode != 0
    assert "node_name is at most 255 bytes" in r.stdout + r.stderr


KMSUSER_PASSWORD = "kmsuser-net-pass"


class StandaloneNode:
    """One hsm-server node with its own SoftHSM2 token directory and data
    directory: nothing is shared with any other node."""

    def __init__(self, d, name, ca, ca_key, server_cert, server_key, client_cert, client_key, **extra_config):
        self.dir, self.name, self.port = d, name, free_port()
        (d / "tokens").mkdir(parents=True)
        (d / "data").mkdir()
        conf = d / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {d}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
        self.env = dict(os.environ, SOFTHSM2_CONF=str(conf))
        run(["softhsm2-util", "--init-token", "--free", "--label", "nethsm", "--pin", TOKEN_PIN,
             "--so-pin", "5150-so"], env=self.env)
        pin = write_private(d / "token.pin", TOKEN_PIN + "\n")
        officer = write_private(d / "officer.pw", OFFICER_PASSWORD + "\n")
        self.config = d / "node.json"
        self.config.write_text(json.dumps({
            "listen": f"127.0.0.1:{self.port}", "node_name": name, "nodes": [f"127.0.0.1:{self.port}"],
            "cert": server_cert, "key": server_key, "ca": str(ca), "data_dir": str(d / "data"),
            "module": SOFTHSM, "token_label": "nethsm", "pin_file": str(pin),
            "officer_password_file": str(officer), "password_iterations": 10000, **extra_config}))
        self.client_conf = d / "client.conf"
        # A generous timeout: SoftHSM2 takes seconds for an RSA-3072 transport
        # pair on a loaded machine, and a request that times out is sent
        # again (leaving the first pair behind).
        self.client_conf.write_text(f"node = 127.0.0.1:{self.port}\ncert = {client_cert}\nkey = {client_key}\n"
                                    f"ca = {ca}\ntimeout_ms = 60000\n")
        self.proc = None

    def start(self):
        self.proc, self.log = start_hsm_server(self.config, self.port, self.dir / "node.log", self.env,
                                               what=f"node {self.name}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def admin(self, *args, user="admin", password=OFFICER_PASSWORD, role="CO"):
        pw = self.dir / f"{user}.pw"
        pw.write_text(password + "\n")
        return run([RAMPART_BIN, "hsm-admin", "--config", str(self.client_conf), "--user", user,
                    "--password-file", str(pw), "--role", role, *args])

    def kmsuser_keys(self):
        """(hex key id, label) of every key kmsuser owns on this node."""
        out = self.admin("list-keys", user="kmsuser", password=KMSUSER_PASSWORD, role="CU").stdout
        return [(line.split("\t")[0], line.split("\t")[2]) for line in out.splitlines() if line.strip()]


def test_kms_custom_key_store_over_two_network_hsm_nodes(tmp_path):
    """A KMS custom key store whose cluster members are two hsm-server nodes,
    each with its own token: the cluster wrapping key and the KMS key are
    replicated between the nodes through the protocol, the aws CLI
    encrypts and decrypts, and with one node killed the other still
    decrypts."""
    from conftest import Rampart  # the server fixture class, for a server with an hsm config
    for tool in ("softhsm2-util", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed (scripts/install-deps.sh)")
    if not os.path.exists(SOFTHSM):
        pytest.skip("softhsm2 is needed")
    ca, ca_key = openssl_ca(tmp_path, "net-ca")
    server_cert, server_key = openssl_cert(tmp_path, "server", ca, ca_key, san="IP:127.0.0.1")
    client_cert, client_key = openssl_cert(tmp_path, "kms", ca, ca_key)
    nodes = [StandaloneNode(tmp_path / n, n, ca, ca_key, server_cert, server_key, client_cert, client_key)
             for n in ("n1", "n2")]
    kms_pw = tmp_path / "kmsuser.pw"
    kms_pw.write_text(KMSUSER_PASSWORD + "\n")
    kms_pw.chmod(0o600)
    server = None
    try:
        for node in nodes:
            node.start()
            node.admin("create-user", "kmsuser", "CU", "--new-password-file", str(kms_pw))
        cluster_id = "cluster-0e0e0e0e0e0"
        config = {"hsm": {
            "backends": [{"name": n.name, "network_config": str(n.client_conf), "network_user": "kmsuser",
                          "pin_file": str(kms_pw)} for n in nodes],
            "clusters": [{"id": cluster_id, "members": ["n1", "n2"], "min_members": 2}]}}
        server = Rampart(str(tmp_path / "kms-data"), config=config).start()
        anchor = (tmp_path / "net-ca.pem").read_text()
        out = server.aws("kms", "create-custom-key-store", "--custom-key-store-name", "net-store",
                         "--cloud-hsm-cluster-id", cluster_id, "--key-store-password", KMSUSER_PASSWORD,
                         "--trust-anchor-certificate", anchor)
        store = json.loads(out.stdout)["CustomKeyStoreId"]
        server.aws("kms", "connect-custom-key-store", "--custom-key-store-id", store)
        described = json.loads(server.aws("kms", "describe-custom-key-stores", "--custom-key-store-id",
                                          store).stdout)["CustomKeyStores"][0]
        assert described["ConnectionState"] == "CONNECTED", described
        key = json.loads(server.aws("kms", "create-key", "--origin", "AWS_CLOUDHSM", "--custom-key-store-id",
                                    store).stdout)["KeyMetadata"]["KeyId"]

        # The same key id on both nodes, owned by kmsuser, with the KMS key id as label.
        held = [dict((label, key_id) for key_id, label in n.kmsuser_keys()) for n in nodes]
        assert key in held[0] and key in held[1], held
        assert held[0][key] == held[1][key]
        assert held[0]["rampart-cluster-wrap"] == held[1]["rampart-cluster-wrap"]
        assert not any(label == "rampart-transport" for h in held for label in h)

        blob = json.loads(server.aws("kms", "encrypt", "--key-id", key, "--plaintext",
                                     "bmV0d29yayBIU00=").stdout)["CiphertextBlob"]
        plain = json.loads(server.aws("kms", "decrypt", "--ciphertext-blob", blob).stdout)["Plaintext"]
        assert plain == "bmV0d29yayBIU00="
        # Each node's audit trail shows its part: n1 made the keys, wrapped
        # them out and then locked its first copy; n2 made the transport
        # pair, unwrapped its copies (made locked) and destroyed the pair.
        ops = [{json.loads(line)["operation"] for line in (n.dir / "data" / "audit.jsonl").read_text().splitlines()}
               for n in nodes]
        assert {"Login", "GenerateKey", "WrapKeyWithPublicKey", "WrapKey", "SetNonExtractable"} <= ops[0], ops[0]
        assert {"Login", "GenerateKey", "UnwrapKey", "DestroyKey"} <= ops[1], ops[1]
        assert "WrapKey" not in ops[1] and "WrapKeyWithPublicKey" not in ops[1]

        # With n1 gone, n2 alone still decrypts (the cluster fails over).
        nodes[0].stop(signal.SIGKILL)
        plain = json.loads(server.aws("kms", "decrypt", "--ciphertext-blob", blob).stdout)["Plaintext"]
        assert plain == "bmV0d29yayBIU00="
    finally:
        if server is not None:
            server.stop()
        for node in nodes:
            node.stop()


def test_a_node_without_the_cluster_key_does_not_start_while_a_peer_is_silent(cluster):
    """A new node that reaches no peer would make a cluster key of its own
    and split the cluster: it refuses to start instead."""
    lonely = Node(cluster, "node-lonely", free_port())
    log = lonely.start(expect_failure=True, peers=[f"127.0.0.1:{free_port()}"])
    assert "did not say whether they hold one" in log and "bootstrap_cluster" in log, log
    assert "making one" not in log
    # With peers configured, peer_subjects is required.
    log = lonely.start(expect_failure=True, peer_subjects=None)
    assert "peers need peer_subjects" in log, log


def test_the_appliance_user_is_refused_for_application_certificates(cluster):
    """The application's certificate is signed by the same CA, but only the
    nodes' certificate (peer_subjects) may log in as the appliance user;
    its attempts do not lock the AU out, so replication goes on."""
    for password in ("replication-secret-1", "wrong-1", "wrong-2", "wrong-3", "wrong-4"):
        out = cluster.admin("list-users", user="replicator", password=password, role="AU", check=False,
                            conf=cluster.b_conf)
        assert out.returncode != 0 and "CKR_ACTION_PROHIBITED" in out.stdout + out.stderr, out
    assert "replicator\tAU\tlocked" not in cluster.admin("list-users", conf=cluster.b_conf).stdout
    ensure_running(cluster.nodes[0])
    make_user(cluster, "after-au", "after-au-password")
    assert "after-au\tCU" in cluster.admin("list-users", conf=cluster.b_conf).stdout
    refused = [r for r in cluster.audit() if r["operation"] == "Login" and r["user"] == "replicator"
               and r["result"] == "CKR_ACTION_PROHIBITED"]
    assert len(refused) >= 5 and all(r["peer"] == "/CN=app" for r in refused)


def ensure_running(node):
    """The failover tests may have left a node down."""
    if node.proc is None or node.proc.poll() is not None:
        node.start()


def test_a_user_change_a_peer_refuses_is_reported_to_the_officer(cluster):
    """Node B answers but refuses A's new hash (B demands more PBKDF2
    iterations than A uses): A keeps the change and tells the officer
    CKR_DEVICE_ERROR instead of succeeding silently; B takes the change
    when it catches up at its next start."""
    a, b = cluster.nodes
    ensure_running(a)
    ensure_running(b)
    make_user(cluster, "weak", "weak-password-1")
    cluster.tool("--list-objects", pin="weak:weak-password-1", conf=cluster.b_conf)
    b.stop()
    b.start(password_iterations=20000)
    try:
        new_pw = cluster.dir / "weak2.pw"
        new_pw.write_text("weak-password-2\n")
        out = cluster.admin("change-password", "weak", "--new-password-file", str(new_pw), check=False)
        assert out.returncode != 0 and "a peer node did not apply it" in out.stderr, out
        # Kept on A; B still has the old password.
        cluster.tool("--list-objects", pin="weak:weak-password-2")
        cluster.tool("--list-objects", pin="weak:weak-password-1", conf=cluster.b_conf)
        assert any(r["operation"] == "Replicate" and r["node"] == "node-b" and r["target_user"] == "weak"
                   and r["result"] == "CKR_ARGUMENTS_BAD" for r in cluster.audit() if "target_user" in r)
    finally:
        b.stop()
        b.start()
    cluster.tool("--list-objects", pin="weak:weak-password-2", conf=cluster.b_conf)
    old = cluster.tool("--list-objects", pin="weak:weak-password-1", conf=cluster.b_conf, check=False)
    assert old.returncode != 0 and "CKR_PIN_INCORRECT" in old.stdout + old.stderr


@pytest.mark.parametrize("member", ["pin_file", "officer_password_file", "replication_password_file", "key"])
def test_secret_files_open_to_others_are_refused(cluster, member):
    """Like ssh with its keys, hsm-server refuses a PIN, password or private
    key file that the group or others may read, and names the file (every
    other test starts nodes from 0600 files, which are accepted)."""
    c = cluster
    source = {"pin_file": c.pin_file, "officer_password_file": c.officer_file,
              "replication_password_file": c.replication_file, "key": Path(c.server_key)}[member]
    loose = c.dir / f"loose-{member}"
    loose.write_bytes(source.read_bytes())
    loose.chmod(0o644)
    node = Node(c, f"node-loose-{member.replace('_', '-')}", free_port())
    log = node.start(expect_failure=True, bootstrap=True, **{member: str(loose)})
    assert f"{loose} is open to group or others (mode 0644)" in log, log
    assert "listening" not in log


def test_hsm_admin_lists_every_page_of_keys(tmp_path, cluster):
    """A node answering ListKeys in pages of two keys (list_page_size):
    `hsm-admin list-keys` shows all five keys of the user, share-key finds
    a key of the last page, and the module lists every key too."""
    c = cluster
    node = StandaloneNode(tmp_path / "paged", "paged", c.ca, None, c.server_cert, c.server_key,
                          c.client_cert, c.client_key, list_page_size=2)
    node.start()
    try:
        pw = write_private(tmp_path / "pager.pw", "pager-password\n")
        for user in ("pager", "reader"):
            node.admin("create-user", user, "CU", "--new-password-file", pw)
        env = dict(os.environ, RAMPART_PKCS11_CONF=str(node.client_conf))
        labels = [f"paged-{i}" for i in range(5)]
        for i, label in enumerate(labels):
            run(["pkcs11-tool", "--module", str(MODULE), "--login", "--pin", "pager:pager-password", "--keygen",
                 "--key-type", "AES:32", "--label", label, "--id", f"7{i}"], env=env)
        listed = node.admin("list-keys", user="pager", password="pager-password", role="CU").stdout.splitlines()
        assert sorted(line.split("\t")[2] for line in listed) == labels, listed
        last = listed[-1].split("\t")[2]
        node.admin("share-key", last, "reader", user="pager", password="pager-password", role="CU")
        shared = node.admin("list-keys", user="reader", password="pager-password", role="CU").stdout
        assert shared.endswith(f"\t{last}\tpager\tshared\n"), shared
        objects = run(["pkcs11-tool", "--module", str(MODULE), "--login", "--pin", "pager:pager-password",
                       "--list-objects", "--type", "secrkey"], env=env).stdout
        assert all(f"label:      {label}\n" in objects for label in labels), objects
    finally:
        node.stop()


# A long-lived application session through the module: logs in, finds the
# EC private key with the given CKA_ID, then signs once per line read from
# stdin and prints "rv 0x..." for each.
SIGN_ON_REQUEST = CTYPES_PREAMBLE + r"""
def ck(rv, what):
    if rv:
        print(f"FAIL {what} {rv:#x}", flush=True)
        sys.exit(1)
ck(lib.C_Initialize(None), "C_Initialize")
s = U()
ck(lib.C_OpenSession(U(0), U(6), None, None, ctypes.byref(s)), "C_OpenSession")
pin = sys.argv[2].encode()
ck(lib.C_Login(s, U(1), pin, U(len(pin))), "C_Login")
key_class, key_id = U(3), bytes.fromhex(sys.argv[3])  # CKO_PRIVATE_KEY
id_buf = ctypes.create_string_buffer(key_id, len(key_id))
tmpl = (Attr * 2)(Attr(0, ctypes.cast(ctypes.byref(key_class), ctypes.c_void_p), ctypes.sizeof(key_class)),
                  Attr(0x102, ctypes.cast(id_buf, ctypes.c_void_p), len(key_id)))
h, n = U(), U()
ck(lib.C_FindObjectsInit(s, tmpl, U(2)), "C_FindObjectsInit")
ck(lib.C_FindObjects(s, ctypes.byref(h), U(1), ctypes.byref(n)), "C_FindObjects")
ck(lib.C_FindObjectsFinal(s), "C_FindObjectsFinal")
if n.value != 1:
    print("FAIL no such key", flush=True)
    sys.exit(1)
print("ready", flush=True)
mech = Mech(0x1041, None, 0)  # CKM_ECDSA
for line in sys.stdin:
    rv = lib.C_SignInit(s, ctypes.byref(mech), h)
    if rv == 0:
        sig, size = ctypes.create_string_buffer(256), U(256)
        rv = lib.C_Sign(s, b"d" * 32, U(32), sig, ctypes.byref(size))
    print(f"rv {rv:#x}", flush=True)
"""


class SigningSession:
    def __init__(self, conf, pin, key_id):
        env = dict(os.environ, RAMPART_PKCS11_CONF=conf)
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", SIGN_ON_REQUEST, str(MODULE), pin, key_id], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "ready\n"

    def sign(self):
        self.proc.stdin.write("sign\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def test_nodes_sharing_a_data_directory_see_each_others_changes_at_once(tmp_path, cluster):
    """Two nodes without peers over one token directory and one data_dir
    (docs/hsm.md). Each node caches user and key records, but only while no
    other process uses its data directory: an unshare and a password change
    made through node A end sessions on node B at their next call."""
    c, d = cluster, tmp_path
    env = init_token(d)
    pin = write_private(d / "token.pin", TOKEN_PIN + "\n")
    officer = write_private(d / "officer.pw", OFFICER_PASSWORD + "\n")
    procs, confs, loops = [], [], []

    def admin(conf, *args, user="admin", password=OFFICER_PASSWORD, role="CO"):
        pw = write_private(d / f"{user}.admin.pw", password + "\n")
        return run([RAMPART_BIN, "hsm-admin", "--config", conf, "--user", user, "--password-file", pw,
                    "--role", role, *args])

    try:
        for name in ("shared-a", "shared-b"):
            port = free_port()
            config = d / f"{name}.json"
            config.write_text(json.dumps({
                "listen": f"127.0.0.1:{port}", "node_name": name, "nodes": [f"127.0.0.1:{port}"],
                "cert": c.server_cert, "key": c.server_key, "ca": str(c.ca), "data_dir": str(d / "data"),
                "module": SOFTHSM, "token_label": "nethsm", "pin_file": pin, "officer_password_file": officer,
                "password_iterations": 10000}))
            procs.append(start_hsm_server(config, port, d / f"{name}.log", env, what=f"node {name}")[0])
            conf = d / f"{name}.conf"
            conf.write_text(f"node = 127.0.0.1:{port}\ncert = {c.client_cert}\nkey = {c.client_key}\n"
                            f"ca = {c.ca}\ntimeout_ms = 5000\n")
            confs.append(str(conf))
        a, b = confs
        for user in ("alice", "bob"):
            admin(a, "create-user", user, "CU", "--new-password-file",
                  write_private(d / f"{user}.pw", f"{user}-password-1\n"))
        run(["pkcs11-tool", "--module", str(MODULE), "--login", "--pin", "alice:alice-password-1", "--keypairgen",
             "--key-type", "EC:prime256v1", "--label", "dir-ec", "--id", "5a01"],
            env=dict(os.environ, RAMPART_PKCS11_CONF=b))
        admin(a, "share-key", "dir-ec", "bob", user="alice", password="alice-password-1", role="CU")

        # Sessions on node B, each signing twice (B has read the records).
        bob = SigningSession(b, "bob:bob-password-1", "5a01")
        loops.append(bob)
        alice = SigningSession(b, "alice:alice-password-1", "5a01")
        loops.append(alice)
        for loop in (bob, alice):
            assert [loop.sign(), loop.sign()] == ["rv 0x0", "rv 0x0"]

        admin(a, "unshare-key", "dir-ec", "bob", user="alice", password="alice-password-1", role="CU")
        assert bob.sign() != "rv 0x0"
        assert alice.sign() == "rv 0x0"
        admin(a, "change-password", "alice", "--new-password-file",
              write_private(d / "alice-new.pw", "alice-password-2\n"))
        assert alice.sign() == "rv 0x101"  # CKR_USER_NOT_LOGGED_IN
    finally:
        for loop in loops:
            loop.close()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
