"""Multi-Region KMS keys with the real aws CLI and boto3 against a server
that serves several regions: mrk- ids, ReplicateKey, UpdatePrimaryRegion,
ciphertext that crosses regions, shared rotation, the deletion order of
primaries and replicas, the permissions ReplicateKey needs and its records
in both regions, and multi-Region keys with imported material."""
import base64
import json
import os
import re
import time
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import MULTI_REGIONS
from test_kms_import import wrap

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


def test_replicate_checks_create_key_in_the_replica_region(multi_region_server):
    """kms:CreateKey is decided with aws:RequestedRegion = the replica's
    region, whatever region the ReplicateKey request went to."""
    s = multi_region_server
    acct = account_of(s)
    key_id = new_mrk(s)["KeyId"]
    key_arn = f"arn:aws:kms:{PRIMARY}:{acct}:key/{key_id}"
    only_west = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:ReplicateKey", "Resource": key_arn},
        {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": WEST}}}]}
    kms, _ = user_kms(s, only_west)
    # The user cannot create keys where the request is sent...
    code, msg = error_of(kms.create_key, MultiRegion=True)
    assert code == "AccessDeniedException" and "kms:CreateKey" in msg
    # ...nor replicate into a region its policy does not name...
    code, msg = error_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=EU)
    assert code == "AccessDeniedException" and "kms:CreateKey" in msg
    # ...but may replicate into the one it does.
    out = kms.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    assert out["ReplicaKeyMetadata"]["Arn"] == f"arn:aws:kms:{WEST}:{acct}:key/{key_id}"

    # An explicit deny for the replica region wins over an allow anywhere.
    other = new_mrk(s)["KeyId"]
    deny_eu = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:ReplicateKey", "kms:CreateKey"], "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:CreateKey", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": EU}}}]}
    kms, _ = user_kms(s, deny_eu)
    code, msg = error_of(kms.replicate_key, KeyId=other, ReplicaRegion=EU)
    assert code == "AccessDeniedException" and "explicit deny" in msg
    kms.replicate_key(KeyId=other, ReplicaRegion=WEST)
    assert kms.create_key(MultiRegion=True)["KeyMetadata"]["MultiRegion"] is True
    regions = [r["Region"] for r in kms_in(s, PRIMARY).describe_key(KeyId=other)[
        "KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"]]
    assert regions == [WEST]


def test_multi_region_changes_are_recorded_in_both_regions(multi_region_server):
    """CloudTrail shows ReplicateKey in the primary's region and CreateKey,
    for the same request and caller, in the replica's region;
    UpdatePrimaryRegion in both regions."""
    s = multi_region_server
    acct = account_of(s)
    key_id = new_mrk(s)["KeyId"]
    replica_arn = f"arn:aws:kms:{EU}:{acct}:key/{key_id}"
    s.aws("kms", "replicate-key", "--key-id", key_id, "--replica-region", EU,
          "--description", "audited copy")
    ct = s.client("cloudtrail")

    def records(name):
        events = ct.lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
        return [json.loads(e["CloudTrailEvent"]) for e in events]

    replicate = [r for r in records("ReplicateKey")
                 if r["requestParameters"]["keyId"] == key_id]
    assert len(replicate) == 1
    replicate = replicate[0]
    assert replicate["awsRegion"] == PRIMARY
    created = [r for r in records("CreateKey")
               if (r.get("responseElements") or {}).get("keyMetadata", {}).get("arn") ==
               replica_arn]
    assert len(created) == 1
    created = created[0]
    assert created["awsRegion"] == EU
    assert created["eventSource"] == "kms.amazonaws.com"
    assert created["requestID"] == replicate["requestID"]
    assert created["eventID"] != replicate["eventID"]
    assert created["userIdentity"] == replicate["userIdentity"]
    assert created["readOnly"] is False
    assert created["requestParameters"]["description"] == "audited copy"
    assert created["requestParameters"]["multiRegion"] is True
    assert created["recipientAccountId"] == acct

    # UpdatePrimaryRegion is logged in the old and the new primary's region.
    s.aws("kms", "update-primary-region", "--key-id", key_id, "--primary-region", EU)
    updates = [r for r in records("UpdatePrimaryRegion")
               if r["requestParameters"]["keyId"] == key_id]
    assert sorted(r["awsRegion"] for r in updates) == sorted([PRIMARY, EU])
    assert len({r["requestID"] for r in updates}) == 1
    assert all(r["requestParameters"]["primaryRegion"] == EU for r in updates)

    # A replication refused in the replica region creates nothing there and
    # records no CreateKey.
    other = new_mrk(s)["KeyId"]
    deny = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:ReplicateKey", "Resource": "*"}]}
    kms, _ = user_kms(s, deny)
    assert error_of(kms.replicate_key, KeyId=other, ReplicaRegion=EU)[0] == \
        "AccessDeniedException"
    other_arn = f"arn:aws:kms:{EU}:{acct}:key/{other}"
    assert not [r for r in records("CreateKey")
                if (r.get("responseElements") or {}).get("keyMetadata", {}).get("arn") ==
                other_arn]


def cli_import(s, tmp_path, region, key_id, material, *expiry):
    """GetParametersForImport and ImportKeyMaterial with the aws CLI in
    region, the material wrapped by openssl; the CLI's result."""
    params = json.loads(s.aws("kms", "get-parameters-for-import", "--region", region,
                              "--key-id", key_id, "--wrapping-algorithm", "RSAES_OAEP_SHA_256",
                              "--wrapping-key-spec", "RSA_2048").stdout)
    token = tmp_path / f"token-{region}.bin"
    token.write_bytes(base64.b64decode(params["ImportToken"]))
    wrapped = tmp_path / f"wrapped-{region}.bin"
    wrapped.write_bytes(wrap(tmp_path, base64.b64decode(params["PublicKey"]), material, "sha256"))
    return s.aws("kms", "import-key-material", "--region", region, "--key-id", key_id,
                 "--encrypted-key-material", f"fileb://{wrapped}",
                 "--import-token", f"fileb://{token}",
                 *(expiry or ("--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")), check=False)


def test_external_multi_region_key_imports_the_same_material_everywhere(multi_region_server,
                                                                          tmp_path):
    s = multi_region_server
    meta = json.loads(s.aws("kms", "create-key", "--multi-region", "--origin", "EXTERNAL").stdout)
    meta = meta["KeyMetadata"]
    key_id = meta["KeyId"]
    assert re.fullmatch(r"mrk-[0-9a-f]{32}", key_id)
    assert meta["Origin"] == "EXTERNAL" and meta["KeyState"] == "PendingImport"
    # A replica of a key without material waits for its own import.
    out = kms_in(s, PRIMARY).replicate_key(KeyId=key_id, ReplicaRegion=EU)
    assert out["ReplicaKeyMetadata"]["KeyState"] == "PendingImport"
    assert out["ReplicaKeyMetadata"]["Origin"] == "EXTERNAL"

    material = os.urandom(32)
    assert cli_import(s, tmp_path, PRIMARY, key_id, material).returncode == 0
    assert kms_in(s, PRIMARY).describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    eu = kms_in(s, EU)
    assert eu.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    code, _ = error_of(eu.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "KMSInvalidStateException"
    # A replica made after the import has no material either.
    west = kms_in(s, PRIMARY).replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    assert west["ReplicaKeyMetadata"]["KeyState"] == "PendingImport"

    # The replica refuses other material and a token of another region.
    bad = cli_import(s, tmp_path, EU, key_id, os.urandom(32))
    assert bad.returncode != 0 and "IncorrectKeyMaterialException" in bad.stderr
    params = kms_in(s, PRIMARY).get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_2048")
    code, _ = error_of(eu.import_key_material, KeyId=key_id, ImportToken=params["ImportToken"],
                       EncryptedKeyMaterial=wrap(tmp_path, params["PublicKey"], material, "sha1"),
                       ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "InvalidImportTokenException"
    # The same material, with its own expiration, enables it.
    valid_to = int(time.time()) + 3 * 86400
    ok = cli_import(s, tmp_path, EU, key_id, material, "--valid-to", str(valid_to))
    assert ok.returncode == 0, ok.stderr
    replica = eu.describe_key(KeyId=key_id)["KeyMetadata"]
    assert replica["KeyState"] == "Enabled"
    assert replica["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert int(replica["ValidTo"].timestamp()) == valid_to
    primary = kms_in(s, PRIMARY).describe_key(KeyId=key_id)["KeyMetadata"]
    assert primary["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"

    # Ciphertext made in one region decrypts in the other.
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(300))
    enc = json.loads(s.aws("kms", "encrypt", "--region", EU, "--key-id", key_id,
                           "--plaintext", f"fileb://{plain}").stdout)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    dec = json.loads(s.aws("kms", "decrypt", "--region", PRIMARY,
                           "--ciphertext-blob", f"fileb://{blob}").stdout)
    assert base64.b64decode(dec["Plaintext"]) == plain.read_bytes()
    ct = kms_in(s, PRIMARY).encrypt(KeyId=key_id, Plaintext=b"primary")["CiphertextBlob"]
    assert eu.decrypt(CiphertextBlob=ct)["Plaintext"] == b"primary"

    # Each region loses its material on its own.
    kms_in(s, PRIMARY).delete_imported_key_material(KeyId=key_id)
    assert error_of(kms_in(s, PRIMARY).decrypt, CiphertextBlob=ct)[0] == \
        "KMSInvalidStateException"
    assert eu.decrypt(CiphertextBlob=ct)["Plaintext"] == b"primary"
    eu.delete_imported_key_material(KeyId=key_id)
    assert eu.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    # Reimporting the same material brings old ciphertexts back.
    assert cli_import(s, tmp_path, WEST, key_id, material).returncode == 0
    assert kms_in(s, WEST).decrypt(CiphertextBlob=ct)["Plaintext"] == b"primary"
    bad = cli_import(s, tmp_path, PRIMARY, key_id, os.urandom(32))
    assert bad.returncode != 0 and "IncorrectKeyMaterialException" in bad.stderr
