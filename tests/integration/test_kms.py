"""KMS with the real aws CLI and boto3 against a real rampart server: the
key lifecycle, symmetric encryption with encryption context, tamper
detection, key states, aliases, tags, HMAC and key-policy enforcement."""
import base64
import json
import os
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import REGION


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def account_of(server):
    return server.client("sts").get_caller_identity()["Account"]


def new_key(kms, **kw):
    return kms.create_key(**kw)["KeyMetadata"]


def user_client(server, service, name):
    """Creates IAM user name with an access key; a boto3 client as that user."""
    iam = server.client("iam")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.session.Session().client(
        service, endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
        config=botocore.config.Config(retries={"max_attempts": 1}))


def test_key_lifecycle(server):
    kms = server.client("kms")
    acct = account_of(server)
    meta = new_key(kms, Description="first", Tags=[{"TagKey": "env", "TagValue": "test"}])
    key_id = meta["KeyId"]
    assert meta["Arn"] == f"arn:aws:kms:{REGION}:{acct}:key/{key_id}"
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT" and meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert meta["Origin"] == "AWS_KMS" and meta["KeyManager"] == "CUSTOMER"

    kms.update_key_description(KeyId=key_id, Description="second")
    assert kms.describe_key(KeyId=meta["Arn"])["KeyMetadata"]["Description"] == "second"
    listed = [k["KeyId"] for k in kms.list_keys()["Keys"]]
    assert key_id in listed

    kms.disable_key(KeyId=key_id)
    d = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert d["KeyState"] == "Disabled" and d["Enabled"] is False
    kms.enable_key(KeyId=key_id)

    code, _ = error_of(kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=5)
    assert code == "ValidationException"
    r = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert r["KeyState"] == "PendingDeletion" and r["PendingWindowInDays"] == 7
    assert r["KeyId"] == meta["Arn"]
    d = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert d["KeyState"] == "PendingDeletion" and "DeletionDate" in d
    code, msg = error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "KMSInvalidStateException"
    assert msg == f"{meta['Arn']} is pending deletion."
    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == meta["Arn"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    code, msg = error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "DisabledException" and msg == f"{meta['Arn']} is disabled."

    missing = str(uuid.uuid4())
    code, msg = error_of(kms.describe_key, KeyId=missing)
    assert code == "NotFoundException"
    assert msg == f"Key 'arn:aws:kms:{REGION}:{acct}:key/{missing}' does not exist"


def test_list_keys_pagination(server):
    kms = server.client("kms")
    mine = {new_key(kms)["KeyId"] for _ in range(3)}
    seen = []
    for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}):
        assert len(page["Keys"]) <= 2
        seen += [k["KeyId"] for k in page["Keys"]]
    assert mine <= set(seen)
    assert len(seen) == len(set(seen))


def test_invalid_spec_and_usage(server):
    kms = server.client("kms")
    code, _ = error_of(kms.create_key, KeySpec="HMAC_256", KeyUsage="ENCRYPT_DECRYPT")
    assert code == "ValidationException"
    code, _ = error_of(kms.create_key, KeySpec="NOT_A_SPEC")
    assert code == "ValidationException"


def test_encrypt_decrypt_with_cli(server, tmp_path):
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(3000))
    r = server.aws("kms", "encrypt", "--key-id", key_id, "--plaintext", f"fileb://{plain}",
                   "--encryption-context", "purpose=test,app=cli")
    blob = base64.b64decode(json.loads(r.stdout)["CiphertextBlob"])
    cipher = tmp_path / "cipher.bin"
    cipher.write_bytes(blob)
    r = server.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{cipher}",
                   "--encryption-context", "app=cli,purpose=test")
    out = json.loads(r.stdout)
    assert base64.b64decode(out["Plaintext"]) == plain.read_bytes()
    assert out["KeyId"].endswith(key_id)
    assert out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    # Without the context the blob does not open.
    r = server.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{cipher}", check=False)
    assert r.returncode != 0 and "InvalidCiphertextException" in r.stderr


def test_round_trips_and_tampering(server):
    kms = server.client("kms")
    k1 = new_key(kms)["KeyId"]
    k2 = new_key(kms)["KeyId"]
    ctx = {"tenant": "a", "purpose": "unit"}
    blob = kms.encrypt(KeyId=k1, Plaintext=b"hello", EncryptionContext=ctx)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"hello"
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx, KeyId=k1)["Plaintext"] == b"hello"
    code, _ = error_of(kms.decrypt, CiphertextBlob=blob, EncryptionContext=ctx, KeyId=k2)
    assert code == "IncorrectKeyException"
    code, _ = error_of(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"tenant": "b",
                                                                            "purpose": "unit"})
    assert code == "InvalidCiphertextException"
    for i in (0, 5, len(blob) // 2, len(blob) - 1):
        t = bytearray(blob)
        t[i] ^= 0x40
        code, _ = error_of(kms.decrypt, CiphertextBlob=bytes(t), EncryptionContext=ctx)
        assert code in ("InvalidCiphertextException", "NotFoundException"), (i, code)
    code, _ = error_of(kms.encrypt, KeyId=k1, Plaintext=b"x" * 4097)
    assert code == "ValidationException"
    assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=k1, Plaintext=b"y" * 4096)
                       ["CiphertextBlob"])["Plaintext"] == b"y" * 4096

    re = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=ctx, DestinationKeyId=k2,
                        DestinationEncryptionContext={"moved": "yes"})
    assert re["SourceKeyId"].endswith(k1) and re["KeyId"].endswith(k2)
    out = kms.decrypt(CiphertextBlob=re["CiphertextBlob"], EncryptionContext={"moved": "yes"})
    assert out["Plaintext"] == b"hello" and out["KeyId"].endswith(k2)


def test_data_keys_and_random(server, tmp_path):
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    dk = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"f": "1"})
    assert len(dk["Plaintext"]) == 32
    again = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"f": "1"})
    assert again["Plaintext"] == dk["Plaintext"]
    dk = kms.generate_data_key(KeyId=key_id, NumberOfBytes=16)
    assert len(dk["Plaintext"]) == 16
    wp = kms.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_128")
    assert "Plaintext" not in wp
    assert len(kms.decrypt(CiphertextBlob=wp["CiphertextBlob"])["Plaintext"]) == 16
    code, _ = error_of(kms.generate_data_key, KeyId=key_id)
    assert code == "ValidationException"
    r = kms.generate_random(NumberOfBytes=1024)["Plaintext"]
    assert len(r) == 1024 and r != kms.generate_random(NumberOfBytes=1024)["Plaintext"]
    code, _ = error_of(kms.generate_random, NumberOfBytes=1025)
    assert code == "ValidationException"


def test_data_key_with_openssl_enc(server, tmp_path):
    """A data key from KMS encrypts a file locally with openssl enc; the file
    decrypts again after KMS decrypts the stored data key."""
    import subprocess
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    dk = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    data = tmp_path / "data.txt"
    data.write_bytes(b"local file contents\n" * 10)
    iv = "00" * 16
    subprocess.run(["openssl", "enc", "-aes-256-cbc", "-K", dk["Plaintext"].hex(), "-iv", iv,
                    "-in", str(data), "-out", str(tmp_path / "data.enc")], check=True)
    key = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"]
    out = subprocess.run(["openssl", "enc", "-d", "-aes-256-cbc", "-K", key.hex(), "-iv", iv,
                          "-in", str(tmp_path / "data.enc")], check=True, capture_output=True)
    assert out.stdout == data.read_bytes()


def test_aliases(server):
    kms = server.client("kms")
    acct = account_of(server)
    k1 = new_key(kms)["KeyId"]
    k2 = new_key(kms)["KeyId"]
    name = "alias/" + uniq("app")
    kms.create_alias(AliasName=name, TargetKeyId=k1)
    code, msg = error_of(kms.create_alias, AliasName=name, TargetKeyId=k2)
    assert code == "AlreadyExistsException"
    assert msg == f"An alias with the name arn:aws:kms:{REGION}:{acct}:{name} already exists"
    code, _ = error_of(kms.create_alias, AliasName="alias/aws/mine", TargetKeyId=k1)
    assert code != "OK"
    code, _ = error_of(kms.create_alias, AliasName="no-prefix", TargetKeyId=k1)
    assert code == "ValidationException"
    blob = kms.encrypt(KeyId=name, Plaintext=b"via alias")["CiphertextBlob"]
    alias_arn = f"arn:aws:kms:{REGION}:{acct}:{name}"
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"] == k1
    entries = kms.list_aliases(KeyId=k1)["Aliases"]
    assert [(a["AliasName"], a["AliasArn"], a["TargetKeyId"]) for a in entries] == \
        [(name, alias_arn, k1)]
    kms.update_alias(AliasName=name, TargetKeyId=k2)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == k2
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"via alias"
    assert any(a["AliasName"] == name for a in kms.list_aliases()["Aliases"])
    kms.delete_alias(AliasName=name)
    code, msg = error_of(kms.describe_key, KeyId=name)
    assert code == "NotFoundException" and msg == f"Alias '{alias_arn}' is not found."
    code, _ = error_of(kms.delete_alias, AliasName=name)
    assert code == "NotFoundException"


def test_tags(server):
    kms = server.client("kms")
    key_id = new_key(kms, Tags=[{"TagKey": "a", "TagValue": "1"}])["KeyId"]
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "b", "TagValue": "2"},
                                         {"TagKey": "a", "TagValue": "3"}])
    tags = kms.list_resource_tags(KeyId=key_id)["Tags"]
    assert tags == [{"TagKey": "a", "TagValue": "3"}, {"TagKey": "b", "TagValue": "2"}]
    kms.untag_resource(KeyId=key_id, TagKeys=["a"])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "b", "TagValue": "2"}]
    code, _ = error_of(kms.tag_resource, KeyId=key_id, Tags=[{"TagKey": "aws:x", "TagValue": "v"}])
    assert code == "TagException"


def test_hmac_with_openssl(server, tmp_path):
    import subprocess
    kms = server.client("kms")
    key_id = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    mac = kms.generate_mac(KeyId=key_id, Message=b"message", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert len(mac) == 32
    ok = kms.verify_mac(KeyId=key_id, Message=b"message", MacAlgorithm="HMAC_SHA_256", Mac=mac)
    assert ok["MacValid"] is True
    code, _ = error_of(kms.verify_mac, KeyId=key_id, Message=b"messagf",
                       MacAlgorithm="HMAC_SHA_256", Mac=mac)
    assert code == "KMSInvalidMacException"
    code, _ = error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "InvalidKeyUsageException"


def test_key_policy_enforcement(server):
    kms = server.client("kms")
    acct = account_of(server)
    meta = new_key(kms)
    key_id, key_arn = meta["KeyId"], meta["Arn"]
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{acct}:root"}
    assert policy["Statement"][0]["Action"] == "kms:*"
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]

    name = uniq("kmsuser")
    user_kms = user_client(server, "kms", name)
    user_arn = f"arn:aws:iam::{acct}:user/{name}"
    code, msg = error_of(user_kms.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "AccessDeniedException"
    # The default key policy delegates to IAM, and the user has no IAM policy.
    assert msg == (f"User: {user_arn} is not authorized to perform: kms:Encrypt on resource: "
                   f"{key_arn} because no identity-based policy allows the kms:Encrypt action")

    policy["Statement"].append({
        "Sid": "user", "Effect": "Allow", "Principal": {"AWS": user_arn},
        "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:team": "blue"}}})
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))
    blob = user_kms.encrypt(KeyId=key_id, Plaintext=b"granted",
                            EncryptionContext={"team": "blue"})["CiphertextBlob"]
    assert user_kms.decrypt(CiphertextBlob=blob,
                            EncryptionContext={"team": "blue"})["Plaintext"] == b"granted"
    code, _ = error_of(user_kms.encrypt, KeyId=key_id, Plaintext=b"x",
                       EncryptionContext={"team": "red"})
    assert code == "AccessDeniedException"
    code, _ = error_of(user_kms.describe_key, KeyId=key_id)
    assert code == "AccessDeniedException"

    # An IAM policy alone grants through the default key policy.
    other = new_key(kms)
    server.client("iam").put_user_policy(UserName=name, PolicyName="kms", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": other["Arn"]}]}))
    assert user_kms.describe_key(KeyId=other["KeyId"])["KeyMetadata"]["Arn"] == other["Arn"]


def test_lockout_safety_check(server):
    kms = server.client("kms")
    acct = account_of(server)
    key_id = new_key(kms)["KeyId"]
    locked = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/nobody"},
         "Action": "kms:*", "Resource": "*"}]})
    code, msg = error_of(kms.put_key_policy, KeyId=key_id, PolicyName="default", Policy=locked)
    assert code == "MalformedPolicyDocumentException"
    assert msg == "The new key policy will not allow you to update the key policy in the future."
    code, _ = error_of(kms.create_key, Policy=locked)
    assert code == "MalformedPolicyDocumentException"
    code, _ = error_of(kms.put_key_policy, KeyId=key_id, PolicyName="default", Policy="{bad")
    assert code == "MalformedPolicyDocumentException"
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=locked,
                       BypassPolicyLockoutSafetyCheck=True)
    code, _ = error_of(kms.describe_key, KeyId=key_id)
    assert code == "AccessDeniedException"


def openssl(*args, **kw):
    import subprocess
    return subprocess.run(["openssl", *args], capture_output=True, **kw)


@pytest.mark.parametrize("spec,algorithm,digest,pss", [
    ("ECC_NIST_P256", "ECDSA_SHA_256", "sha256", False),
    ("ECC_NIST_P384", "ECDSA_SHA_384", "sha384", False),
    ("ECC_NIST_P521", "ECDSA_SHA_512", "sha512", False),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256", "sha256", False),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", "sha256", False),
    ("RSA_3072", "RSASSA_PSS_SHA_384", "sha384", True),
])
def test_signatures_verified_by_openssl(server, tmp_path, spec, algorithm, digest, pss):
    kms = server.client("kms")
    meta = new_key(kms, KeySpec=spec, KeyUsage="SIGN_VERIFY")
    assert algorithm in meta["SigningAlgorithms"]
    pub = kms.get_public_key(KeyId=meta["KeyId"])
    assert pub["KeySpec"] == spec and algorithm in pub["SigningAlgorithms"]
    (tmp_path / "pub.der").write_bytes(pub["PublicKey"])
    message = b"message to sign " * 20
    (tmp_path / "msg").write_bytes(message)
    sig = kms.sign(KeyId=meta["KeyId"], Message=message, SigningAlgorithm=algorithm)["Signature"]
    (tmp_path / "sig").write_bytes(sig)
    pss_opts = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"] if pss else []
    r = openssl("dgst", f"-{digest}", *pss_opts, "-keyform", "DER", "-verify",
                str(tmp_path / "pub.der"), "-signature", str(tmp_path / "sig"), str(tmp_path / "msg"))
    assert r.returncode == 0, r.stderr
    assert b"Verified OK" in r.stdout
    # A different message does not verify.
    (tmp_path / "msg2").write_bytes(message + b"!")
    r = openssl("dgst", f"-{digest}", *pss_opts, "-keyform", "DER", "-verify",
                str(tmp_path / "pub.der"), "-signature", str(tmp_path / "sig"), str(tmp_path / "msg2"))
    assert r.returncode != 0

    # DIGEST messages: sign a precomputed digest, verify with pkeyutl.
    import hashlib
    d = hashlib.new(digest, message).digest()
    (tmp_path / "digest").write_bytes(d)
    sig = kms.sign(KeyId=meta["KeyId"], Message=d, MessageType="DIGEST",
                   SigningAlgorithm=algorithm)["Signature"]
    (tmp_path / "sig2").write_bytes(sig)
    pk_opts = ["-pkeyopt", f"digest:{digest}"]
    if pss:
        pk_opts += ["-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:digest"]
    elif spec.startswith("RSA"):
        pk_opts += ["-pkeyopt", "rsa_padding_mode:pkcs1"]
    r = openssl("pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", str(tmp_path / "pub.der"),
                "-in", str(tmp_path / "digest"), "-sigfile", str(tmp_path / "sig2"), *pk_opts)
    assert r.returncode == 0, r.stderr
    assert kms.verify(KeyId=meta["KeyId"], Message=message, Signature=sig, MessageType="RAW",
                      SigningAlgorithm=algorithm)["SignatureValid"] is True
    code, _ = error_of(kms.verify, KeyId=meta["KeyId"], Message=message + b"!", Signature=sig,
                       SigningAlgorithm=algorithm)
    assert code == "KMSInvalidSignatureException"


def test_sign_with_cli(server, tmp_path):
    kms = server.client("kms")
    key_id = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    (tmp_path / "msg").write_bytes(b"cli message")
    r = server.aws("kms", "sign", "--key-id", key_id, "--message", f"fileb://{tmp_path / 'msg'}",
                   "--signing-algorithm", "ECDSA_SHA_256")
    (tmp_path / "sig").write_bytes(base64.b64decode(json.loads(r.stdout)["Signature"]))
    r = server.aws("kms", "get-public-key", "--key-id", key_id)
    (tmp_path / "pub.der").write_bytes(base64.b64decode(json.loads(r.stdout)["PublicKey"]))
    r = openssl("dgst", "-sha256", "-keyform", "DER", "-verify", str(tmp_path / "pub.der"),
                "-signature", str(tmp_path / "sig"), str(tmp_path / "msg"))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("algorithm,md", [("RSAES_OAEP_SHA_1", "sha1"), ("RSAES_OAEP_SHA_256", "sha256")])
def test_openssl_oaep_encrypt_kms_decrypt(server, tmp_path, algorithm, md):
    kms = server.client("kms")
    meta = new_key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    assert meta["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    (tmp_path / "pub.der").write_bytes(kms.get_public_key(KeyId=meta["KeyId"])["PublicKey"])
    (tmp_path / "plain").write_bytes(b"encrypted by openssl")
    r = openssl("pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", str(tmp_path / "pub.der"),
                "-in", str(tmp_path / "plain"), "-out", str(tmp_path / "ct"),
                "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}",
                "-pkeyopt", f"rsa_mgf1_md:{md}")
    assert r.returncode == 0, r.stderr
    out = kms.decrypt(KeyId=meta["KeyId"], CiphertextBlob=(tmp_path / "ct").read_bytes(),
                      EncryptionAlgorithm=algorithm)
    assert out["Plaintext"] == b"encrypted by openssl"
    # KMS's own ciphertext round-trips too.
    ct = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"kms", EncryptionAlgorithm=algorithm)
    assert kms.decrypt(KeyId=meta["KeyId"], CiphertextBlob=ct["CiphertextBlob"],
                       EncryptionAlgorithm=algorithm)["Plaintext"] == b"kms"
    code, _ = error_of(kms.encrypt, KeyId=meta["KeyId"], Plaintext=b"x")
    assert code == "InvalidKeyUsageException"


def test_rotation_settings(server):
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    kms.enable_key_rotation(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"still readable")["CiphertextBlob"]
    kms.disable_key_rotation(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"still readable"
    ec = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    code, _ = error_of(kms.enable_key_rotation, KeyId=ec)
    assert code == "UnsupportedOperationException"


@pytest.mark.parametrize("spec", ["ECC_NIST_P384", "RSA_2048"])
def test_data_key_pair_checked_by_openssl(server, tmp_path, spec):
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    pair = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec=spec)
    assert pair["KeyPairSpec"] == spec
    (tmp_path / "priv.der").write_bytes(pair["PrivateKeyPlaintext"])
    r = openssl("pkey", "-inform", "DER", "-in", str(tmp_path / "priv.der"), "-pubout",
                "-outform", "DER")
    assert r.returncode == 0, r.stderr
    assert r.stdout == pair["PublicKey"]
    assert kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"] == \
        pair["PrivateKeyPlaintext"]
    bare = kms.generate_data_key_pair_without_plaintext(KeyId=key_id, KeyPairSpec=spec)
    assert "PrivateKeyPlaintext" not in bare
