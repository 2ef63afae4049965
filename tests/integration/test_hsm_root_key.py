"""The server's root key moved under a SoftHSM2 token: a data directory
made with a plain root.key keeps working after the config names a token
key (root.key is wiped and replaced by root.key.hsm), secrets sealed
before the move (an IAM access key, KMS key material) still open, and
the server refuses to start without the token."""
import os
import shutil
import subprocess

import pytest

from conftest import Rampart

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "root-user-pin"


@pytest.fixture(scope="module")
def hsm(tmp_path_factory):
    if not os.path.exists(SOFTHSM) or shutil.which("softhsm2-util") is None:
        pytest.skip("softhsm2 is needed (scripts/install-deps.sh)")
    d = tmp_path_factory.mktemp("rootkey")
    (d / "tokens").mkdir()
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {d}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "root-token", "--pin", PIN,
                    "--so-pin", "root-so-pin"], env=env, check=True, capture_output=True)
    pin = d / "pin"
    pin.write_text(PIN)
    pin.chmod(0o600)
    saved = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    yield {"dir": d, "pin": str(pin)}
    if saved is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = saved


def token_config(pin_file, label="rampart-root"):
    return {"hsm": {"backends": [{"name": "root", "module": SOFTHSM, "token_label": "root-token",
                                  "pin_file": pin_file}]},
            "root_key": {"backend": "root", "key_label": label}}


def test_plain_data_dir_moves_under_the_token(hsm):
    data = str(hsm["dir"] / "data")
    plain = Rampart(data).start()
    iam = plain.client("iam")
    iam.create_user(UserName="carol")
    key = iam.create_access_key(UserName="carol")["AccessKey"]
    kms = plain.client("kms")
    kms_key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=kms_key, Plaintext=b"sealed before the move")["CiphertextBlob"]
    plain.stop()
    assert os.path.exists(os.path.join(data, "root.key"))

    moved = Rampart(data, config=token_config(hsm["pin"])).start()
    try:
        assert not os.path.exists(os.path.join(data, "root.key"))
        assert oct(os.stat(os.path.join(data, "root.key.hsm")).st_mode & 0o777) == "0o600"
        # The access key's secret and the KMS material were sealed under the old file's key.
        carol = moved.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
        assert carol.get_caller_identity()["Arn"].endswith(":user/carol")
        assert moved.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"sealed before the move"
    finally:
        moved.stop()

    # Again under the token: nothing changes.
    again = Rampart(data, config=token_config(hsm["pin"])).start()
    try:
        assert again.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"sealed before the move"
    finally:
        again.stop()

    # Without the token in the config, the server refuses rather than make a new key.
    with pytest.raises(RuntimeError) as e:
        Rampart(data).start()
    assert "root.key.hsm" in str(e.value)
    assert not os.path.exists(os.path.join(data, "root.key"))

    # A wrong PIN, or another token key: refused, and the PIN is not logged.
    wrong = hsm["dir"] / "wrong.pin"
    wrong.write_text("not-the-root-pin")
    wrong.chmod(0o600)
    with pytest.raises(RuntimeError) as e:
        Rampart(data, config=token_config(str(wrong))).start()
    assert "CKR_PIN_INCORRECT" in str(e.value) and "not-the-root-pin" not in str(e.value)
    with pytest.raises(RuntimeError) as e:
        Rampart(data, config=token_config(hsm["pin"], label="another-key")).start()
    assert "another-key" in str(e.value)


def test_fresh_data_dir_starts_under_the_token(hsm):
    data = str(hsm["dir"] / "fresh")
    server = Rampart(data, config=token_config(hsm["pin"], label="fresh-root")).start()
    try:
        assert os.path.exists(os.path.join(data, "root.key.hsm"))
        assert not os.path.exists(os.path.join(data, "root.key"))
        assert server.client("sts").get_caller_identity()["Account"]
    finally:
        server.stop()
