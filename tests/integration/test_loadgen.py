"""The benchmark load generator (bench/loadgen) against the real server: the
numbers in docs/benchmarks.md are only as good as the tool, so its request
signing, response framing and exit status are checked here."""
import os
import re
import subprocess

import pytest

from conftest import RAMPART_BIN

LOADGEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(RAMPART_BIN))),
                       "rampart-loadgen")


def run_loadgen(server, *args, secret=None):
    ak, sk = server.credentials()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=secret or sk)
    return subprocess.run([LOADGEN, "--host", "127.0.0.1", "--port", str(server.port), *args],
                          capture_output=True, text=True, env=env, timeout=60)


def statuses(out):
    line = re.search(r"^responses by status:(.*)$", out, re.M).group(1)
    return {int(k): int(v) for k, v in (p.split("=") for p in line.split())}


@pytest.fixture(scope="module", autouse=True)
def need_loadgen():
    if not os.access(LOADGEN, os.X_OK):
        pytest.fail(f"{LOADGEN} is not built")


def test_every_request_is_accepted(server):
    r = run_loadgen(server, "--connections", "4", "--threads", "2", "--requests", "500")
    assert r.returncode == 0, r.stdout + r.stderr
    assert statuses(r.stdout) == {200: 500}
    assert "transport errors: 0" in r.stdout


def test_fixed_rate_keeps_its_schedule(server):
    r = run_loadgen(server, "--connections", "2", "--rate", "200", "--duration", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    done = sum(statuses(r.stdout).values())
    assert 150 <= done <= 210, r.stdout


def test_kms_json_operation(server):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    body = '{"KeyId":"%s","Plaintext":"aGVsbG8="}' % key
    r = run_loadgen(server, "--connections", "2", "--requests", "100", "--op", "json",
                    "--service", "kms", "--target", "TrentService.Encrypt", "--body", body)
    assert r.returncode == 0, r.stdout + r.stderr
    assert statuses(r.stdout) == {200: 100}


def test_wrong_secret_is_refused_and_reported(server):
    r = run_loadgen(server, "--connections", "2", "--requests", "50", secret="not-the-secret")
    assert r.returncode == 1
    assert statuses(r.stdout) == {403: 50}
    assert "non-2xx responses: 50" in r.stdout
