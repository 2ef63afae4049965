"""IAM update operations (UpdateAssumeRolePolicy, UpdateRole,
UpdateRoleDescription, UpdateUser) with the real aws CLI and boto3 against a
real rampart server."""
import json
import uuid

import boto3
import botocore.config

from conftest import REGION
from iam_helpers import account_of, uniq
from iam_helpers import error_code as error_of


def trust(principal):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]})


def allow(action, resource="*"):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": action, "Resource": resource}]})


def user_with_key(server, **kw):
    iam = server.client("iam")
    name = uniq("u")
    iam.create_user(UserName=name, **kw)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key


def client_for(server, service, key, token=None):
    return boto3.session.Session().client(
        service, endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
        aws_session_token=token, config=botocore.config.Config(retries={"max_attempts": 1}))


# --- UpdateAssumeRolePolicy ---

def test_new_trust_policy_governs_the_very_next_assume_role(server):
    iam = server.client("iam")
    acct = account_of(server)
    sts = server.admin_client("sts")
    name = uniq("role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(
        {"AWS": f"arn:aws:iam::{acct}:root"}))["Role"]["Arn"]
    sts.assume_role(RoleArn=arn, RoleSessionName="before")

    iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust(
        {"AWS": "arn:aws:iam::999988887777:root"}))
    code, _ = error_of(sts.assume_role, RoleArn=arn, RoleSessionName="after")
    assert code == "AccessDenied"
    doc = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    assert doc["Statement"][0]["Principal"]["AWS"] == "arn:aws:iam::999988887777:root"

    iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust(
        {"AWS": server.admin_arn}))
    sts.assume_role(RoleArn=arn, RoleSessionName="again")


def test_update_assume_role_policy_validation(server):
    iam = server.client("iam")
    acct = account_of(server)
    name = uniq("role")
    good = trust({"AWS": f"arn:aws:iam::{acct}:root"})
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=good)
    code, _ = error_of(iam.update_assume_role_policy, RoleName=name, PolicyDocument="{not json")
    assert code == "MalformedPolicyDocument"
    # A trust policy must name a principal.
    code, _ = error_of(iam.update_assume_role_policy, RoleName=name,
                       PolicyDocument=allow("sts:AssumeRole"))
    assert code == "MalformedPolicyDocument"
    big = trust({"AWS": [f"arn:aws:iam::{n:012d}:root" for n in range(100)]})
    code, msg = error_of(iam.update_assume_role_policy, RoleName=name, PolicyDocument=big)
    assert code == "LimitExceeded" and "2048" in msg
    code, _ = error_of(iam.update_assume_role_policy, RoleName=uniq("ghost"), PolicyDocument=good)
    assert code == "NoSuchEntity"
    # Failed updates left the stored document alone.
    doc = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    assert doc == json.loads(good)


def test_update_assume_role_policy_needs_permission(server):
    iam = server.client("iam")
    acct = account_of(server)
    name = uniq("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust({"AWS": acct}))
    user, key = user_with_key(server)
    iam.put_user_policy(UserName=user, PolicyName="get", PolicyDocument=allow("iam:GetRole"))
    code, msg = error_of(client_for(server, "iam", key).update_assume_role_policy, RoleName=name,
                         PolicyDocument=trust({"AWS": acct}))
    assert code == "AccessDenied" and "iam:UpdateAssumeRolePolicy" in msg


# --- UpdateRole / UpdateRoleDescription ---

def test_update_role_and_description(server):
    iam = server.client("iam")
    acct = account_of(server)
    name = uniq("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust({"AWS": acct}),
                    Description="first", Tags=[{"Key": "team", "Value": "blue"}])
    iam.update_role(RoleName=name, MaxSessionDuration=7200)
    got = iam.get_role(RoleName=name)["Role"]
    assert got["MaxSessionDuration"] == 7200 and got["Description"] == "first"
    iam.update_role(RoleName=name, Description="second")
    got = iam.get_role(RoleName=name)["Role"]
    assert got["MaxSessionDuration"] == 7200 and got["Description"] == "second"

    role = iam.update_role_description(RoleName=name.upper(), Description="third")["Role"]
    assert role["RoleName"] == name and role["Description"] == "third"
    assert role["Arn"] == f"arn:aws:iam::{acct}:role/{name}"
    assert role["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert iam.get_role(RoleName=name)["Role"]["Description"] == "third"

    code, _ = error_of(iam.update_role, RoleName=uniq("ghost"), Description="x")
    assert code == "NoSuchEntity"
    code, _ = error_of(iam.update_role_description, RoleName=uniq("ghost"), Description="x")
    assert code == "NoSuchEntity"


def test_update_role_max_session_duration_bounds(server):
    iam = server.client("iam")
    acct = account_of(server)
    name = uniq("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust({"AWS": acct}))
    # botocore checks only the lower bound itself: send both unchecked.
    ak, sk = server.credentials()
    raw = boto3.session.Session().client(
        "iam", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=ak,
        aws_secret_access_key=sk,
        config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}))
    for bad in (3599, 43201):
        code, _ = error_of(raw.update_role, RoleName=name, MaxSessionDuration=bad)
        assert code == "ValidationError"
    server.aws("iam", "update-role", "--role-name", name, "--max-session-duration", "43200")
    assert iam.get_role(RoleName=name)["Role"]["MaxSessionDuration"] == 43200
    # The new maximum applies to AssumeRole at once.
    server.client("iam").update_assume_role_policy(
        RoleName=name, PolicyDocument=trust({"AWS": server.admin_arn}))
    creds = server.admin_client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{acct}:role/{name}", RoleSessionName="long",
        DurationSeconds=43200)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")


# --- UpdateUser ---

def test_rename_user_carries_everything_along(server):
    iam = server.client("iam")
    acct = account_of(server)
    old, key = user_with_key(server, Tags=[{"Key": "dept", "Value": "ops"}])
    new = uniq("renamed")
    group = uniq("g")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=old)
    iam.put_user_policy(UserName=old, PolicyName="inline", PolicyDocument=allow("iam:ListUsers"))
    iam.attach_user_policy(UserName=old,
                           PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.put_user_permissions_boundary(UserName=old,
                                      PermissionsBoundary="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.create_login_profile(UserName=old, Password="Rename-Test-Pa55word!")
    user_sts = client_for(server, "sts", key)
    assert user_sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{acct}:user/{old}"
    user_id = iam.get_user(UserName=old)["User"]["UserId"]

    iam.update_user(UserName=old, NewUserName=new, NewPath="/moved/")

    # The same key, right away, authenticates as the new identity.
    ident = user_sts.get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{acct}:user/moved/{new}"
    assert ident["UserId"] == user_id
    code, _ = error_of(iam.get_user, UserName=old)
    assert code == "NoSuchEntity"
    got = iam.get_user(UserName=new)["User"]
    assert got["UserId"] == user_id and got["Path"] == "/moved/"
    assert got["Arn"] == f"arn:aws:iam::{acct}:user/moved/{new}"
    assert got["PermissionsBoundary"]["PermissionsBoundaryArn"].endswith("/IAMReadOnlyAccess")
    assert got["Tags"] == [{"Key": "dept", "Value": "ops"}]
    keys = iam.list_access_keys(UserName=new)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["UserName"]) for k in keys] == [(key["AccessKeyId"], new)]
    assert iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["UserName"] == new
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=new)["Groups"]] == [group]
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [new]
    assert iam.list_user_policies(UserName=new)["PolicyNames"] == ["inline"]
    attached = iam.list_attached_user_policies(UserName=new)["AttachedPolicies"]
    assert [a["PolicyName"] for a in attached] == ["IAMReadOnlyAccess"]
    assert iam.get_login_profile(UserName=new)["LoginProfile"]["UserName"] == new
    # The user's own permissions still apply under the new name (the
    # boundary and the policies both allow reading IAM).
    client_for(server, "iam", key).list_users()
    code, _ = error_of(client_for(server, "iam", key).create_group, GroupName=uniq("no"))
    assert code == "AccessDenied"


def test_rename_moves_session_token_sessions_too(server):
    iam = server.client("iam")
    acct = account_of(server)
    old, key = user_with_key(server)
    creds = client_for(server, "sts", key).get_session_token()["Credentials"]
    session = client_for(server, "sts", creds, token=creds["SessionToken"])
    assert session.get_caller_identity()["Arn"] == f"arn:aws:iam::{acct}:user/{old}"
    new = uniq("renamed")
    iam.update_user(UserName=old, NewUserName=new)
    assert session.get_caller_identity()["Arn"] == f"arn:aws:iam::{acct}:user/{new}"


def test_update_user_errors(server):
    iam = server.client("iam")
    a, _ = user_with_key(server)
    b, _ = user_with_key(server)
    code, msg = error_of(iam.update_user, UserName=a, NewUserName=b.upper())
    assert code == "EntityAlreadyExists" and b.upper() in msg
    code, msg = error_of(iam.update_user, UserName=uniq("ghost"), NewUserName=uniq("x"))
    assert code == "NoSuchEntity"
    # Changing only the case of a name is allowed: it is the same user.
    iam.update_user(UserName=a, NewUserName=a.upper())
    assert iam.get_user(UserName=a)["User"]["UserName"] == a.upper()
    # The path alone.
    iam.update_user(UserName=a, NewPath="/p/q/")
    assert iam.get_user(UserName=a)["User"]["Path"] == "/p/q/"
    r = server.aws("iam", "update-user", "--user-name", a, "--new-path", "no-slashes",
                   check=False)
    assert r.returncode != 0 and "ValidationError" in r.stderr, r.stderr


def test_rename_needs_permission_on_the_new_name(server):
    iam = server.client("iam")
    acct = account_of(server)
    target = uniq("target")
    iam.create_user(UserName=target)
    admin, key = user_with_key(server)
    iam.put_user_policy(UserName=admin, PolicyName="rename", PolicyDocument=allow(
        "iam:UpdateUser", f"arn:aws:iam::{acct}:user/{target}*"))
    caller = client_for(server, "iam", key)
    code, msg = error_of(caller.update_user, UserName=target, NewUserName="elsewhere-" + target)
    assert code == "AccessDenied" and f"user/elsewhere-{target}" in msg
    assert iam.get_user(UserName=target)["User"]["UserName"] == target
    caller.update_user(UserName=target, NewUserName=target + "-2")
    assert iam.get_user(UserName=target + "-2")["User"]["UserName"] == target + "-2"


def test_cli_update_user(server):
    old = uniq("cli")
    new = uniq("cli-new")
    server.aws("iam", "create-user", "--user-name", old)
    server.aws("iam", "update-user", "--user-name", old, "--new-user-name", new)
    out = json.loads(server.aws("iam", "get-user", "--user-name", new).stdout)
    assert out["User"]["UserName"] == new
    r = server.aws("iam", "get-user", "--user-name", old, check=False)
    assert r.returncode != 0 and "NoSuchEntity" in r.stderr


# --- ListEntitiesForPolicy ---

def entities(out):
    return ([g["GroupName"] for g in out["PolicyGroups"]],
            [u["UserName"] for u in out["PolicyUsers"]],
            [r["RoleName"] for r in out["PolicyRoles"]])


def test_list_entities_for_customer_policy(server):
    iam = server.client("iam")
    acct = account_of(server)
    tag = uuid.uuid4().hex[:6]
    arn = iam.create_policy(PolicyName=uniq("lefp"), PolicyDocument=allow("iam:ListUsers"))["Policy"]["Arn"]
    g = f"g-{tag}"
    u1, u2, u3 = f"a-{tag}", f"b-{tag}", f"c-{tag}"
    r1 = f"r-{tag}"
    iam.create_group(GroupName=g, Path="/team/")
    iam.attach_group_policy(GroupName=g, PolicyArn=arn)
    iam.create_user(UserName=u1)
    iam.attach_user_policy(UserName=u1, PolicyArn=arn)
    iam.create_user(UserName=u2, Path="/team/", PermissionsBoundary=arn)
    iam.create_user(UserName=u3, PermissionsBoundary=arn)
    iam.attach_user_policy(UserName=u3, PolicyArn=arn)
    iam.create_role(RoleName=r1, AssumeRolePolicyDocument=trust({"AWS": acct}), Path="/team/")
    iam.attach_role_policy(RoleName=r1, PolicyArn=arn)

    assert entities(iam.list_entities_for_policy(PolicyArn=arn)) == ([g], [u1, u2, u3], [r1])
    out = iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsPolicy")
    assert entities(out) == ([g], [u1, u3], [r1])
    out = iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsBoundary")
    assert entities(out) == ([], [u2, u3], [])
    out = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="Role")
    assert entities(out) == ([], [], [r1])
    out = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="User",
                                       PolicyUsageFilter="PermissionsBoundary")
    assert entities(out) == ([], [u2, u3], [])
    out = iam.list_entities_for_policy(PolicyArn=arn, PathPrefix="/team/")
    assert entities(out) == ([g], [u2], [r1])
    ids = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="Group")["PolicyGroups"]
    assert ids[0]["GroupId"] == iam.get_group(GroupName=g)["Group"]["GroupId"]

    # Paging walks groups, then users, then roles, two at a time.
    seen, marker, pages = [], None, 0
    while True:
        kw = {"Marker": marker} if marker else {}
        out = iam.list_entities_for_policy(PolicyArn=arn, MaxItems=2, **kw)
        groups, users, roles = entities(out)
        seen += groups + users + roles
        pages += 1
        if not out["IsTruncated"]:
            break
        assert len(groups + users + roles) == 2
        marker = out["Marker"]
    assert seen == [g, u1, u2, u3, r1] and pages == 3
    pager = iam.get_paginator("list_entities_for_policy")
    users = [u["UserName"] for p in pager.paginate(PolicyArn=arn, PaginationConfig={"PageSize": 1})
             for u in p["PolicyUsers"]]
    assert users == [u1, u2, u3]

    iam.detach_user_policy(UserName=u1, PolicyArn=arn)
    assert entities(iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="User"))[1] == [u2, u3]


def test_list_entities_for_aws_managed_policy_and_errors(server):
    iam = server.client("iam")
    acct = account_of(server)
    arn = "arn:aws:iam::aws:policy/SecurityAudit"
    role = uniq("audit")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust({"AWS": acct}))
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    try:
        roles = entities(iam.list_entities_for_policy(PolicyArn=arn))[2]
        assert role in roles
        r = server.aws("iam", "list-entities-for-policy", "--policy-arn", arn,
                       "--entity-filter", "Role")
        assert role in [x["RoleName"] for x in json.loads(r.stdout)["PolicyRoles"]]
    finally:
        # Other tests expect unused AWS managed policies to stay unused.
        iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    assert role not in entities(iam.list_entities_for_policy(PolicyArn=arn))[2]
    code, _ = error_of(iam.list_entities_for_policy,
                       PolicyArn=f"arn:aws:iam::{acct}:policy/{uniq('ghost')}")
    assert code == "NoSuchEntity"
    user, key = user_with_key(server)
    code, msg = error_of(client_for(server, "iam", key).list_entities_for_policy, PolicyArn=arn)
    assert code == "AccessDenied" and "iam:ListEntitiesForPolicy" in msg


# --- STS GetAccessKeyInfo ---

def test_get_access_key_info(server):
    iam = server.client("iam")
    sts = server.client("sts")
    acct = account_of(server)
    name, key = user_with_key(server)
    assert sts.get_access_key_info(AccessKeyId=key["AccessKeyId"])["Account"] == acct
    # Inactive keys still answer; so do session keys.
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert sts.get_access_key_info(AccessKeyId=key["AccessKeyId"])["Account"] == acct
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    creds = client_for(server, "sts", key).get_session_token()["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert sts.get_access_key_info(AccessKeyId=creds["AccessKeyId"])["Account"] == acct
    r = server.aws("sts", "get-access-key-info", "--access-key-id", key["AccessKeyId"])
    assert json.loads(r.stdout)["Account"] == acct
    code, _ = error_of(sts.get_access_key_info, AccessKeyId="AKIA" + "Z" * 16)
    assert code == "ValidationError"
    # The caller needs sts:GetAccessKeyInfo.
    code, msg = error_of(client_for(server, "sts", key).get_access_key_info,
                         AccessKeyId=key["AccessKeyId"])
    assert code == "AccessDenied" and "sts:GetAccessKeyInfo" in msg
