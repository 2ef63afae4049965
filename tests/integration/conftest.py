"""Starts real rampart servers for the integration tests and gives the
tests real clients: the Debian aws CLI (v2) and boto3."""
import configparser
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from unittest import mock

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.config
import pytest

RAMPART_BIN = os.environ.get("RAMPART_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin/rampart"))
AWS_CLI = "/usr/bin/aws"
REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rampart:
    """One rampart server process with its own data directory."""

    def __init__(self, data_dir, dev=False, extra_args=(), config=None):
        self.data_dir = data_dir
        self.dev = dev
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args)
        self.config = config
        self.proc = None
        self.stdout = ""

    def start(self):
        args = [RAMPART_BIN, "server", "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}"]
        if self.config is not None:
            path = os.path.join(self.data_dir + ".json")
            with open(path, "w") as f:
                json.dump(self.config, f)
            args += ["--config", path]
        if self.dev:
            args.append("--dev")
        args += self.extra_args
        self.log_path = self.data_dir + ".log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        # The server prints its welcome once it accepts connections.
        deadline = time.time() + 20
        lines = []
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            lines.append(line)
            if line.startswith("Try:"):
                lines.append(self.proc.stdout.readline().decode())
                break
        self.stdout = "".join(lines)
        if "listening on" not in self.stdout:
            self.stop()
            raise RuntimeError("rampart did not start:\n" + self.stdout + open(self.log_path).read())
        return self

    def credentials(self):
        cp = configparser.ConfigParser()
        cp.read(os.path.join(self.data_dir, "credentials"))
        return cp["default"]["aws_access_key_id"], cp["default"]["aws_secret_access_key"]

    def client(self, service, access_key=None, secret_key=None, **kw):
        ak, sk = self.credentials()
        return boto3.session.Session().client(
            service, endpoint_url=self.endpoint, region_name=kw.pop("region", REGION),
            aws_access_key_id=access_key or ak, aws_secret_access_key=secret_key or sk,
            config=botocore.config.Config(retries={"max_attempts": 1}), **kw)

    def admin_client(self, service, **kw):
        """A client signed by an IAM user of the server's account with
        AdministratorAccess: what AWS expects for AssumeRole, which the
        account root may not call. Created once per server."""
        if getattr(self, "_admin_key", None) is None:
            iam = self.client("iam")
            name = "rampart-test-admin"
            iam.create_user(UserName=name)
            iam.attach_user_policy(UserName=name,
                                   PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
            key = iam.create_access_key(UserName=name)["AccessKey"]
            self._admin_key = (key["AccessKeyId"], key["SecretAccessKey"])
            self.admin_arn = iam.get_user(UserName=name)["User"]["Arn"]
        return self.client(service, access_key=self._admin_key[0],
                           secret_key=self._admin_key[1], **kw)

    def admin_env(self):
        """Environment for the aws CLI to sign as the administrator user."""
        self.admin_client("sts")
        return {"AWS_ACCESS_KEY_ID": self._admin_key[0],
                "AWS_SECRET_ACCESS_KEY": self._admin_key[1],
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

    def aws(self, *args, check=True, env_extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.data_dir, "credentials"),
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
            "HOME": self.data_dir,
        })
        env.update(env_extra or {})
        r = subprocess.run([AWS_CLI, "--endpoint-url", self.endpoint, "--output", "json", *args],
                           env=env, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
            self.log.close()
        return self.proc.returncode if self.proc else None


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="rampart-it-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def server(workdir):
    s = Rampart(os.path.join(workdir, "prod")).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def dev_server(workdir):
    s = Rampart(os.path.join(workdir, "dev"), dev=True).start()
    yield s
    s.stop()


# The regions the multi-Region server serves (its first is the default).
MULTI_REGIONS = ["us-east-1", "eu-west-1", "us-west-2"]


@pytest.fixture(scope="session")
def multi_region_server(workdir):
    """A server whose config file lists several regions, for multi-Region
    KMS keys."""
    s = Rampart(os.path.join(workdir, "multi-region"), config={"regions": MULTI_REGIONS}).start()
    yield s
    s.stop()


def signed_request(server, service, method="POST", path="/", body=b"", headers=None,
                   access_key=None, secret_key=None, when=None, region=REGION, params=None):
    """Builds and signs a raw request with botocore's own SigV4 signer (not
    ours), optionally at another time, and returns (url, headers, body)."""
    ak, sk = server.credentials()
    creds = botocore.credentials.Credentials(access_key or ak, secret_key or sk)
    url = server.endpoint + path
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=headers or {},
                                         params=params or {})
    signer = botocore.auth.SigV4Auth(creds, service, region)
    if when is None:
        signer.add_auth(req)
    else:
        with mock.patch("botocore.auth.datetime") as dt:
            dt.datetime.utcnow.return_value = when
            signer.add_auth(req)
    prepared = req.prepare()
    return prepared.url, dict(prepared.headers), prepared.body


def send(url, headers, body, method="POST"):
    """Sends a request; returns (status, headers, body bytes) for any status."""
    if isinstance(body, str):
        body = body.encode()
    r = urllib.request.Request(url, data=body if method != "GET" else None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def utcnow():
    return datetime.datetime.utcnow()
