"""KMS request throttling (docs/kms-throttling.md): a server whose config
file turns throttling on with small quotas answers ThrottlingException to
boto3 and the aws CLI (both making a single attempt, since botocore retries
a throttled call), records the throttled call in the audit trail, and
refills its quotas within a second. Throttling is off by default, and a
config with an unknown quota name does not start. Another account naming
an account's HSM-backed key or custom key store never spends that store's
quota, unless the key policy lets it use the key: then it shares the
store's quota and is throttled by it.

Calls take time on a busy machine, so the assertions allow for the tokens
that come back while a test runs: with a quota of r per second, calls that
took t seconds pass at most r + r*t + 1 times."""
import json
import os
import shutil
import subprocess
import time

import boto3
import botocore.config
import botocore.exceptions
import pytest

import org_helpers
from conftest import RAMPART_BIN, REGION, Rampart

MESSAGE = ("You have exceeded the rate at which you may call KMS. "
           "Reduce the frequency of your calls.")


@pytest.fixture(scope="module")
def throttled(workdir):
    s = Rampart(os.path.join(workdir, "kms-throttle"), config={
        "kms": {"throttling": {"enabled": True, "quotas": {
            "CryptographicOperationsSymmetric": 5, "CreateKey": 2,
            "CryptographicOperationsECC": 2,
            # One call every 20 s: slow enough for the aws CLI to start.
            "ListAliases": 0.05}}}}).start()
    yield s
    s.stop()


def client(server, service="kms"):
    """A client that makes exactly one attempt per call (the fixture's
    clients retry once, which would hide a throttled attempt)."""
    ak, sk = server.credentials()
    return boto3.session.Session().client(
        service, endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=ak, aws_secret_access_key=sk,
        config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def refill():
    """Waits until the module server's buckets of 1/s and more are full."""
    time.sleep(1.1)


def until_throttled(call, attempts=20, **kwargs):
    """Calls call up to attempts times, until it is throttled: how many
    calls passed, the throttled response (or None) and the seconds taken."""
    started = time.monotonic()
    passed = 0
    for _ in range(attempts):
        try:
            call(**kwargs)
            passed += 1
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "ThrottlingException", e.response
            return passed, e.response, time.monotonic() - started
    return passed, None, time.monotonic() - started


def test_create_key_is_throttled_at_its_quota_and_refills(throttled):
    kms = client(throttled)
    refill()
    passed, response, elapsed = until_throttled(kms.create_key, Description="burst")
    assert response is not None
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["Error"]["Message"] == MESSAGE
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert 2 <= passed <= 2 + int(elapsed * 2) + 1, (passed, elapsed)
    # The throttled call created nothing.
    made = [k for k in kms.list_keys()["Keys"]
            if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["Description"] == "burst"]
    assert len(made) == passed
    refill()
    kms.create_key(Description="after the pause")


def test_cryptographic_operations_share_the_symmetric_quota(throttled):
    kms = client(throttled)
    refill()
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    refill()
    started = time.monotonic()
    # Five different operations take the five tokens of the shared quota.
    blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key)
    kms.generate_random(NumberOfBytes=8)
    passed, response, _ = until_throttled(kms.decrypt, CiphertextBlob=blob)
    elapsed = time.monotonic() - started
    assert response is not None
    assert 5 + passed <= 5 + int(elapsed * 5) + 1, (passed, elapsed)
    # Other quotas are not touched by the cryptographic ones.
    kms.describe_key(KeyId=key)


def test_ecc_signing_has_its_own_quota(throttled):
    kms = client(throttled)
    refill()
    ecc = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    sym = kms.create_key()["KeyMetadata"]["KeyId"]
    refill()
    passed, response, elapsed = until_throttled(kms.sign, KeyId=ecc, Message=b"m",
                                                SigningAlgorithm="ECDSA_SHA_256")
    assert response is not None
    assert 2 <= passed <= 2 + int(elapsed * 2) + 1, (passed, elapsed)
    # The symmetric quota is still whole.
    for _ in range(4):
        kms.encrypt(KeyId=sym, Plaintext=b"x")


def test_aws_cli_sees_throttling_exception(throttled):
    # ListAliases refills one token in 20 s: the token taken here is not
    # back by the time the CLI (AWS_MAX_ATTEMPTS=1) has started.
    client(throttled).list_aliases()
    r = throttled.aws("kms", "list-aliases", check=False)
    assert r.returncode != 0
    assert "ThrottlingException" in r.stderr, r.stderr
    assert "Reduce the frequency of your calls" in r.stderr


def test_throttled_calls_are_in_the_audit_trail(throttled):
    kms = client(throttled)
    refill()
    _, response, _ = until_throttled(kms.create_key, Description="audited")
    assert response is not None
    request_id = response["ResponseMetadata"]["RequestId"]
    ct = throttled.client("cloudtrail")
    attrs = [{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}]
    deadline = time.time() + 5
    while True:
        events = [json.loads(e["CloudTrailEvent"])
                  for e in ct.lookup_events(LookupAttributes=attrs)["Events"]]
        failed = [e for e in events if e.get("requestID") == request_id]
        if failed or time.time() > deadline:
            break
        time.sleep(0.1)
    assert failed, events
    assert failed[0]["errorCode"] == "ThrottlingException"
    assert failed[0]["errorMessage"] == MESSAGE
    assert failed[0]["eventSource"] == "kms.amazonaws.com"
    assert failed[0]["requestParameters"]["description"] == "audited"


def test_throttling_is_off_by_default(server):
    kms = client(server)
    # Eight CreateKey calls in a row, past AWS's 5 per second: all pass.
    for _ in range(8):
        kms.create_key(Description="unthrottled")


def run_with_config(workdir, name, config):
    data_dir = os.path.join(workdir, name)
    path = data_dir + ".json"
    with open(path, "w") as f:
        json.dump(config, f)
    return subprocess.run([RAMPART_BIN, "server", "--data-dir", data_dir, "--listen",
                           "127.0.0.1:1", "--config", path],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("quotas,message", [
    ({"CreateKeys": 2}, "kms.throttling.quotas.CreateKeys: unknown quota"),
    ({"CreateKey": 0}, "kms.throttling.quotas.CreateKey must be a number from 0.01 to 1000000"),
])
def test_a_bad_quota_stops_the_server_at_start(workdir, quotas, message):
    # Even with throttling off, a misspelt quota is not ignored.
    r = run_with_config(workdir, "kms-throttle-bad-" + next(iter(quotas)),
                        {"kms": {"throttling": {"enabled": False, "quotas": quotas}}})
    assert r.returncode != 0
    assert message in r.stderr + r.stdout, r.stderr


SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
KMSUSER_PIN = "kmsuser-pass-7"
CLUSTER = "cluster-0e0e0e0e0e0"


@pytest.fixture(scope="module")
def hsm_two_accounts(tmp_path_factory):
    """A server with a two-token SoftHSM2 cluster for the management
    account, a member account, and throttling with a custom key store
    quota of one call every 20 s. Yields (server, member admin creds)."""
    if not os.path.exists(SOFTHSM) or shutil.which("softhsm2-util") is None:
        pytest.skip("softhsm2 is needed (scripts/install-deps.sh)")
    d = tmp_path_factory.mktemp("throttle-cks")
    (d / "tokens").mkdir()
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {d}/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    hsm_env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    for label in ("t1", "t2"):
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin",
                        KMSUSER_PIN, "--so-pin", "so-pass-7"], env=hsm_env, check=True,
                       capture_output=True)
    pin = d / "kmsuser.pin"
    pin.write_text(KMSUSER_PIN)
    pin.chmod(0o600)
    config = {
        "hsm": {"backends": [{"name": label, "module": SOFTHSM, "token_label": label,
                              "pin_file": str(pin)} for label in ("t1", "t2")],
                "clusters": [{"id": CLUSTER, "members": ["t1", "t2"], "min_members": 2}]},
        "kms": {"throttling": {"enabled": True, "quotas": {"CustomKeyStore": 0.05}}}}
    saved = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    s, _, member_admin = org_helpers.start_two_accounts(str(d / "data"), config=config)
    yield s, member_admin
    s.stop()
    if saved is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = saved


def error_code(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"]["Code"]


def connected_store(kms_a):
    """The management account's store "throttled" on CLUSTER, made and
    connected by the first test that asks."""
    for s in kms_a.describe_custom_key_stores()["CustomKeyStores"]:
        if s["CustomKeyStoreName"] == "throttled":
            return s["CustomKeyStoreId"]
    store = kms_a.create_custom_key_store(
        CustomKeyStoreName="throttled", CloudHsmClusterId=CLUSTER, KeyStorePassword=KMSUSER_PIN,
        TrustAnchorCertificate="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )["CustomKeyStoreId"]
    kms_a.connect_custom_key_store(CustomKeyStoreId=store)
    return store


def test_other_accounts_never_spend_a_custom_key_stores_quota(hsm_two_accounts):
    server, member_admin = hsm_two_accounts
    kms_a = client(server)
    kms_b = org_helpers.client(server, "kms", member_admin)
    store = connected_store(kms_a)
    key = kms_a.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store)["KeyMetadata"]
    # The owner's call takes the store's one token; the next comes in 20 s.
    blob = kms_a.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert error_code(kms_a.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == "ThrottlingException"
    assert error_code(kms_a.generate_random, NumberOfBytes=8,
                      CustomKeyStoreId=store) == "ThrottlingException"
    # The other account finds an empty store quota, but it is not its own:
    # its calls get the key policy's or the lookup's answer.
    assert error_code(kms_b.encrypt, KeyId=key["Arn"], Plaintext=b"x") == "AccessDeniedException"
    assert error_code(kms_b.decrypt, CiphertextBlob=blob) == "AccessDeniedException"
    assert error_code(kms_b.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == "NotFoundException"
    assert error_code(kms_b.generate_random, NumberOfBytes=8,
                      CustomKeyStoreId=store) == "CustomKeyStoreNotFoundException"


def test_accounts_the_key_policy_allows_share_the_stores_quota(hsm_two_accounts):
    server, member_admin = hsm_two_accounts
    kms_a = client(server)
    kms_b = org_helpers.client(server, "kms", member_admin)
    member = org_helpers.client(server, "sts", member_admin).get_caller_identity()["Account"]
    owner = client(server, "sts").get_caller_identity()["Account"]
    store = connected_store(kms_a)
    key = kms_a.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store)["KeyMetadata"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{owner}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{member}:root"},
         "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}
    kms_a.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    # The store holds one token per 20 s, and the member account's own
    # symmetric quota is AWS's default (far from reached): of two calls in
    # a row at least one finds the store's quota spent, and none is denied.
    codes = []
    for _ in range(2):
        try:
            kms_b.encrypt(KeyId=key["Arn"], Plaintext=b"shared")
            codes.append("ok")
        except botocore.exceptions.ClientError as e:
            codes.append(e.response["Error"]["Code"])
    assert "ThrottlingException" in codes, codes
    assert set(codes) <= {"ok", "ThrottlingException"}, codes
    # The owner shares the same store quota, now spent.
    assert error_code(kms_a.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == "ThrottlingException"
