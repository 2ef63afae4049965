"""IAM roles and STS AssumeRole with temporary credentials, with the real
aws CLI and boto3 against a real rampart server."""
import json
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
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def account_of(server):
    return server.client("sts").get_caller_identity()["Account"]


def trust(principal, condition=None):
    stmt = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        stmt["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [stmt]})


ALLOW_LIST_USERS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]})


def session_client(server, service, creds):
    return boto3.session.Session().client(
        service, endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=botocore.config.Config(retries={"max_attempts": 1}))


def make_role(server, principal=None, condition=None, **kw):
    iam = server.client("iam")
    acct = account_of(server)
    name = uniq("role")
    principal = principal or {"AWS": f"arn:aws:iam::{acct}:root"}
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(principal, condition),
                           **kw)["Role"]
    return name, role


def test_role_crud_and_policies(server):
    iam = server.client("iam")
    acct = account_of(server)
    name, role = make_role(server, Path="/svc/", Description="d", MaxSessionDuration=7200)
    assert role["Arn"] == f"arn:aws:iam::{acct}:role/svc/{name}"
    assert role["RoleId"].startswith("AROA") and role["MaxSessionDuration"] == 7200
    got = iam.get_role(RoleName=name.upper())["Role"]
    assert got["RoleId"] == role["RoleId"] and got["Description"] == "d"
    assert got["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == "sts:AssumeRole"
    assert name in [r["RoleName"] for r in iam.list_roles(PathPrefix="/svc/")["Roles"]]
    code, _ = error_of(iam.create_role, RoleName=name, AssumeRolePolicyDocument=trust("*"))
    assert code == "EntityAlreadyExists"

    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=ALLOW_LIST_USERS)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["p"]
    doc = iam.get_role_policy(RoleName=name, PolicyName="p")["PolicyDocument"]
    assert doc["Statement"][0]["Action"] == "iam:ListUsers"
    arn = iam.create_policy(PolicyName=uniq("rp"), PolicyDocument=ALLOW_LIST_USERS)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    assert [a["PolicyArn"] for a in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]] == [arn]

    code, _ = error_of(iam.delete_role, RoleName=name)
    assert code == "DeleteConflict"
    iam.delete_role_policy(RoleName=name, PolicyName="p")
    code, _ = error_of(iam.delete_role, RoleName=name)
    assert code == "DeleteConflict"
    iam.detach_role_policy(RoleName=name, PolicyArn=arn)
    iam.delete_role(RoleName=name)
    code, _ = error_of(iam.get_role, RoleName=name)
    assert code == "NoSuchEntity"


def test_create_role_validation(server):
    iam = server.client("iam")
    code, _ = error_of(iam.create_role, RoleName=uniq("bad"), AssumeRolePolicyDocument="{not json")
    assert code == "MalformedPolicyDocument"
    big = trust({"AWS": [f"arn:aws:iam::{n:012d}:root" for n in range(100)]})
    code, msg = error_of(iam.create_role, RoleName=uniq("big"), AssumeRolePolicyDocument=big)
    assert code == "LimitExceeded" and "2048" in msg


def test_root_may_not_assume_roles(server):
    _, role = make_role(server)
    code, msg = error_of(server.client("sts").assume_role, RoleArn=role["Arn"],
                         RoleSessionName="s1")
    assert code == "AccessDenied" and msg == "Roles may not be assumed by root accounts."


def test_assume_role_and_use_session(server):
    acct = account_of(server)
    name, role = make_role(server)
    server.client("iam").put_role_policy(RoleName=name, PolicyName="list",
                                         PolicyDocument=ALLOW_LIST_USERS)
    out = server.admin_client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess1")
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SessionToken"]) >= 64
    arn = f"arn:aws:sts::{acct}:assumed-role/{name}/sess1"
    assert out["AssumedRoleUser"] == {"AssumedRoleId": f"{role['RoleId']}:sess1", "Arn": arn}

    ident = session_client(server, "sts", creds).get_caller_identity()
    assert ident["Arn"] == arn and ident["UserId"] == f"{role['RoleId']}:sess1"
    assert ident["Account"] == acct
    iam = session_client(server, "iam", creds)
    iam.list_users()
    code, msg = error_of(iam.create_user, UserName=uniq("no"))
    assert code == "AccessDenied" and arn in msg


def test_external_id_condition(server):
    _, role = make_role(server, condition={"StringEquals": {"sts:ExternalId": "secret-123"}})
    sts = server.admin_client("sts")
    code, msg = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1")
    assert code == "AccessDenied"
    assert msg == (f"User: {server.admin_arn} is not authorized to perform: "
                   f"sts:AssumeRole on resource: {role['Arn']}")
    code, _ = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1",
                       ExternalId="wrong-id")
    assert code == "AccessDenied"
    sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", ExternalId="secret-123")


def test_role_trusting_someone_else_denies(server):
    _, role = make_role(server, principal={"AWS": "arn:aws:iam::999988887777:root"})
    code, _ = error_of(server.admin_client("sts").assume_role, RoleArn=role["Arn"], RoleSessionName="s1")
    assert code == "AccessDenied"
    acct = account_of(server)
    code, _ = error_of(server.admin_client("sts").assume_role,
                       RoleArn=f"arn:aws:iam::{acct}:role/{uniq('ghost')}", RoleSessionName="s1")
    assert code == "AccessDenied"


def test_user_needs_permission_when_trust_names_the_account(server):
    iam = server.client("iam")
    _, role = make_role(server)
    user = uniq("u")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    sts = server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    code, _ = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1")
    assert code == "AccessDenied"
    iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]}]}))
    sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")


def test_tampered_or_missing_session_token_is_rejected(server):
    _, role = make_role(server)
    creds = server.admin_client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="s1")["Credentials"]
    bad = dict(creds, SessionToken=creds["SessionToken"][:-4] + "AAAA")
    if bad["SessionToken"] == creds["SessionToken"]:
        bad["SessionToken"] = creds["SessionToken"][:-4] + "BBBB"
    code, _ = error_of(session_client(server, "sts", bad).get_caller_identity)
    assert code == "InvalidClientTokenId"
    no_token = server.client("sts", access_key=creds["AccessKeyId"],
                             secret_key=creds["SecretAccessKey"])
    code, _ = error_of(no_token.get_caller_identity)
    assert code == "InvalidClientTokenId"


def test_cli_with_session_token(server):
    acct = account_of(server)
    name, role = make_role(server)
    out = json.loads(server.aws("sts", "assume-role", "--role-arn", role["Arn"],
                                "--role-session-name", "cli-session",
                                env_extra=server.admin_env()).stdout)
    c = out["Credentials"]
    r = server.aws("sts", "get-caller-identity", env_extra={
        "AWS_ACCESS_KEY_ID": c["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
        "AWS_SESSION_TOKEN": c["SessionToken"], "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    assert json.loads(r.stdout)["Arn"] == f"arn:aws:sts::{acct}:assumed-role/{name}/cli-session"


def test_duration_seconds_limits(server):
    _, role = make_role(server)
    sts = server.admin_client("sts")
    code, msg = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1",
                         DurationSeconds=7200)
    assert code == "ValidationError" and "MaxSessionDuration" in msg
    _, long_role = make_role(server, MaxSessionDuration=7200)
    creds = sts.assume_role(RoleArn=long_role["Arn"], RoleSessionName="s1",
                            DurationSeconds=7200)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")


def test_policy_attached_to_a_role_cannot_be_deleted(server):
    iam = server.client("iam")
    name = f"att-{uuid.uuid4().hex[:10]}"
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_of(server)}:root"},
         "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    doc = {"Version": "2012-10-17",
           "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}
    arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.delete_policy(PolicyArn=arn)
    assert e.value.response["Error"]["Code"] == "DeleteConflict"
    iam.detach_role_policy(RoleName=name, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
