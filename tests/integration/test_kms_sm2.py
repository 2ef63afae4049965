"""SM2 KMS keys with the aws CLI and boto3, checked by the openssl CLI:
SM2DSA signatures verify with `openssl pkeyutl -verify` and the KMS
distinguishing ID, SM2PKE ciphertext made by openssl decrypts in KMS, SM2
data key pairs are real key pairs. SM2 exists only in China regions, so
the server serves cn-north-1 besides us-east-1."""
import base64
import json
import os
import subprocess

import botocore.exceptions
import pytest

from conftest import Rampart

CHINA = "cn-north-1"
DIST_ID = "1234567812345678"


@pytest.fixture(scope="module")
def china_server(workdir):
    s = Rampart(os.path.join(workdir, "china"),
                config={"regions": ["us-east-1", CHINA]}).start()
    yield s
    s.stop()


def openssl(*args, check=True, input=None):
    r = subprocess.run(["openssl", *args], capture_output=True, timeout=30, input=input)
    if check and r.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)}: {r.stderr.decode()}")
    return r


def der_to_pem(tmp_path, name, der, public=True):
    der_path = tmp_path / f"{name}.der"
    der_path.write_bytes(der)
    pem_path = tmp_path / f"{name}.pem"
    openssl("pkey", *(["-pubin"] if public else []), "-inform", "DER", "-in", str(der_path),
            "-out", str(pem_path))
    return pem_path


def sm2_verify(pub_pem, msg_path, sig_path, dist_id=DIST_ID):
    return openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(pub_pem), "-rawin",
                   "-digest", "sm3", "-in", str(msg_path), "-sigfile", str(sig_path),
                   "-pkeyopt", f"distid:{dist_id}", check=False)


def test_sm2_only_in_china(china_server):
    kms = china_server.client("kms")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")
    assert e.value.response["Error"]["Code"] == "UnsupportedOperationException"
    cn = china_server.client("kms", region=CHINA)
    meta = cn.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert meta["Arn"].startswith(f"arn:aws:kms:{CHINA}:")
    assert meta["SigningAlgorithms"] == ["SM2DSA"]


def test_cli_sign_verified_by_openssl(china_server, tmp_path):
    s = china_server
    meta = json.loads(s.aws("kms", "create-key", "--region", CHINA, "--key-spec", "SM2",
                            "--key-usage", "SIGN_VERIFY").stdout)["KeyMetadata"]
    key_id = meta["KeyId"]
    pub = json.loads(s.aws("kms", "get-public-key", "--region", CHINA, "--key-id", key_id).stdout)
    assert pub["KeySpec"] == "SM2" and pub["SigningAlgorithms"] == ["SM2DSA"]
    pub_pem = der_to_pem(tmp_path, "pub", base64.b64decode(pub["PublicKey"]))
    assert "SM2" in openssl("pkey", "-pubin", "-in", str(pub_pem), "-text").stdout.decode()

    msg = tmp_path / "msg.bin"
    msg.write_bytes(os.urandom(300))
    out = json.loads(s.aws("kms", "sign", "--region", CHINA, "--key-id", key_id,
                           "--message", f"fileb://{msg}", "--message-type", "RAW",
                           "--signing-algorithm", "SM2DSA").stdout)
    sig = tmp_path / "sig.der"
    sig.write_bytes(base64.b64decode(out["Signature"]))
    ok = sm2_verify(pub_pem, msg, sig)
    assert ok.returncode == 0, ok.stderr
    assert b"Signature Verified Successfully" in ok.stdout
    # The distinguishing ID is part of what was signed.
    assert sm2_verify(pub_pem, msg, sig, dist_id="0000000000000000").returncode != 0
    other = tmp_path / "other.bin"
    other.write_bytes(msg.read_bytes()[:-1] + bytes([msg.read_bytes()[-1] ^ 1]))
    assert sm2_verify(pub_pem, other, sig).returncode != 0

    # And a signature openssl makes with its own key does not pass KMS.
    openssl("genpkey", "-algorithm", "SM2", "-out", str(tmp_path / "mine.pem"))
    theirs = tmp_path / "theirs.der"
    openssl("pkeyutl", "-sign", "-inkey", str(tmp_path / "mine.pem"), "-rawin", "-digest", "sm3",
            "-in", str(msg), "-out", str(theirs), "-pkeyopt", f"distid:{DIST_ID}")
    bad = s.aws("kms", "verify", "--region", CHINA, "--key-id", key_id, "--message",
                f"fileb://{msg}", "--signature", f"fileb://{theirs}",
                "--signing-algorithm", "SM2DSA", check=False)
    assert bad.returncode != 0 and "KMSInvalidSignatureException" in bad.stderr
    good = json.loads(s.aws("kms", "verify", "--region", CHINA, "--key-id", key_id, "--message",
                            f"fileb://{msg}", "--signature", f"fileb://{sig}",
                            "--signing-algorithm", "SM2DSA").stdout)
    assert good["SignatureValid"] is True


def test_openssl_encrypts_kms_decrypts(china_server, tmp_path):
    s = china_server
    cn = s.client("kms", region=CHINA)
    key_id = cn.create_key(KeySpec="SM2", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    pub = cn.get_public_key(KeyId=key_id)
    assert pub["EncryptionAlgorithms"] == ["SM2PKE"]
    pub_pem = der_to_pem(tmp_path, "enc", pub["PublicKey"])
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(100))
    ct = tmp_path / "ct.bin"
    openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(pub_pem), "-in", str(plain),
            "-out", str(ct))
    out = json.loads(s.aws("kms", "decrypt", "--region", CHINA, "--key-id", key_id,
                           "--ciphertext-blob", f"fileb://{ct}",
                           "--encryption-algorithm", "SM2PKE").stdout)
    assert base64.b64decode(out["Plaintext"]) == plain.read_bytes()
    # KMS's own ciphertext round-trips too, and tampering is refused.
    blob = cn.encrypt(KeyId=key_id, Plaintext=b"x" * 1024,
                      EncryptionAlgorithm="SM2PKE")["CiphertextBlob"]
    assert cn.decrypt(KeyId=key_id, CiphertextBlob=blob,
                      EncryptionAlgorithm="SM2PKE")["Plaintext"] == b"x" * 1024
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cn.decrypt(KeyId=key_id, CiphertextBlob=blob[:-1] + bytes([blob[-1] ^ 1]),
                   EncryptionAlgorithm="SM2PKE")
    assert e.value.response["Error"]["Code"] == "InvalidCiphertextException"


def test_sm2_data_key_pair(china_server, tmp_path):
    cn = china_server.client("kms", region=CHINA)
    key_id = cn.create_key()["KeyMetadata"]["KeyId"]
    pair = cn.generate_data_key_pair(KeyId=key_id, KeyPairSpec="SM2")
    assert pair["KeyPairSpec"] == "SM2"
    priv_pem = der_to_pem(tmp_path, "priv", pair["PrivateKeyPlaintext"], public=False)
    pub_pem = der_to_pem(tmp_path, "dpub", pair["PublicKey"])
    msg = tmp_path / "m.txt"
    msg.write_bytes(b"data key pair")
    sig = tmp_path / "m.sig"
    openssl("pkeyutl", "-sign", "-inkey", str(priv_pem), "-rawin", "-digest", "sm3",
            "-in", str(msg), "-out", str(sig), "-pkeyopt", f"distid:{DIST_ID}")
    assert sm2_verify(pub_pem, msg, sig).returncode == 0
    assert cn.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"] == \
        pair["PrivateKeyPlaintext"]
    without = cn.generate_data_key_pair_without_plaintext(KeyId=key_id, KeyPairSpec="SM2")
    assert "PrivateKeyPlaintext" not in without
