"""KMS custom key stores over a Rampart HSM cluster of SoftHSM2 tokens,
driven with the aws CLI and boto3: the store's life cycle and connection
states, keys generated inside the cluster (non-extractable on both
members, never in Rampart's database), Encrypt/Decrypt/ReEncrypt/
GenerateDataKey/GenerateRandom in the HSM, a disconnected store, a wrong
kmsuser password, a cluster short of members, and a restart."""
import json
import os
import shutil
import sqlite3
import subprocess

import pytest
from botocore.exceptions import ClientError

import org_helpers
from conftest import RAMPART_BIN, Rampart

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
KMSUSER_PIN = "kmsuser-pass-1"
SO_PIN = "so-pass-1"
CLUSTER = "cluster-0a1b2c3d4e5"   # tokens a1 + a2, min_members 2
RELATED = "cluster-0a1b2c3d4e6"   # shares a1 with CLUSTER
SHORT = "cluster-0f0f0f0f0f0"     # b1 + a token that does not exist
LATE = "cluster-0c0c0c0c0c0"      # c1 + c2 + a token made only during the test, min_members 2
OWNED = "cluster-0d0d0d0d0d0"     # d1 + d2, for the two-account test


def error_code(call, *args, **kw):
    with pytest.raises(ClientError) as e:
        call(*args, **kw)
    return e.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if not os.path.exists(SOFTHSM) or shutil.which("softhsm2-util") is None:
        pytest.skip("softhsm2 is needed (scripts/install-deps.sh)")
    d = tmp_path_factory.mktemp("cks")
    (d / "tokens").mkdir()
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {d}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
    hsm_env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    for label in ("a1", "a2", "b1", "c1", "c2", "d1", "d2"):
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", KMSUSER_PIN,
                        "--so-pin", SO_PIN], env=hsm_env, check=True, capture_output=True)
    pin = d / "kmsuser.pin"
    pin.write_text(KMSUSER_PIN)
    pin.chmod(0o600)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=rampart-hsm-ca",
                    "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", "2"],
                   check=True, capture_output=True)

    def backend(name, label):
        return {"name": name, "module": SOFTHSM, "token_label": label, "pin_file": str(pin)}
    config = {"hsm": {
        "backends": [backend("a1", "a1"), backend("a2", "a2"), backend("b1", "b1"), backend("gone", "absent"),
                     backend("c1", "c1"), backend("c2", "c2"), backend("c3", "late")],
        "clusters": [{"id": CLUSTER, "members": ["a1", "a2"], "min_members": 2},
                     {"id": RELATED, "members": ["a1"], "min_members": 1},
                     {"id": SHORT, "members": ["b1", "gone"]},
                     {"id": LATE, "members": ["c1", "c2", "c3"], "min_members": 2}]}}
    saved = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    server = Rampart(str(d / "data"), config=config).start()
    yield {"server": server, "hsm_env": hsm_env, "anchor": (d / "ca.pem").read_text(), "dir": d,
           "config": config, "pin": pin}
    server.stop()
    if saved is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = saved


@pytest.fixture(scope="module")
def kms(env):
    return env["server"].client("kms")


@pytest.fixture(scope="module")
def store(env, kms):
    """A connected store on CLUSTER, created with the aws CLI."""
    out = env["server"].aws("kms", "create-custom-key-store", "--custom-key-store-name", "hsm-store",
                            "--cloud-hsm-cluster-id", CLUSTER, "--key-store-password", KMSUSER_PIN,
                            "--trust-anchor-certificate", env["anchor"])
    store_id = json.loads(out.stdout)["CustomKeyStoreId"]
    assert store_id.startswith("cks-") and len(store_id) == 21
    described = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
    assert described["ConnectionState"] == "DISCONNECTED"
    assert described["CloudHsmClusterId"] == CLUSTER
    assert described["TrustAnchorCertificate"] == env["anchor"]
    assert described["CustomKeyStoreType"] == "AWS_CLOUDHSM"
    env["server"].aws("kms", "connect-custom-key-store", "--custom-key-store-id", store_id)
    state = kms.describe_custom_key_stores(CustomKeyStoreName="hsm-store")["CustomKeyStores"][0]
    assert state["ConnectionState"] == "CONNECTED", state
    return store_id


@pytest.fixture(scope="module")
def hsm_key(kms, store):
    meta = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store, Description="in the HSM")["KeyMetadata"]
    assert meta["Origin"] == "AWS_CLOUDHSM" and meta["CustomKeyStoreId"] == store
    assert meta["CloudHsmClusterId"] == CLUSTER and meta["KeyState"] == "Enabled"
    return meta["KeyId"]


def test_create_refuses_what_aws_refuses(env, kms, store):
    anchor = env["anchor"]
    assert error_code(kms.create_custom_key_store, CustomKeyStoreName="hsm-store", CloudHsmClusterId=SHORT,
                      KeyStorePassword=KMSUSER_PIN, TrustAnchorCertificate=anchor) == "CustomKeyStoreNameInUseException"
    assert error_code(kms.create_custom_key_store, CustomKeyStoreName="other", CloudHsmClusterId=CLUSTER,
                      KeyStorePassword=KMSUSER_PIN, TrustAnchorCertificate=anchor) == "CloudHsmClusterInUseException"
    assert error_code(kms.create_custom_key_store, CustomKeyStoreName="other", CloudHsmClusterId="cluster-999999999999",
                      KeyStorePassword=KMSUSER_PIN, TrustAnchorCertificate=anchor) == "CloudHsmClusterNotFoundException"
    assert error_code(kms.create_custom_key_store, CustomKeyStoreName="other", CloudHsmClusterId=SHORT,
                      KeyStorePassword=KMSUSER_PIN, TrustAnchorCertificate="not a certificate") == "IncorrectTrustAnchorException"
    assert error_code(kms.describe_custom_key_stores, CustomKeyStoreId="cks-00000000000000000") == \
        "CustomKeyStoreNotFoundException"
    # The password is write-only: no response and no database column holds it in the clear.
    listing = kms.describe_custom_key_stores()["CustomKeyStores"]
    assert KMSUSER_PIN not in json.dumps(listing, default=str)
    db = sqlite3.connect(os.path.join(env["server"].data_dir, "rampart.db"))
    sealed = db.execute("SELECT sealed_password FROM kms_custom_key_stores").fetchall()
    assert sealed and all(KMSUSER_PIN.encode() not in bytes(s[0]) for s in sealed)


def test_encrypt_decrypt_and_data_keys_run_in_the_hsm(env, kms, hsm_key):
    ct = kms.encrypt(KeyId=hsm_key, Plaintext=b"kept by the HSM", EncryptionContext={"app": "it"})["CiphertextBlob"]
    assert ct[:2] == b"RK"
    out = kms.decrypt(CiphertextBlob=ct, EncryptionContext={"app": "it"})
    assert out["Plaintext"] == b"kept by the HSM" and out["KeyId"].endswith(hsm_key)
    assert error_code(kms.decrypt, CiphertextBlob=ct, EncryptionContext={"app": "other"}) == "InvalidCiphertextException"
    tampered = bytearray(ct)
    tampered[-1] ^= 1
    assert error_code(kms.decrypt, CiphertextBlob=bytes(tampered), EncryptionContext={"app": "it"}) == \
        "InvalidCiphertextException"
    dk = kms.generate_data_key(KeyId=hsm_key, KeySpec="AES_256")
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    # ReEncrypt between a software key and the HSM key, both ways.
    soft = kms.create_key()["KeyMetadata"]["KeyId"]
    soft_ct = kms.encrypt(KeyId=soft, Plaintext=b"moving")["CiphertextBlob"]
    to_hsm = kms.re_encrypt(CiphertextBlob=soft_ct, DestinationKeyId=hsm_key)["CiphertextBlob"]
    back = kms.re_encrypt(CiphertextBlob=to_hsm, DestinationKeyId=soft)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=back)["Plaintext"] == b"moving"
    # The aws CLI round trip.
    out = env["server"].aws("kms", "encrypt", "--key-id", hsm_key, "--plaintext", "aGVsbG8=")
    blob = json.loads(out.stdout)["CiphertextBlob"]
    out = env["server"].aws("kms", "decrypt", "--ciphertext-blob", blob)
    assert json.loads(out.stdout)["Plaintext"] == "aGVsbG8="


def test_random_from_the_store(kms, store):
    a = kms.generate_random(NumberOfBytes=64, CustomKeyStoreId=store)["Plaintext"]
    b = kms.generate_random(NumberOfBytes=64, CustomKeyStoreId=store)["Plaintext"]
    assert len(a) == 64 and a != b
    assert error_code(kms.generate_random, NumberOfBytes=8, CustomKeyStoreId="cks-00000000000000000") == \
        "CustomKeyStoreNotFoundException"


def test_key_lives_on_both_members_and_never_in_the_database(env, hsm_key):
    for label in ("a1", "a2"):
        out = subprocess.run(["pkcs11-tool", "--module", SOFTHSM, "--token-label", label, "--login",
                              "--pin", KMSUSER_PIN, "--list-objects", "--type", "secrkey"],
                             env=env["hsm_env"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        block = out.stdout.split(f"label:      {hsm_key}")
        assert len(block) == 2, out.stdout  # one AES key labelled with the KMS key id
        # Sensitive and, once replicated everywhere, not extractable on any
        # member (copies made by unwrapping are not "local" or "never extractable").
        access = [a.strip() for a in block[1].split("Access:")[1].splitlines()[0].split(",")]
        assert "sensitive" in access and "extractable" not in access, access
    db = sqlite3.connect(os.path.join(env["server"].data_dir, "rampart.db"))
    assert db.execute("SELECT COUNT(*) FROM kms_key_material WHERE key_id = ?", (hsm_key,)).fetchone()[0] == 0


def test_disconnected_store_makes_keys_unavailable(env, kms, store, hsm_key):
    ct = kms.encrypt(KeyId=hsm_key, Plaintext=b"before")["CiphertextBlob"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store)
    assert kms.describe_custom_key_stores(CustomKeyStoreId=store)["CustomKeyStores"][0]["ConnectionState"] == \
        "DISCONNECTED"
    assert kms.describe_key(KeyId=hsm_key)["KeyMetadata"]["KeyState"] == "Unavailable"
    assert error_code(kms.encrypt, KeyId=hsm_key, Plaintext=b"x") == "KMSInvalidStateException"
    assert error_code(kms.decrypt, CiphertextBlob=ct) == "KMSInvalidStateException"
    assert error_code(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=store) == \
        "CustomKeyStoreInvalidStateException"
    assert error_code(kms.generate_random, NumberOfBytes=8, CustomKeyStoreId=store) == \
        "CustomKeyStoreInvalidStateException"
    assert error_code(kms.disconnect_custom_key_store, CustomKeyStoreId=store) == \
        "CustomKeyStoreInvalidStateException"
    assert error_code(kms.delete_custom_key_store, CustomKeyStoreId=store) == "CustomKeyStoreHasCMKsException"

    # A wrong kmsuser password: the store fails with INVALID_CREDENTIALS.
    kms.update_custom_key_store(CustomKeyStoreId=store, KeyStorePassword="wrong-password")
    kms.connect_custom_key_store(CustomKeyStoreId=store)
    failed = kms.describe_custom_key_stores(CustomKeyStoreId=store)["CustomKeyStores"][0]
    assert failed["ConnectionState"] == "FAILED" and failed["ConnectionErrorCode"] == "INVALID_CREDENTIALS"
    assert error_code(kms.connect_custom_key_store, CustomKeyStoreId=store) == "CustomKeyStoreInvalidStateException"
    assert error_code(kms.update_custom_key_store, CustomKeyStoreId=store, KeyStorePassword=KMSUSER_PIN) == \
        "CustomKeyStoreInvalidStateException"
    kms.disconnect_custom_key_store(CustomKeyStoreId=store)
    kms.update_custom_key_store(CustomKeyStoreId=store, KeyStorePassword=KMSUSER_PIN)
    kms.connect_custom_key_store(CustomKeyStoreId=store)
    assert kms.describe_key(KeyId=hsm_key)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"before"


def test_update_names_and_related_clusters(kms, store):
    kms.update_custom_key_store(CustomKeyStoreId=store, NewCustomKeyStoreName="hsm-store-renamed")
    assert kms.describe_custom_key_stores(CustomKeyStoreName="hsm-store-renamed")["CustomKeyStores"][0][
        "CustomKeyStoreId"] == store
    kms.update_custom_key_store(CustomKeyStoreId=store, NewCustomKeyStoreName="hsm-store")
    # Changing the cluster needs a disconnected store, and a related cluster.
    assert error_code(kms.update_custom_key_store, CustomKeyStoreId=store, CloudHsmClusterId=RELATED) == \
        "CustomKeyStoreInvalidStateException"


def test_cluster_short_of_members_cannot_connect(env, kms):
    store = kms.create_custom_key_store(CustomKeyStoreName="short", CloudHsmClusterId=SHORT,
                                        KeyStorePassword=KMSUSER_PIN,
                                        TrustAnchorCertificate=env["anchor"])["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=store)
    failed = kms.describe_custom_key_stores(CustomKeyStoreId=store)["CustomKeyStores"][0]
    assert failed["ConnectionState"] == "FAILED"
    assert failed["ConnectionErrorCode"] == "INSUFFICIENT_CLOUDHSM_HSMS"
    assert error_code(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=store) == \
        "CustomKeyStoreInvalidStateException"
    assert error_code(kms.delete_custom_key_store, CustomKeyStoreId=store) == "CustomKeyStoreInvalidStateException"
    kms.disconnect_custom_key_store(CustomKeyStoreId=store)
    kms.delete_custom_key_store(CustomKeyStoreId=store)
    assert error_code(kms.describe_custom_key_stores, CustomKeyStoreId=store) == "CustomKeyStoreNotFoundException"


def test_hsm_keys_are_symmetric_only(kms, store):
    assert error_code(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=store, KeySpec="RSA_2048",
                      KeyUsage="SIGN_VERIFY") == "UnsupportedOperationException"
    assert error_code(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=store, MultiRegion=True) == \
        "UnsupportedOperationException"
    assert error_code(kms.create_key, Origin="AWS_CLOUDHSM") == "ValidationException"


def test_connected_store_survives_a_restart(env, kms, store, hsm_key):
    ct = kms.encrypt(KeyId=hsm_key, Plaintext=b"across restarts")["CiphertextBlob"]
    env["server"].stop()
    env["server"].start()
    again = env["server"].client("kms")
    assert again.describe_custom_key_stores(CustomKeyStoreId=store)["CustomKeyStores"][0]["ConnectionState"] == \
        "CONNECTED"
    assert again.decrypt(CiphertextBlob=ct)["Plaintext"] == b"across restarts"


def key_access(env, label, kms_key_id):
    """The Access flags pkcs11-tool shows for the AES key labelled with a
    KMS key id in token label, or None when the token lacks it."""
    out = subprocess.run(["pkcs11-tool", "--module", SOFTHSM, "--token-label", label, "--login",
                          "--pin", KMSUSER_PIN, "--list-objects", "--type", "secrkey"],
                         env=env["hsm_env"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    block = out.stdout.split(f"label:      {kms_key_id}")
    if len(block) < 2:
        return None
    return [a.strip() for a in block[1].split("Access:")[1].splitlines()[0].split(",")]


def test_member_that_returns_is_resynced_and_keys_locked(env, kms):
    """A store on a three-member cluster connects with one member missing;
    its key reaches the two others and stays extractable on its first copy
    so that the third can receive it. `rampart hsm resync` copies it onto
    the third once it exists and locks every copy."""
    store = kms.create_custom_key_store(CustomKeyStoreName="late", CloudHsmClusterId=LATE,
                                        KeyStorePassword=KMSUSER_PIN,
                                        TrustAnchorCertificate=env["anchor"])["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=store)
    assert kms.describe_custom_key_stores(CustomKeyStoreId=store)["CustomKeyStores"][0]["ConnectionState"] == \
        "CONNECTED"
    key = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store)["KeyMetadata"]["KeyId"]
    ct = kms.encrypt(KeyId=key, Plaintext=b"made with a member away")["CiphertextBlob"]
    first, second = key_access(env, "c1", key), key_access(env, "c2", key)
    assert first is not None and second is not None
    assert "extractable" in first, first           # waiting for the third member
    assert "extractable" not in second, second     # replicas are made locked

    # The third member's token appears; an operator runs the resync.
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "late", "--pin", KMSUSER_PIN,
                    "--so-pin", SO_PIN], env=env["hsm_env"], check=True, capture_output=True)
    cfg = env["dir"] / "resync.json"
    cfg.write_text(json.dumps({"hsm": env["config"]["hsm"]}))
    bin_path = RAMPART_BIN
    out = subprocess.run([bin_path, "hsm", "resync", "--config", str(cfg), "--cluster", LATE],
                         env=env["hsm_env"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "copied: 1" in out.stdout and "locked: 1" in out.stdout, out.stdout
    assert KMSUSER_PIN not in out.stdout + out.stderr
    for label in ("c1", "c2", "late"):
        access = key_access(env, label, key)
        assert access is not None, label
        assert "sensitive" in access and "extractable" not in access, (label, access)
    # A second run has nothing left to do.
    again = subprocess.run([bin_path, "hsm", "resync", "--config", str(cfg), "--cluster", LATE],
                           env=env["hsm_env"], capture_output=True, text=True)
    assert again.returncode == 0 and "copied: 0" in again.stdout and "locked: 0" in again.stdout, again.stdout
    assert kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"made with a member away"
    assert subprocess.run([bin_path, "hsm", "resync", "--config", str(cfg), "--cluster", "cluster-999999999999"],
                          env=env["hsm_env"], capture_output=True, text=True).returncode != 0


def test_clusters_belong_to_the_accounts_the_config_names(env, tmp_path):
    def backend(label):
        return {"name": label, "module": SOFTHSM, "token_label": label, "pin_file": str(env["pin"])}
    config = {"hsm": {"backends": [backend("d1"), backend("d2")],
                      "clusters": [{"id": OWNED, "members": ["d1", "d2"]}]}}
    server, member, role = org_helpers.start_two_accounts(str(tmp_path / "two"), config=config)
    try:
        theirs = org_helpers.client(server, "kms", role)
        mine = server.client("kms")
        args = dict(CloudHsmClusterId=OWNED, KeyStorePassword=KMSUSER_PIN, TrustAnchorCertificate=env["anchor"])
        # No accounts list: the cluster is the management account's only;
        # to the member account it does not exist.
        with pytest.raises(ClientError) as e:
            theirs.create_custom_key_store(CustomKeyStoreName="theirs", **args)
        assert e.value.response["Error"]["Code"] == "CloudHsmClusterNotFoundException"
        assert OWNED in e.value.response["Error"]["Message"]
        store = mine.create_custom_key_store(CustomKeyStoreName="mine", **args)["CustomKeyStoreId"]
        mine.delete_custom_key_store(CustomKeyStoreId=store)

        # The config hands the cluster to the member account.
        server.stop()
        config["hsm"]["clusters"][0]["accounts"] = [member]
        server.config = config
        server.start()
        theirs = org_helpers.client(server, "kms", role)
        mine = server.client("kms")
        assert error_code(mine.create_custom_key_store, CustomKeyStoreName="mine", **args) == \
            "CloudHsmClusterNotFoundException"
        store = theirs.create_custom_key_store(CustomKeyStoreName="theirs", **args)["CustomKeyStoreId"]
        theirs.connect_custom_key_store(CustomKeyStoreId=store)
        assert theirs.describe_custom_key_stores(CustomKeyStoreId=store)["CustomKeyStores"][0][
            "ConnectionState"] == "CONNECTED"
        key = theirs.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store)["KeyMetadata"]["KeyId"]
        ct = theirs.encrypt(KeyId=key, Plaintext=b"member's HSM key")["CiphertextBlob"]
        assert theirs.decrypt(CiphertextBlob=ct)["Plaintext"] == b"member's HSM key"
        # The management account cannot see the member's store either.
        assert error_code(mine.describe_custom_key_stores, CustomKeyStoreId=store) == \
            "CustomKeyStoreNotFoundException"
    finally:
        server.stop()
