"""Sharing a KMS key with another account: account A's key policy allows
account B; B's IAM policy allows kms:Encrypt/kms:Decrypt on A's key ARN; B
uses A's key by ARN. Removing either side denies. Accounts come from
Organizations CreateAccount on a server of this module's own."""
import json
import os

import botocore.exceptions
import pytest

from org_helpers import client, start_two_accounts


def error_of(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]




@pytest.fixture(scope="module")
def two_accounts(workdir):
    s, member, member_admin = start_two_accounts(os.path.join(workdir, "kms-cross-account"))
    yield s, member, member_admin
    s.stop()


def test_key_shared_with_another_account(two_accounts):
    server, b_account, b_admin = two_accounts
    kms_a = server.client("kms")
    a_account = server.client("sts").get_caller_identity()["Account"]
    key = kms_a.create_key(Description="shared")["KeyMetadata"]
    key_arn = key["Arn"]

    # An IAM user of account B whose identity policy allows A's key.
    iam_b = client(server, "iam", b_admin)
    iam_b.create_user(UserName="app")
    iam_b.put_user_policy(UserName="app", PolicyName="use-a-key", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": key_arn}]}))
    ak = iam_b.create_access_key(UserName="app")["AccessKey"]
    kms_b = client(server, "kms", {"AccessKeyId": ak["AccessKeyId"],
                                   "SecretAccessKey": ak["SecretAccessKey"]})
    b_user = f"arn:aws:iam::{b_account}:user/app"

    # A's default key policy trusts only A: B is denied.
    code, msg = error_of(kms_b.encrypt, KeyId=key_arn, Plaintext=b"x")
    assert code == "AccessDeniedException"
    assert msg.startswith(f"User: {b_user} is not authorized to perform: kms:Encrypt on "
                          f"resource: {key_arn}")
    # By bare key id B looks in its own account and finds nothing.
    code, _ = error_of(kms_b.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert code == "NotFoundException"

    policy = json.loads(kms_a.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    policy["Statement"].append({
        "Sid": "share", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{b_account}:root"},
        "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"})
    kms_a.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))

    blob = kms_b.encrypt(KeyId=key_arn, Plaintext=b"from b",
                         EncryptionContext={"tenant": "b"})["CiphertextBlob"]
    out = kms_b.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "b"})
    assert out["Plaintext"] == b"from b" and out["KeyId"] == key_arn
    # A reads what B wrote with A's key.
    assert kms_a.decrypt(CiphertextBlob=blob,
                         EncryptionContext={"tenant": "b"})["Plaintext"] == b"from b"
    # B cannot manage A's key.
    code, _ = error_of(kms_b.describe_key, KeyId=key_arn)
    assert code == "AccessDeniedException"

    # Removing B's identity policy denies even though the key policy allows.
    iam_b.delete_user_policy(UserName="app", PolicyName="use-a-key")
    code, _ = error_of(kms_b.decrypt, CiphertextBlob=blob, EncryptionContext={"tenant": "b"})
    assert code == "AccessDeniedException"
    iam_b.put_user_policy(UserName="app", PolicyName="use-a-key", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": key_arn}]}))
    assert kms_b.decrypt(CiphertextBlob=blob,
                         EncryptionContext={"tenant": "b"})["Plaintext"] == b"from b"

    # Removing the key policy's grant denies again.
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "share"]
    kms_a.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))
    code, _ = error_of(kms_b.encrypt, KeyId=key_arn, Plaintext=b"x")
    assert code == "AccessDeniedException"
    assert a_account != b_account


def test_shared_key_is_used_not_managed_by_the_other_account(two_accounts):
    """Even kms:* in both the key policy and B's IAM policy lets B only use
    A's key: key management does not work across accounts in AWS KMS."""
    server, b_account, b_admin = two_accounts
    kms_a = server.client("kms")
    a_account = server.client("sts").get_caller_identity()["Account"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{a_account}:root",
                                                  f"arn:aws:iam::{b_account}:root"]},
         "Action": "kms:*", "Resource": "*"}]}
    key_arn = kms_a.create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"]
    kms_b = client(server, "kms", b_admin)
    blob = kms_b.encrypt(KeyId=key_arn, Plaintext=b"b data")["CiphertextBlob"]
    assert kms_b.decrypt(CiphertextBlob=blob)["Plaintext"] == b"b data"
    assert kms_b.describe_key(KeyId=key_arn)["KeyMetadata"]["Arn"] == key_arn
    for call, kw in [(kms_b.schedule_key_deletion, {}), (kms_b.disable_key, {}),
                     (kms_b.put_key_policy, {"PolicyName": "default",
                                             "Policy": json.dumps(policy)}),
                     (kms_b.tag_resource, {"Tags": [{"TagKey": "k", "TagValue": "v"}]}),
                     (kms_b.update_key_description, {"Description": "mine now"})]:
        code, msg = error_of(call, KeyId=key_arn, **kw)
        assert code == "NotFoundException" and key_arn in msg, call
    meta = kms_a.describe_key(KeyId=key_arn)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["Description"] == ""
    assert kms_a.list_resource_tags(KeyId=key_arn)["Tags"] == []
