"""IAM users, access keys and policies with the real aws CLI and boto3
against a real rampart server."""
import json
import os
import threading
import time
import uuid

import botocore.exceptions
import pytest

from conftest import Rampart

POLICY = {"Version": "2012-10-17",
          "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_code(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def account_of(server):
    return server.client("sts").get_caller_identity()["Account"]


# --- users ---------------------------------------------------------------------

def test_cli_create_get_list_tag_delete_user(server):
    name = uniq("alice")
    acct = account_of(server)
    out = json.loads(server.aws("iam", "create-user", "--user-name", name, "--path", "/eng/",
                                "--tags", "Key=team,Value=red").stdout)["User"]
    assert out["Arn"] == f"arn:aws:iam::{acct}:user/eng/{name}"
    assert out["UserId"].startswith("AIDA") and out["Path"] == "/eng/"
    assert out["Tags"] == [{"Key": "team", "Value": "red"}]

    got = json.loads(server.aws("iam", "get-user", "--user-name", name.upper()).stdout)["User"]
    assert got["UserName"] == name and got["UserId"] == out["UserId"]

    listed = json.loads(server.aws("iam", "list-users", "--path-prefix", "/eng/").stdout)["Users"]
    assert name in [u["UserName"] for u in listed]
    assert all(u["Path"].startswith("/eng/") for u in listed)

    server.aws("iam", "tag-user", "--user-name", name, "--tags", "Key=env,Value=prod")
    tags = json.loads(server.aws("iam", "list-user-tags", "--user-name", name).stdout)["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "red", "env": "prod"}
    server.aws("iam", "untag-user", "--user-name", name, "--tag-keys", "team")
    tags = json.loads(server.aws("iam", "list-user-tags", "--user-name", name).stdout)["Tags"]
    assert tags == [{"Key": "env", "Value": "prod"}]

    server.aws("iam", "delete-user", "--user-name", name)
    r = server.aws("iam", "get-user", "--user-name", name, check=False)
    assert r.returncode != 0 and "NoSuchEntity" in r.stderr


def test_get_user_without_name_is_root(server):
    acct = account_of(server)
    u = server.client("iam").get_user()["User"]
    assert u["Arn"] == f"arn:aws:iam::{acct}:root" and u["UserId"] == acct


def test_entity_already_exists_and_no_such_entity(server):
    iam = server.client("iam")
    name = uniq("dup")
    iam.create_user(UserName=name)
    code, msg = error_code(iam.create_user, UserName=name)
    assert code == "EntityAlreadyExists" and name in msg
    code, _ = error_code(iam.create_user, UserName=name.upper())  # names ignore case
    assert code == "EntityAlreadyExists"
    code, msg = error_code(iam.get_user, UserName=uniq("ghost"))
    assert code == "NoSuchEntity" and "cannot be found" in msg
    code, _ = error_code(iam.delete_user, UserName=uniq("ghost"))
    assert code == "NoSuchEntity"
    code, _ = error_code(iam.get_policy, PolicyArn=f"arn:aws:iam::{account_of(server)}:policy/nope")
    assert code == "NoSuchEntity"
    iam.delete_user(UserName=name)


def test_list_users_pagination(server):
    iam = server.client("iam")
    path = f"/{uniq('page')}/"
    names = sorted(uniq("p") for _ in range(5))
    for n in names:
        iam.create_user(UserName=n, Path=path)
    first = iam.list_users(PathPrefix=path, MaxItems=2)
    assert first["IsTruncated"] is True and len(first["Users"]) == 2
    seen = [u["UserName"] for u in first["Users"]]
    marker = first["Marker"]
    while marker:
        page = iam.list_users(PathPrefix=path, MaxItems=2, Marker=marker)
        seen += [u["UserName"] for u in page["Users"]]
        marker = page.get("Marker") if page["IsTruncated"] else None
    assert seen == names
    # The paginator walks the same pages.
    pages = iam.get_paginator("list_users").paginate(PathPrefix=path, PaginationConfig={"PageSize": 2})
    assert [u["UserName"] for p in pages for u in p["Users"]] == names
    for n in names:
        iam.delete_user(UserName=n)


# --- access keys -----------------------------------------------------------------

def test_access_key_authenticates_the_user_until_deactivated(server):
    iam = server.client("iam")
    name = uniq("keyed")
    user = iam.create_user(UserName=name)["User"]
    key = json.loads(server.aws("iam", "create-access-key", "--user-name", name).stdout)["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    assert key["Status"] == "Active" and len(key["SecretAccessKey"]) == 40

    # The new key signs requests as the user, with the aws CLI.
    env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    who = json.loads(server.aws("sts", "get-caller-identity", env_extra=env).stdout)
    assert who["Arn"] == user["Arn"] and who["UserId"] == user["UserId"]
    # ... and with boto3.
    sts = server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"] == user["Arn"]
    # An IAM user is not root: the root-only authorizer denies it IAM calls.
    user_iam = server.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    code, msg = error_code(user_iam.list_users)
    assert code == "AccessDenied" and user["Arn"] in msg

    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"], k["UserName"]) for k in keys] == \
        [(key["AccessKeyId"], "Active", name)]

    server.aws("iam", "update-access-key", "--user-name", name, "--access-key-id",
               key["AccessKeyId"], "--status", "Inactive")
    code, _ = error_code(sts.get_caller_identity)
    assert code == "InvalidClientTokenId"
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"

    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert sts.get_caller_identity()["Arn"] == user["Arn"]

    code, msg = error_code(iam.delete_user, UserName=name)
    assert code == "DeleteConflict" and "access keys" in msg
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    code, _ = error_code(sts.get_caller_identity)
    assert code == "InvalidClientTokenId"
    code, _ = error_code(iam.delete_access_key, UserName=name, AccessKeyId=key["AccessKeyId"])
    assert code == "NoSuchEntity"
    iam.delete_user(UserName=name)


def test_at_most_two_access_keys(server):
    iam = server.client("iam")
    name = uniq("twokeys")
    iam.create_user(UserName=name)
    ids = [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(2)]
    code, msg = error_code(iam.create_access_key, UserName=name)
    assert code == "LimitExceeded" and "AccessKeysPerUser" in msg
    assert len(iam.list_access_keys(UserName=name)["AccessKeyMetadata"]) == 2
    code, _ = error_code(iam.create_access_key, UserName=uniq("ghost"))
    assert code == "NoSuchEntity"
    for i in ids:
        iam.delete_access_key(UserName=name, AccessKeyId=i)
    iam.delete_user(UserName=name)


# --- policies --------------------------------------------------------------------

def test_managed_policy_lifecycle(server):
    iam = server.client("iam")
    acct = account_of(server)
    pname, uname = uniq("pol"), uniq("attach")
    p = iam.create_policy(PolicyName=pname, Path="/app/", PolicyDocument=json.dumps(POLICY),
                          Description="read objects")["Policy"]
    assert p["Arn"] == f"arn:aws:iam::{acct}:policy/app/{pname}"
    assert p["PolicyId"].startswith("ANPA") and p["DefaultVersionId"] == "v1"
    code, _ = error_code(iam.create_policy, PolicyName=pname, PolicyDocument=json.dumps(POLICY))
    assert code == "EntityAlreadyExists"

    got = iam.get_policy(PolicyArn=p["Arn"])["Policy"]
    assert got["Description"] == "read objects" and got["AttachmentCount"] == 0
    v = iam.get_policy_version(PolicyArn=p["Arn"], VersionId="v1")["PolicyVersion"]
    assert v["Document"] == POLICY and v["IsDefaultVersion"] is True  # botocore URL-decodes it
    code, _ = error_code(iam.get_policy_version, PolicyArn=p["Arn"], VersionId="v9")
    assert code == "NoSuchEntity"
    local = iam.list_policies(Scope="Local", PathPrefix="/app/")["Policies"]
    assert pname in [x["PolicyName"] for x in local]

    iam.create_user(UserName=uname)
    iam.attach_user_policy(UserName=uname, PolicyArn=p["Arn"])
    attached = iam.list_attached_user_policies(UserName=uname)["AttachedPolicies"]
    assert attached == [{"PolicyName": pname, "PolicyArn": p["Arn"]}]
    assert iam.get_policy(PolicyArn=p["Arn"])["Policy"]["AttachmentCount"] == 1
    only = iam.list_policies(Scope="Local", OnlyAttached=True)["Policies"]
    assert p["Arn"] in [x["Arn"] for x in only]
    code, _ = error_code(iam.delete_policy, PolicyArn=p["Arn"])
    assert code == "DeleteConflict"
    code, msg = error_code(iam.delete_user, UserName=uname)
    assert code == "DeleteConflict" and "detach" in msg
    iam.detach_user_policy(UserName=uname, PolicyArn=p["Arn"])
    code, _ = error_code(iam.detach_user_policy, UserName=uname, PolicyArn=p["Arn"])
    assert code == "NoSuchEntity"
    iam.delete_user(UserName=uname)
    iam.delete_policy(PolicyArn=p["Arn"])
    code, _ = error_code(iam.get_policy, PolicyArn=p["Arn"])
    assert code == "NoSuchEntity"


def test_malformed_policy_document(server):
    bad = '{"Version": "2012-10-17", "Statement": [{"Effect": "Alow", "Action": "s3:*", "Resource": "*"}]}'
    r = server.aws("iam", "create-policy", "--policy-name", uniq("bad"), "--policy-document", bad,
                   check=False)
    assert r.returncode != 0 and "MalformedPolicyDocument" in r.stderr
    iam = server.client("iam")
    code, _ = error_code(iam.create_policy, PolicyName=uniq("bad"), PolicyDocument="{not json")
    assert code == "MalformedPolicyDocument"
    name = uniq("inl")
    iam.create_user(UserName=name)
    code, _ = error_code(iam.put_user_policy, UserName=name, PolicyName="p", PolicyDocument=bad)
    assert code == "MalformedPolicyDocument"
    iam.delete_user(UserName=name)


def test_inline_user_policy_round_trip(server):
    iam = server.client("iam")
    name = uniq("inline")
    iam.create_user(UserName=name)
    doc = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Tagged", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"],
        "Resource": "arn:aws:kms:*:*:key/*",
        "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}}]}
    iam.put_user_policy(UserName=name, PolicyName="crypto", PolicyDocument=json.dumps(doc))
    got = iam.get_user_policy(UserName=name, PolicyName="crypto")
    assert got["PolicyDocument"] == doc and got["UserName"] == name
    # The CLI shows the decoded document too.
    cli = json.loads(server.aws("iam", "get-user-policy", "--user-name", name,
                                "--policy-name", "crypto").stdout)
    assert cli["PolicyDocument"] == doc
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["crypto"]
    code, _ = error_code(iam.get_user_policy, UserName=name, PolicyName="other")
    assert code == "NoSuchEntity"
    # Inline user policies total at most 2,048 characters (whitespace excluded).
    big = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{'b' * 1900}/*"}]}
    code, _ = error_code(iam.put_user_policy, UserName=name, PolicyName="big",
                         PolicyDocument=json.dumps(big))
    assert code == "LimitExceeded"
    code, msg = error_code(iam.delete_user, UserName=name)
    assert code == "DeleteConflict" and "policies" in msg
    iam.delete_user_policy(UserName=name, PolicyName="crypto")
    code, _ = error_code(iam.delete_user_policy, UserName=name, PolicyName="crypto")
    assert code == "NoSuchEntity"
    iam.delete_user(UserName=name)


# --- durability ------------------------------------------------------------------

def test_acknowledged_users_survive_sigkill(workdir):
    data_dir = os.path.join(workdir, "iam-crash")
    s = Rampart(data_dir).start()
    iam = s.client("iam")
    acknowledged = []
    stop = threading.Event()

    def create_loop():
        i = 0
        while not stop.is_set():
            name = f"crash-{i}"
            i += 1
            try:
                iam.create_user(UserName=name)
            except Exception:  # the server died mid-call: not acknowledged
                return
            acknowledged.append(name)

    t = threading.Thread(target=create_loop)
    t.start()
    deadline = time.time() + 20
    while len(acknowledged) < 30 and time.time() < deadline:
        time.sleep(0.05)
    s.proc.kill()
    s.proc.wait()
    stop.set()
    t.join(timeout=30)
    s.stop()
    assert len(acknowledged) >= 30

    s2 = Rampart(data_dir).start()
    try:
        listed = [u["UserName"] for p in s2.client("iam").get_paginator("list_users").paginate()
                  for u in p["Users"]]
        missing = set(acknowledged) - set(listed)
        assert not missing, f"acknowledged but lost: {sorted(missing)}"
    finally:
        s2.stop()


def test_access_key_last_used_comes_from_the_audit_trail(server):

    iam = server.client("iam")
    name = f"lu-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    fresh = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert fresh["UserName"] == name
    assert fresh["AccessKeyLastUsed"]["ServiceName"] == "N/A"
    assert "LastUsedDate" not in fresh["AccessKeyLastUsed"]
    # A bad signature with the key is not a use of it.
    bad = server.client("sts", access_key=key["AccessKeyId"], secret_key="wrong" * 8)
    with pytest.raises(botocore.exceptions.ClientError):
        bad.get_caller_identity()
    server.client("sts", access_key=key["AccessKeyId"],
                  secret_key=key["SecretAccessKey"]).get_caller_identity()
    # Read-only calls reach the trail by group commit, within a second.
    deadline = time.time() + 5
    while True:
        used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
        if used["ServiceName"] != "N/A" or time.time() > deadline:
            break
        time.sleep(0.2)
    assert used["ServiceName"] == "sts" and used["Region"] == "us-east-1"
    assert "LastUsedDate" in used
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.get_access_key_last_used(AccessKeyId="AKIANOSUCHKEY0000000")
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"
