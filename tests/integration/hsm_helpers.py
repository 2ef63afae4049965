"""Shared by the network HSM tests: starting a `rampart hsm-server` node."""
import os
import socket
import subprocess
import time
from pathlib import Path

from conftest import RAMPART_BIN


def write_private(path, text):
    """Writes a secret file readable by its owner only: hsm-server refuses
    PIN and password files that the group or others may read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return str(path)


def start_hsm_server(config, port, log_path: Path, env, what="the HSM node"):
    """Starts `rampart hsm-server --config config`, logging to log_path, and
    waits until it accepts connections on port. Returns (process, log file)."""
    log = open(log_path, "ab")
    proc = subprocess.Popen([RAMPART_BIN, "hsm-server", "--config", str(config)],
                            stdout=log, stderr=log, env=env)
    deadline = time.time() + 20
    while time.time() < deadline:
        assert proc.poll() is None, log_path.read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, log
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{what} did not start")


# The start of every ctypes script that drives a PKCS#11 module in a process
# of its own: the module (argv[1]) loaded, CK_ULONG, CK_ATTRIBUTE and
# CK_MECHANISM.
CTYPES_PREAMBLE = r"""
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
U = ctypes.c_ulong
class Attr(ctypes.Structure):
    _fields_ = [("type", U), ("value", ctypes.c_void_p), ("len", U)]
class Mech(ctypes.Structure):
    _fields_ = [("mechanism", U), ("param", ctypes.c_void_p), ("len", U)]
"""
