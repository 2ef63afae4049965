"""STS AssumeRoleWithWebIdentity against a local OpenID Connect issuer.

The issuer is a Python HTTPS server with a throwaway CA made with openssl
in the test; its tokens are signed with an RSA and an EC key (python3-
cryptography). Rampart fetches the issuer's discovery document and JWKS
over HTTPS, trusting the CA through the provider's thumbprint, as AWS
does. boto3 and the aws CLI send the call unsigned, as they do for AWS."""
import base64
import functools
import http.server
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

import boto3
import botocore
import botocore.config
import botocore.credentials
import botocore.session
import botocore.exceptions
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from conftest import REGION, send
from iam_helpers import account_of, uniq

CLIENT_ID = "rampart-ci"
SUBJECT = "repo:acme/app:ref:refs/heads/main"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint_bytes(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return n.to_bytes(size, "big")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """A CA and a server certificate for localhost / 127.0.0.1 signed by it.
    Returns (chain file, key file, CA thumbprint)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=Rampart Test IdP CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
            "-subj", "/CN=localhost", cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    with open(os.path.join(d, "chain.pem"), "w") as out:
        for name in ("srv.pem", "ca.pem"):
            out.write(open(os.path.join(d, name)).read())
    fp = subprocess.run(["openssl", "x509", "-in", "ca.pem", "-noout", "-fingerprint", "-sha1"],
                        cwd=d, check=True, capture_output=True, text=True).stdout
    return os.path.join(d, "chain.pem"), os.path.join(d, "srv.key"), \
        fp.strip().split("=", 1)[1].replace(":", "")


class Issuer:
    """Serves /<tenant>/.well-known/openid-configuration and the JWKS of each
    tenant over HTTPS, and signs tokens for them."""

    def __init__(self, d):
        chain, key, self.ca_thumbprint = make_pki(d)
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.stray = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwks_fetches = 0
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = issuer.document(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(chain, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, tenant):
        return f"https://localhost:{self.port}/{tenant}"

    def document(self, path):
        parts = path.strip("/").split("/")
        tenant = parts[0]
        rest = "/".join(parts[1:])
        if rest == ".well-known/openid-configuration":
            return {"issuer": self.url(tenant), "jwks_uri": self.url(tenant) + "/jwks.json",
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
        if rest == "jwks.json":
            self.jwks_fetches += 1
            return {"keys": [self.rsa_jwk(), self.ec_jwk()]}
        return None

    def rsa_jwk(self):
        n = self.rsa.public_key().public_numbers()
        return {"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256",
                "n": b64url(uint_bytes(n.n)), "e": b64url(uint_bytes(n.e))}

    def ec_jwk(self):
        n = self.ec.public_key().public_numbers()
        return {"kty": "EC", "kid": "ec1", "crv": "P-256",
                "x": b64url(uint_bytes(n.x, 32)), "y": b64url(uint_bytes(n.y, 32))}

    def token(self, tenant, alg="RS256", kid=None, key=None, header_extra=None, **claims):
        now = int(time.time())
        body = {"iss": self.url(tenant), "aud": CLIENT_ID, "sub": SUBJECT,
                "iat": now, "nbf": now - 5, "exp": now + 600}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        header = {"alg": alg, "typ": "JWT",
                  "kid": kid or ("ec1" if alg.startswith("ES") else "rsa1")}
        header.update(header_extra or {})
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(body).encode())).encode()
        if alg == "RS256":
            sig = (key or self.rsa).sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "ES256":
            r, s = decode_dss_signature((key or self.ec).sign(signing_input,
                                                               ec.ECDSA(hashes.SHA256())))
            sig = uint_bytes(r, 32) + uint_bytes(s, 32)
        else:
            sig = b""
        return signing_input.decode() + "." + b64url(sig)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def idp():
    with tempfile.TemporaryDirectory(prefix="rampart-idp-") as d:
        issuer = Issuer(d)
        yield issuer
        issuer.close()


def unsigned_sts(server):
    return boto3.session.Session().client(
        "sts", endpoint_url=server.endpoint, region_name=REGION,
        config=botocore.config.Config(signature_version=botocore.UNSIGNED,
                                      retries={"max_attempts": 1}))


def provider_for(server, idp, tenant, thumbprint=None, client_ids=(CLIENT_ID,)):
    iam = server.client("iam")
    return iam.create_open_id_connect_provider(
        Url=idp.url(tenant), ClientIDList=list(client_ids),
        ThumbprintList=[thumbprint or idp.ca_thumbprint])["OpenIDConnectProviderArn"]


def role_trusting(server, provider_arn, host_path, conditions=None, policy=None):
    iam = server.client("iam")
    name = uniq("ci-role")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": conditions if conditions is not None else {
            "StringEquals": {f"{host_path}:aud": CLIENT_ID, f"{host_path}:sub": SUBJECT}}}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=json.dumps(policy or {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}))
    return name, arn


@pytest.fixture(scope="module")
def setup(server, idp):
    tenant = uniq("tenant")
    provider = provider_for(server, idp, tenant)
    host_path = idp.url(tenant)[len("https://"):]
    name, arn = role_trusting(server, provider, host_path)
    return {"tenant": tenant, "provider": provider, "host_path": host_path, "role": name,
            "role_arn": arn}


def assume(server, role_arn, token, **kw):
    return unsigned_sts(server).assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName=kw.pop("session", "ci-run-1"), WebIdentityToken=token,
        **kw)


def session_kwargs(creds):
    return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}


def error_of(server, role_arn, token, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        assume(server, role_arn, token, **kw)
    err = e.value.response["Error"]
    return err["Code"], err.get("Message", "")


def test_boto3_rsa_token_gives_a_working_role_session(server, idp, setup):
    out = assume(server, setup["role_arn"], idp.token(setup["tenant"]))
    acct = account_of(server)
    session_arn = f"arn:aws:sts::{acct}:assumed-role/{setup['role']}/ci-run-1"
    assert out["AssumedRoleUser"]["Arn"] == session_arn
    assert out["SubjectFromWebIdentityToken"] == SUBJECT
    assert out["Audience"] == CLIENT_ID
    assert out["Provider"] == setup["provider"]
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    kw = session_kwargs(creds)
    who = server.client("sts", **kw).get_caller_identity()
    assert who["Arn"] == session_arn and who["Account"] == acct
    # The role's policy decides what the session may do.
    iam = server.client("iam", **kw)
    iam.list_roles()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.create_user(UserName=uniq("nope"))
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_ec_token_and_session_policy(server, idp, setup):
    deny_all_but_caller = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]})
    out = assume(server, setup["role_arn"], idp.token(setup["tenant"], alg="ES256"),
                 session="ec-run", Policy=deny_all_but_caller, DurationSeconds=900)
    assert out["PackedPolicySize"] >= 1
    creds = out["Credentials"]
    iam = server.client("iam", **session_kwargs(creds))
    # The session policy removes iam:ListRoles that the role itself allows.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.list_roles()
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_aws_cli_unsigned_and_credential_use(server, idp, setup):
    no_creds = {"AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    r = server.aws("sts", "assume-role-with-web-identity", "--role-arn", setup["role_arn"],
                   "--role-session-name", "cli-run", "--web-identity-token",
                   idp.token(setup["tenant"]), env_extra=no_creds)
    creds = json.loads(r.stdout)["Credentials"]
    r = server.aws("sts", "get-caller-identity", env_extra={
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"], "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    assert json.loads(r.stdout)["Arn"].endswith(f":assumed-role/{setup['role']}/cli-run")


def test_boto3_web_identity_credential_provider(server, idp, setup, tmp_path, monkeypatch):
    """What CI runners and Kubernetes pods do: AWS_ROLE_ARN plus a token file,
    read by botocore's own web identity credential provider (pointed at
    Rampart's endpoint, which this botocore takes only as an argument)."""
    token_file = tmp_path / "token"
    token_file.write_text(idp.token(setup["tenant"]))
    monkeypatch.setenv("AWS_ROLE_ARN", setup["role_arn"])
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "pod-1")
    core = botocore.session.Session()
    creator = functools.partial(core.create_client, endpoint_url=server.endpoint,
                                region_name=REGION)
    provider = botocore.credentials.AssumeRoleWithWebIdentityProvider(
        load_config=lambda: {}, client_creator=creator, profile_name="default")
    creds = provider.load().get_frozen_credentials()
    assert creds.access_key.startswith("ASIA")
    sts = server.client("sts", access_key=creds.access_key, secret_key=creds.secret_key,
                        aws_session_token=creds.token)
    assert sts.get_caller_identity()["Arn"].endswith(f":assumed-role/{setup['role']}/pod-1")


def test_wrong_audience(server, idp, setup):
    code, msg = error_of(server, setup["role_arn"], idp.token(setup["tenant"], aud="someone-else"))
    assert code == "InvalidIdentityToken" and "audience" in msg
    # An audience list passes when one of its entries is a client ID.
    assume(server, setup["role_arn"], idp.token(setup["tenant"], aud=["other", CLIENT_ID]))


def test_wrong_subject_is_refused_by_the_trust_policy(server, idp, setup):
    code, msg = error_of(server, setup["role_arn"],
                         idp.token(setup["tenant"], sub="repo:evil/fork:ref:refs/heads/main"))
    assert code == "AccessDenied"
    assert msg == "Not authorized to perform sts:AssumeRoleWithWebIdentity"


def test_expired_token(server, idp, setup):
    now = int(time.time())
    code, msg = error_of(server, setup["role_arn"],
                         idp.token(setup["tenant"], iat=now - 7200, nbf=now - 7200, exp=now - 3600))
    assert code == "ExpiredTokenException" and "Token expired" in msg


def test_token_not_yet_valid(server, idp, setup):
    code, _ = error_of(server, setup["role_arn"],
                       idp.token(setup["tenant"], nbf=int(time.time()) + 3600))
    assert code == "InvalidIdentityToken"


def test_bad_signature(server, idp, setup):
    token = idp.token(setup["tenant"])
    head, payload, sig = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["sub"] = "repo:acme/app:ref:refs/heads/main"
    forged["aud"] = CLIENT_ID
    forged["extra"] = "tampered"
    tampered = head + "." + b64url(json.dumps(forged).encode()) + "." + sig
    code, msg = error_of(server, setup["role_arn"], tampered)
    assert code == "InvalidIdentityToken" and "signature" in msg
    # Signed with a key the issuer never published, under a published kid.
    code, _ = error_of(server, setup["role_arn"], idp.token(setup["tenant"], key=idp.stray))
    assert code == "InvalidIdentityToken"


def test_unknown_kid_refetches_once_then_refuses(server, idp, setup):
    before = idp.jwks_fetches
    code, msg = error_of(server, setup["role_arn"],
                         idp.token(setup["tenant"], kid="rotated-away", key=idp.stray))
    assert code == "InvalidIdentityToken" and "kid" in msg
    # A second unknown kid soon after does not make Rampart fetch again.
    error_of(server, setup["role_arn"], idp.token(setup["tenant"], kid="also-unknown", key=idp.stray))
    assert idp.jwks_fetches - before <= 1


def test_alg_none_and_hmac_and_garbage(server, idp, setup):
    none_token = idp.token(setup["tenant"], alg="none")
    code, _ = error_of(server, setup["role_arn"], none_token)
    assert code == "InvalidIdentityToken"
    hs = idp.token(setup["tenant"], alg="HS256")
    code, _ = error_of(server, setup["role_arn"], hs)
    assert code == "InvalidIdentityToken"
    for garbage in ["not-a-jwt", "a.b.c", "x" * 4000, "....", "eyJhbGciOiJSUzI1NiJ9..sig"]:
        code, _ = error_of(server, setup["role_arn"], garbage)
        assert code == "InvalidIdentityToken"


def test_thumbprint_that_does_not_match(server, idp):
    tenant = uniq("pinned-wrong")
    provider = provider_for(server, idp, tenant, thumbprint="0" * 40)
    _, arn = role_trusting(server, provider, idp.url(tenant)[len("https://"):], conditions={})
    code, msg = error_of(server, arn, idp.token(tenant))
    assert code == "InvalidIdentityToken" and "thumbprint" in msg


def test_issuer_not_registered(server, idp, setup):
    tenant = uniq("unregistered")
    code, msg = error_of(server, setup["role_arn"], idp.token(tenant))
    assert code == "InvalidIdentityToken"
    assert msg == f"No OpenIDConnect provider found in your account for {idp.url(tenant)}"


def test_unreachable_issuer(server, idp):
    tenant = uniq("gone")
    iam = server.client("iam")
    url = f"https://127.0.0.1:1/{tenant}"
    provider = iam.create_open_id_connect_provider(
        Url=url, ClientIDList=[CLIENT_ID], ThumbprintList=[idp.ca_thumbprint])["OpenIDConnectProviderArn"]
    _, arn = role_trusting(server, provider, url[len("https://"):], conditions={})
    # A token claiming that issuer (its signature can't be checked anyway).
    token = idp.token(tenant, iss=url)
    code, _ = error_of(server, arn, token)
    assert code == "IDPCommunicationError"


def test_missing_role_and_role_without_federated_trust(server, idp, setup):
    acct = account_of(server)
    code, msg = error_of(server, f"arn:aws:iam::{acct}:role/{uniq('absent')}", idp.token(setup["tenant"]))
    assert code == "AccessDenied" and "sts:AssumeRoleWithWebIdentity" in msg
    iam = server.client("iam")
    name = uniq("plain")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    code, _ = error_of(server, arn, idp.token(setup["tenant"]))
    assert code == "AccessDenied"
    # Naming the account (its root, or the bare id) with any sts action that
    # covers this one still lets no web identity in: an account principal
    # stands for the account's own identities only.
    for principal, action in ((f"arn:aws:iam::{acct}:root", "sts:*"),
                              (acct, "sts:AssumeRole*"), (f"arn:aws:iam::{acct}:root", "*")):
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "AWS": principal}, "Action": action}]}
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
        code, _ = error_of(server, arn, idp.token(setup["tenant"]))
        assert code == "AccessDenied", (principal, action)


def test_duration_limits(server, idp, setup):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        assume(server, setup["role_arn"], idp.token(setup["tenant"]), DurationSeconds=7200)
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "MaxSessionDuration" in e.value.response["Error"]["Message"]


def test_malformed_session_policy(server, idp, setup):
    code, _ = error_of(server, setup["role_arn"], idp.token(setup["tenant"]), Policy="{not json")
    assert code == "MalformedPolicyDocument"


def test_unsigned_calls_to_other_operations_are_still_refused(server):
    for action in ("GetCallerIdentity", "AssumeRole"):
        body = f"Action={action}&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/x" \
               f"&RoleSessionName=s"
        status, _, data = send(server.endpoint + "/", {
            "Content-Type": "application/x-www-form-urlencoded"}, body)
        assert status == 403, data
        assert b"MissingAuthenticationToken" in data
    # The web identity action under another service's version is not STS's.
    status, _, data = send(server.endpoint + "/", {
        "Content-Type": "application/x-www-form-urlencoded"},
        "Action=AssumeRoleWithWebIdentity&Version=2010-05-08")
    assert status == 403 and b"MissingAuthenticationToken" in data


def test_cloudtrail_records_the_web_identity_caller(server, idp, setup):
    session = uniq("audited")
    out = assume(server, setup["role_arn"], idp.token(setup["tenant"]), session=session)
    ct = server.client("cloudtrail")
    attrs = [{"AttributeKey": "EventName", "AttributeValue": "AssumeRoleWithWebIdentity"}]
    record = None
    deadline = time.time() + 5
    while record is None and time.time() < deadline:
        for e in ct.lookup_events(LookupAttributes=attrs, MaxResults=50)["Events"]:
            r = json.loads(e["CloudTrailEvent"])
            if (r.get("responseElements") or {}).get("assumedRoleUser", {}).get("arn") == \
                    out["AssumedRoleUser"]["Arn"]:
                record = r
        time.sleep(0.1)
    assert record is not None
    who = record["userIdentity"]
    assert who["type"] == "WebIdentityUser"
    assert who["userName"] == SUBJECT
    assert who["identityProvider"] == setup["provider"]
    assert who["principalId"] == f"{setup['provider']}:{CLIENT_ID}:{SUBJECT}"
    assert record["recipientAccountId"] == account_of(server)
    # The token is a credential: it never reaches the record.
    assert idp.token(setup["tenant"])[:40] not in json.dumps(record)


def test_amr_oaud_and_federated_provider_condition_keys(server, idp, setup):
    hp = setup["host_path"]
    _, arn = role_trusting(server, setup["provider"], hp, conditions={
        "ForAnyValue:StringEquals": {f"{hp}:amr": "mfa"},
        "StringEquals": {f"{hp}:oaud": "other-aud", "aws:FederatedProvider": setup["provider"]},
        "StringLike": {f"{hp}:sub": "repo:acme/*"}})
    tenant = setup["tenant"]
    out = assume(server, arn, idp.token(tenant, amr=["pwd", "mfa"], aud=["other-aud", CLIENT_ID]))
    assert out["Audience"] == CLIENT_ID
    for claims in ({"amr": ["pwd"], "aud": ["other-aud", CLIENT_ID]},
                   {"amr": ["mfa"], "aud": CLIENT_ID},
                   {"amr": ["mfa"], "aud": ["other-aud", CLIENT_ID], "sub": "repo:evil/x"}):
        code, _ = error_of(server, arn, idp.token(tenant, **claims))
        assert code == "AccessDenied", claims


def test_source_identity_claim_needs_set_source_identity(server, idp, setup):
    hp = setup["host_path"]
    claim = {"https://aws.amazon.com/source_identity": "alice@example.com"}
    # The module's role trusts only sts:AssumeRoleWithWebIdentity.
    code, _ = error_of(server, setup["role_arn"], idp.token(setup["tenant"], **claim))
    assert code == "AccessDenied"
    iam = server.client("iam")
    name = uniq("si-role")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": setup["provider"]},
        "Action": ["sts:AssumeRoleWithWebIdentity", "sts:SetSourceIdentity"],
        "Condition": {"StringEquals": {f"{hp}:aud": CLIENT_ID,
                                       "sts:SourceIdentity": "alice@example.com"}}}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    out = assume(server, arn, idp.token(setup["tenant"], **claim))
    assert out["SourceIdentity"] == "alice@example.com"
    code, _ = error_of(server, arn, idp.token(setup["tenant"], **{
        "https://aws.amazon.com/source_identity": "x"}))  # too short for the model's pattern
    assert code == "InvalidIdentityToken"
