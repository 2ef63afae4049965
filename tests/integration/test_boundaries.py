"""Permissions boundaries with the real aws CLI and boto3: a boundary caps
what a user's or a role's policies grant, is shown by GetUser/GetRole/
ListUsers/ListRoles, is counted by GetPolicy, blocks DeletePolicy while in
use, and iam:PermissionsBoundary lets administrators require one."""
import json

from iam_helpers import allow, aws_as, denied, error_code, new_user, uniq

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def trust(server):
    account = server.client("sts").get_caller_identity()["Account"]
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "sts:AssumeRole"}]})


def test_boundary_caps_admin_policy(server):
    root = server.client("iam")
    cap = root.create_policy(PolicyName=uniq("cap"),
                             PolicyDocument=json.dumps(allow("iam:List*")))["Policy"]["Arn"]
    name, iam, creds = new_user(server)
    root.attach_user_policy(UserName=name, PolicyArn=ADMIN)
    iam.get_user(UserName=name)
    server.aws("iam", "put-user-permissions-boundary", "--user-name", name,
               "--permissions-boundary", cap)
    iam.list_users()
    msg = denied(iam.get_user, UserName=name)
    assert "because no permissions boundary allows the iam:GetUser action" in msg
    r = aws_as(server, creds, "iam", "create-user", "--user-name", uniq("x"), check=False)
    assert r.returncode != 0 and "AccessDenied" in r.stderr
    user = root.get_user(UserName=name)["User"]
    assert user["PermissionsBoundary"] == {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                                           "PermissionsBoundaryArn": cap}
    listed = [u for u in root.list_users()["Users"] if u["UserName"] == name]
    assert listed[0]["PermissionsBoundary"]["PermissionsBoundaryArn"] == cap
    policy = root.get_policy(PolicyArn=cap)["Policy"]
    assert policy["PermissionsBoundaryUsageCount"] == 1 and policy["AttachmentCount"] == 0
    code, _ = error_code(root.delete_policy, PolicyArn=cap)
    assert code == "DeleteConflict"
    root.delete_user_permissions_boundary(UserName=name)
    iam.get_user(UserName=name)
    assert "PermissionsBoundary" not in root.get_user(UserName=name)["User"]
    assert root.get_policy(PolicyArn=cap)["Policy"]["PermissionsBoundaryUsageCount"] == 0


def test_create_user_and_role_with_boundary(server):
    root = server.client("iam")
    name = uniq("b")
    user = root.create_user(UserName=name, PermissionsBoundary=ADMIN)["User"]
    assert user["PermissionsBoundary"]["PermissionsBoundaryArn"] == ADMIN
    role = root.create_role(RoleName=name, AssumeRolePolicyDocument=trust(server),
                            PermissionsBoundary=ADMIN)["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == ADMIN
    got = root.get_role(RoleName=name)["Role"]
    assert got["PermissionsBoundary"]["PermissionsBoundaryType"] == "PermissionsBoundaryPolicy"
    roles = [r for r in root.list_roles()["Roles"] if r["RoleName"] == name]
    assert roles[0]["PermissionsBoundary"]["PermissionsBoundaryArn"] == ADMIN
    root.delete_role_permissions_boundary(RoleName=name)
    assert "PermissionsBoundary" not in root.get_role(RoleName=name)["Role"]
    root.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=ADMIN)
    assert root.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == ADMIN
    missing = user["Arn"].split(":user/")[0] + ":policy/" + uniq("none")
    code, _ = error_code(root.create_user, UserName=uniq("b"), PermissionsBoundary=missing)
    assert code == "NoSuchEntity"
    code, _ = error_code(root.put_user_permissions_boundary, UserName=name,
                         PermissionsBoundary="not-an-arn-at-all-really")
    assert code in ("InvalidInput", "ValidationError")


def test_permissions_boundary_condition_key_requires_a_boundary(server):
    """An administrator may create users only with a given boundary
    (iam:PermissionsBoundary), as in AWS's delegation examples."""
    root = server.client("iam")
    cap = root.create_policy(PolicyName=uniq("cap"),
                             PolicyDocument=json.dumps(allow("iam:List*")))["Policy"]["Arn"]
    rule = allow(["iam:CreateUser", "iam:PutUserPermissionsBoundary"],
                 condition={"StringEquals": {"iam:PermissionsBoundary": cap}})
    _, iam, _ = new_user(server, [rule])
    denied(iam.create_user, UserName=uniq("x"))
    denied(iam.create_user, UserName=uniq("x"), PermissionsBoundary=ADMIN)
    made = uniq("ok")
    iam.create_user(UserName=made, PermissionsBoundary=cap)
    denied(iam.put_user_permissions_boundary, UserName=made, PermissionsBoundary=ADMIN)
    iam.put_user_permissions_boundary(UserName=made, PermissionsBoundary=cap)
    # Attaching to a user with that boundary sees the key too.
    attach = allow("iam:AttachUserPolicy",
                   condition={"StringEquals": {"iam:PermissionsBoundary": cap}})
    _, iam2, _ = new_user(server, [attach])
    iam2.attach_user_policy(UserName=made, PolicyArn=ADMIN)
    plain = uniq("plain")
    root.create_user(UserName=plain)
    denied(iam2.attach_user_policy, UserName=plain, PolicyArn=ADMIN)


def test_role_boundary_caps_role_session(server):
    root = server.client("iam")
    role = uniq("r")
    arn = root.create_role(RoleName=role, AssumeRolePolicyDocument=trust(server))["Role"]["Arn"]
    root.attach_role_policy(RoleName=role, PolicyArn=ADMIN)
    root.put_role_permissions_boundary(RoleName=role,
                                       PermissionsBoundary="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    creds = server.admin_client("sts").assume_role(RoleArn=arn, RoleSessionName="capped")["Credentials"]
    iam = server.client("iam", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])
    iam.list_roles()
    denied(iam.create_user, UserName=uniq("x"))
