"""Multi-Region KMS keys with the real aws CLI and boto3 against a server
that serves several regions: mrk- ids, ReplicateKey, UpdatePrimaryRegion,
ciphertext that crosses regions, shared rotation, the deletion order of
primaries and replicas, and the permissions ReplicateKey needs."""
import base64
import json
import os
import re
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import MULTI_REGIONS

PRIMARY, EU, WEST = MULTI_REGIONS


def error_of(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def kms_in(server, region):
    return server.client("kms", region=region)


def account_of(server):
    return server.client("sts").get_caller_identity()["Account"]


def new_mrk(server, **kw):
    return kms_in(server, PRIMARY).create_key(MultiRegion=True, **kw)["KeyMetadata"]


def user_kms(server, policy, region=PRIMARY):
    """A new IAM user with policy inline; a KMS client as that user."""
    iam = server.client("iam")
    name = f"mr-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    client = boto3.session.Session().client(
        "kms", endpoint_url=server.endpoint, region_name=region,
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
        config=botocore.config.Config(retries={"max_attempts": 1}))
    return client, name


def test_cli_create_replicate_and_decrypt_across_regions(multi_region_server, tmp_path):
    s = multi_region_server
    acct = account_of(s)
    meta = json.loads(s.aws("kms", "create-key", "--multi-region", "--description", "mr").stdout)
    meta = meta["KeyMetadata"]
    key_id = meta["KeyId"]
    assert re.fullmatch(r"mrk-[0-9a-f]{32}", key_id)
    assert meta["MultiRegion"] is True
    assert meta["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert meta["MultiRegionConfiguration"]["PrimaryKey"] == {
        "Arn": f"arn:aws:kms:{PRIMARY}:{acct}:key/{key_id}", "Region": PRIMARY}

    out = json.loads(s.aws("kms", "replicate-key", "--key-id", key_id, "--replica-region", EU,
                           "--description", "eu copy",
                           "--tags", "TagKey=site,TagValue=dublin").stdout)
    replica = out["ReplicaKeyMetadata"]
    assert replica["KeyId"] == key_id
    assert replica["Arn"] == f"arn:aws:kms:{EU}:{acct}:key/{key_id}"
    assert replica["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert replica["Description"] == "eu copy"
    assert out["ReplicaTags"] == [{"TagKey": "site", "TagValue": "dublin"}]
    assert json.loads(out["ReplicaPolicy"])["Statement"][0]["Principal"] == {
        "AWS": f"arn:aws:iam::{acct}:root"}

    # The primary lists its replica; the replica names its primary.
    primary = json.loads(s.aws("kms", "describe-key", "--key-id", key_id).stdout)["KeyMetadata"]
    assert [r["Region"] for r in primary["MultiRegionConfiguration"]["ReplicaKeys"]] == [EU]
    eu = json.loads(s.aws("kms", "describe-key", "--key-id", key_id, "--region", EU).stdout)
    assert eu["KeyMetadata"]["MultiRegionConfiguration"]["PrimaryKey"]["Region"] == PRIMARY
    assert eu["KeyMetadata"]["KeySpec"] == primary["KeySpec"]

    # Encrypt with fileb:// in us-east-1, decrypt in eu-west-1 without KeyId.
    plain = tmp_path / "plain.txt"
    plain.write_bytes(os.urandom(200))
    enc = json.loads(s.aws("kms", "encrypt", "--key-id", key_id, "--plaintext",
                           f"fileb://{plain}", "--encryption-context", "app=mr").stdout)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    dec = json.loads(s.aws("kms", "decrypt", "--region", EU, "--ciphertext-blob", f"fileb://{blob}",
                           "--encryption-context", "app=mr").stdout)
    assert base64.b64decode(dec["Plaintext"]) == plain.read_bytes()
    assert dec["KeyId"] == f"arn:aws:kms:{EU}:{acct}:key/{key_id}"
    # The context still binds across regions.
    bad = s.aws("kms", "decrypt", "--region", EU, "--ciphertext-blob", f"fileb://{blob}",
                "--encryption-context", "app=other", check=False)
    assert bad.returncode != 0 and "InvalidCiphertextException" in bad.stderr


def test_replica_has_its_own_state_tags_and_policy(multi_region_server):
    s = multi_region_server
    key_id = new_mrk(s)["KeyId"]
    kms_in(s, PRIMARY).replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    west = kms_in(s, WEST)
    west.disable_key(KeyId=key_id)
    assert error_of(west.encrypt, KeyId=key_id, Plaintext=b"x")[0] == "DisabledException"
    blob = kms_in(s, PRIMARY).encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    west.enable_key(KeyId=key_id)
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    west.tag_resource(KeyId=key_id, Tags=[{"TagKey": "k", "TagValue": "west"}])
    assert west.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "k", "TagValue": "west"}]
    assert kms_in(s, PRIMARY).list_resource_tags(KeyId=key_id)["Tags"] == []
    # Aliases are regional too.
    alias = f"alias/mr-{uuid.uuid4().hex[:8]}"
    west.create_alias(AliasName=alias, TargetKeyId=key_id)
    assert west.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key_id
    assert error_of(kms_in(s, PRIMARY).describe_key, KeyId=alias)[0] == "NotFoundException"


def test_replicate_key_errors(multi_region_server, server):
    s = multi_region_server
    kms = kms_in(s, PRIMARY)
    key_id = new_mrk(s)["KeyId"]
    single = kms.create_key()["KeyMetadata"]["KeyId"]
    code, msg = error_of(kms.replicate_key, KeyId=single, ReplicaRegion=EU)
    assert code == "UnsupportedOperationException" and "not a multi-Region key" in msg
    assert error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=PRIMARY)[0] == \
        "ValidationException"
    code, msg = error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion="ap-south-1")
    assert code == "UnsupportedOperationException" and "ap-south-1" in msg
    kms.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    code, msg = error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=EU)
    assert code == "AlreadyExistsException" and f":{EU}:" in msg
    # A replica cannot be replicated.
    code, _ = error_of(kms_in(s, EU).replicate_key, KeyId=key_id, ReplicaRegion=WEST)
    assert code == "UnsupportedOperationException"
    # A server that serves one region has nowhere to replicate to.
    one = server.client("kms")
    lone = one.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    assert error_of(one.replicate_key, KeyId=lone, ReplicaRegion=EU)[0] == \
        "UnsupportedOperationException"


def test_update_primary_region(multi_region_server):
    s = multi_region_server
    key_id = new_mrk(s)["KeyId"]
    kms_in(s, PRIMARY).replicate_key(KeyId=key_id, ReplicaRegion=EU)
    assert error_of(kms_in(s, PRIMARY).update_primary_region, KeyId=key_id,
                    PrimaryRegion=WEST)[0] == "NotFoundException"
    s.aws("kms", "update-primary-region", "--key-id", key_id, "--primary-region", EU)
    old = kms_in(s, PRIMARY).describe_key(KeyId=key_id)["KeyMetadata"]
    assert old["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert old["MultiRegionConfiguration"]["PrimaryKey"]["Region"] == EU
    new = kms_in(s, EU).describe_key(KeyId=key_id)["KeyMetadata"]
    assert new["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert [r["Region"] for r in new["MultiRegionConfiguration"]["ReplicaKeys"]] == [PRIMARY]
    # Replication and rotation settings move with the primary.
    assert error_of(kms_in(s, PRIMARY).replicate_key, KeyId=key_id,
                    ReplicaRegion=WEST)[0] == "UnsupportedOperationException"
    kms_in(s, EU).replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    assert error_of(kms_in(s, PRIMARY).enable_key_rotation, KeyId=key_id)[0] == \
        "UnsupportedOperationException"
    kms_in(s, EU).enable_key_rotation(KeyId=key_id)
    for region in MULTI_REGIONS:
        assert kms_in(s, region).get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]


def test_primary_deletion_waits_for_replicas(multi_region_server):
    s = multi_region_server
    key_id = new_mrk(s)["KeyId"]
    kms_in(s, PRIMARY).replicate_key(KeyId=key_id, ReplicaRegion=EU)
    out = kms_in(s, PRIMARY).schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingReplicaDeletion"
    assert "DeletionDate" not in out and out["PendingWindowInDays"] == 7
    meta = kms_in(s, PRIMARY).describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingReplicaDeletion"
    assert meta["PendingDeletionWindowInDays"] == 7 and "DeletionDate" not in meta
    assert error_of(kms_in(s, PRIMARY).encrypt, KeyId=key_id, Plaintext=b"x")[0] == \
        "KMSInvalidStateException"
    # The replica keeps working until it is itself scheduled.
    assert kms_in(s, EU).encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    replica = kms_in(s, EU).schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert replica["KeyState"] == "PendingDeletion" and "DeletionDate" in replica
    kms_in(s, PRIMARY).cancel_key_deletion(KeyId=key_id)
    assert kms_in(s, PRIMARY).describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"


def test_replicate_needs_both_permissions_and_condition_keys(multi_region_server):
    s = multi_region_server
    acct = account_of(s)
    key_id = new_mrk(s)["KeyId"]
    key_arn = f"arn:aws:kms:{PRIMARY}:{acct}:key/{key_id}"
    only_replicate = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:ReplicateKey", "kms:DescribeKey"],
         "Resource": key_arn}]}
    kms, _ = user_kms(s, only_replicate)
    code, msg = error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=EU)
    assert code == "AccessDeniedException" and "kms:CreateKey" in msg
    both = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:ReplicateKey", "Resource": key_arn,
         "Condition": {"StringEquals": {"kms:ReplicaRegion": WEST}}},
        {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*",
         "Condition": {"StringEquals": {"kms:MultiRegionKeyType": "REPLICA"}}}]}
    kms, _ = user_kms(s, both)
    code, msg = error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=EU)
    assert code == "AccessDeniedException" and "kms:ReplicateKey" in msg
    out = kms.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    assert out["ReplicaKeyMetadata"]["Arn"].startswith(f"arn:aws:kms:{WEST}:")
    # kms:MultiRegionKeyType REPLICA does not let the user create keys.
    assert error_of(kms.create_key, MultiRegion=True)[0] == "AccessDeniedException"
    # kms:MultiRegion on CreateKey: single-Region keys only.
    single_only = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*",
         "Condition": {"Bool": {"kms:MultiRegion": "false"}}}]}
    kms, _ = user_kms(s, single_only)
    assert kms.create_key()["KeyMetadata"]["MultiRegion"] is False
    assert error_of(kms.create_key, MultiRegion=True)[0] == "AccessDeniedException"
