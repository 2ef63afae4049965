"""A call that uses another account's resource is recorded in both
accounts, as CloudTrail does: account B encrypts with account A's KMS key;
A's trail holds the event with the caller shown as an AWSAccount, B's holds
it with B's user, and both share a sharedEventID. A denied cross-account
call is recorded only in the caller's account."""
import json
import os
import time

import botocore.exceptions
import pytest

from org_helpers import client, start_two_accounts


def events_named(cloudtrail, name, want, timeout=10.0):
    """Records of EventName=name, polling until `want` of them appear (read-only
    records are group-committed within a second)."""
    deadline = time.time() + timeout
    while True:
        found = cloudtrail.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
        records = [json.loads(e["CloudTrailEvent"]) for e in found]
        if len(records) >= want or time.time() > deadline:
            return records
        time.sleep(0.2)


@pytest.fixture(scope="module")
def accounts(workdir):
    s, member, member_admin = start_two_accounts(os.path.join(workdir, "audit-cross-account"))
    yield s, member, member_admin
    s.stop()


def test_cross_account_use_is_recorded_in_both_accounts(accounts):
    server, b_account, b_admin = accounts
    a_account = server.client("sts").get_caller_identity()["Account"]
    kms_a = server.client("kms")
    key_arn = kms_a.create_key(Description="shared")["KeyMetadata"]["Arn"]

    iam_b = client(server, "iam", b_admin)
    iam_b.create_user(UserName="app")
    iam_b.put_user_policy(UserName="app", PolicyName="use", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:DescribeKey"],
             "Resource": key_arn}]}))
    ak = iam_b.create_access_key(UserName="app")["AccessKey"]
    kms_b = client(server, "kms", {"AccessKeyId": ak["AccessKeyId"],
                                   "SecretAccessKey": ak["SecretAccessKey"]})

    # Denied (A's key policy does not trust B yet): only B records it.
    with pytest.raises(botocore.exceptions.ClientError) as denied:
        kms_b.describe_key(KeyId=key_arn)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"

    policy = json.loads(kms_a.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    policy["Statement"].append({
        "Sid": "B", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{b_account}:root"},
        "Action": ["kms:Encrypt", "kms:DescribeKey"], "Resource": "*"})
    kms_a.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))
    kms_b.encrypt(KeyId=key_arn, Plaintext=b"shared secret")

    trail_a = server.client("cloudtrail")
    trail_b = client(server, "cloudtrail", b_admin)
    in_b = events_named(trail_b, "Encrypt", 1)
    in_a = events_named(trail_a, "Encrypt", 1)
    assert len(in_b) == 1 and len(in_a) == 1
    b_rec, a_rec = in_b[0], in_a[0]
    assert b_rec["recipientAccountId"] == b_account
    assert b_rec["userIdentity"]["arn"] == f"arn:aws:iam::{b_account}:user/app"
    assert a_rec["recipientAccountId"] == a_account
    assert a_rec["userIdentity"] == {"type": "AWSAccount",
                                     "principalId": b_rec["userIdentity"]["principalId"],
                                     "accountId": b_account}
    assert a_rec["sharedEventID"] == b_rec["sharedEventID"]
    assert a_rec["eventID"] != b_rec["eventID"]
    assert a_rec["requestID"] == b_rec["requestID"]
    assert "shared secret" not in json.dumps(a_rec) and "shared secret" not in json.dumps(b_rec)

    # The denied DescribeKey is B's alone.
    assert any(r.get("errorCode") == "AccessDeniedException"
               for r in events_named(trail_b, "DescribeKey", 1))
    assert events_named(trail_a, "DescribeKey", 1, timeout=1.5) == []
