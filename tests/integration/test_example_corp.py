"""The Example Corporation ABAC scenario of issue 3, end to end on real IAM
roles: principal tags on roles, policies that compare request and resource
tags with ${aws:PrincipalTag/...}, refuse composite tag values, require an
application tag, enforce the [project]-[application]-[environment]-name
naming convention with ARN wildcards, and a permissions boundary that lets
project administrators create roles only with the right tags and only with
that boundary attached. Driven with boto3 sessions of the assumed roles."""
import json

from test_roles import account_of, error_of, session_client, uniq


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def tags(**kv):
    return [{"Key": k.replace("_", "-"), "Value": v} for k, v in kv.items()]


def setup_corp(server):
    iam = server.client("iam")
    acct = account_of(server)
    suffix = uniq("x")
    boundary_arn = iam.create_policy(PolicyName=f"admin-boundary-{suffix}", PolicyDocument=doc(
        {"Sid": "RoleAdministration", "Effect": "Allow",
         "Action": ["iam:CreateRole", "iam:DeleteRole", "iam:TagRole", "iam:UntagRole",
                    "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRole",
                    "iam:ListRoles", "iam:PutRolePermissionsBoundary"],
         "Resource": "*"},
        {"Sid": "KeepTheBoundary", "Effect": "Deny",
         "Action": "iam:DeleteRolePermissionsBoundary", "Resource": "*"}))["Policy"]["Arn"]

    same_project = iam.create_policy(PolicyName=f"access-same-project-team-{suffix}",
                                     PolicyDocument=doc(
        {"Sid": "CreateWithOwnTagsAndBoundary", "Effect": "Allow",
         "Action": "iam:CreateRole", "Resource": "*",
         "Condition": {
             "StringEquals": {
                 "aws:RequestTag/access-project": "${aws:PrincipalTag/access-project}",
                 "aws:RequestTag/cost-center": "${aws:PrincipalTag/cost-center}",
                 "iam:PermissionsBoundary": boundary_arn},
             "StringNotLike": {"aws:RequestTag/access-project": ["*-*", "*/*"]},
             "Null": {"aws:RequestTag/access-application": "false"}}},
        {"Sid": "TagWithOwnTags", "Effect": "Allow", "Action": "iam:TagRole", "Resource": "*",
         "Condition": {
             "StringEquals": {
                 "aws:RequestTag/access-project": "${aws:PrincipalTag/access-project}",
                 "aws:RequestTag/cost-center": "${aws:PrincipalTag/cost-center}"},
             "StringNotLike": {"aws:RequestTag/access-project": ["*-*", "*/*"]}}},
        {"Sid": "ModifyOwnProject", "Effect": "Allow",
         "Action": ["iam:DeleteRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
                    "iam:UntagRole"],
         "Resource": "*",
         "Condition": {"StringEquals": {
             "aws:ResourceTag/access-project": "${aws:PrincipalTag/access-project}"}}},
        {"Sid": "Read", "Effect": "Allow", "Action": ["iam:GetRole", "iam:ListRoles"],
         "Resource": "*"}))["Policy"]["Arn"]

    naming = iam.create_policy(PolicyName=f"access-by-name-{suffix}", PolicyDocument=doc(
        {"Sid": "OwnApplicationOnly", "Effect": "Allow", "Action": "iam:GetRole",
         "Resource": f"arn:aws:iam::{acct}:role/${{aws:PrincipalTag/access-project}}-"
                     f"${{aws:PrincipalTag/access-application}}-"
                     f"${{aws:PrincipalTag/access-environment}}-*"}))["Policy"]["Arn"]

    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                 "Action": "sts:AssumeRole"})
    project_admin = iam.create_role(
        RoleName=f"project-admin-{suffix}", AssumeRolePolicyDocument=trust,
        PermissionsBoundary=boundary_arn,
        Tags=tags(access_project="peg", cost_center="987654"))["Role"]
    iam.attach_role_policy(RoleName=project_admin["RoleName"], PolicyArn=same_project)
    operator = iam.create_role(
        RoleName=f"app-operator-{suffix}", AssumeRolePolicyDocument=trust,
        Tags=tags(access_project="peg", access_application="reporting",
                  access_environment="prod", cost_center="987654"))["Role"]
    iam.attach_role_policy(RoleName=operator["RoleName"], PolicyArn=naming)
    return {"iam": iam, "acct": acct, "boundary": boundary_arn, "trust": trust,
            "project_admin": project_admin, "operator": operator}


def as_role(server, role, service="iam"):
    creds = server.admin_client("sts").assume_role(RoleArn=role["Arn"],
                                             RoleSessionName="corp")["Credentials"]
    return session_client(server, service, creds)


def test_project_admin_creates_roles_only_with_its_tags_and_boundary(server):
    corp = setup_corp(server)
    admin = as_role(server, corp["project_admin"])
    good = tags(access_project="peg", access_application="reporting", cost_center="987654")

    name = f"peg-reporting-prod-{uniq('r')}"
    admin.create_role(RoleName=name, AssumeRolePolicyDocument=corp["trust"],
                      PermissionsBoundary=corp["boundary"], Tags=good)
    # Without the boundary attached.
    code, _ = error_of(admin.create_role, RoleName=uniq("nb"),
                       AssumeRolePolicyDocument=corp["trust"], Tags=good)
    assert code == "AccessDenied"
    # Another project's tag.
    code, _ = error_of(admin.create_role, RoleName=uniq("op"),
                       AssumeRolePolicyDocument=corp["trust"],
                       PermissionsBoundary=corp["boundary"],
                       Tags=tags(access_project="other", access_application="reporting",
                                 cost_center="987654"))
    assert code == "AccessDenied"
    # Composite values are refused even when they equal the principal tag.
    code, _ = error_of(admin.create_role, RoleName=uniq("cv"),
                       AssumeRolePolicyDocument=corp["trust"],
                       PermissionsBoundary=corp["boundary"],
                       Tags=tags(access_project="peg/x", access_application="reporting",
                                 cost_center="987654"))
    assert code == "AccessDenied"
    # No application tag.
    code, _ = error_of(admin.create_role, RoleName=uniq("na"),
                       AssumeRolePolicyDocument=corp["trust"],
                       PermissionsBoundary=corp["boundary"],
                       Tags=tags(access_project="peg", cost_center="987654"))
    assert code == "AccessDenied"
    # The boundary stays: removing it is denied explicitly.
    code, msg = error_of(admin.delete_role_permissions_boundary, RoleName=name)
    assert code == "AccessDenied"


def test_project_admin_modifies_only_its_projects_roles(server):
    corp = setup_corp(server)
    iam = corp["iam"]
    ours = iam.create_role(RoleName=uniq("ours"), AssumeRolePolicyDocument=corp["trust"],
                           Tags=tags(access_project="peg"))["Role"]
    theirs = iam.create_role(RoleName=uniq("theirs"), AssumeRolePolicyDocument=corp["trust"],
                             Tags=tags(access_project="other"))["Role"]
    admin = as_role(server, corp["project_admin"])
    inline = doc({"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"})
    admin.put_role_policy(RoleName=ours["RoleName"], PolicyName="p", PolicyDocument=inline)
    code, msg = error_of(admin.put_role_policy, RoleName=theirs["RoleName"], PolicyName="p",
                         PolicyDocument=inline)
    assert code == "AccessDenied" and "iam:PutRolePolicy" in msg
    admin.delete_role_policy(RoleName=ours["RoleName"], PolicyName="p")
    admin.delete_role(RoleName=ours["RoleName"])
    code, _ = error_of(admin.delete_role, RoleName=theirs["RoleName"])
    assert code == "AccessDenied"


def test_operator_reaches_resources_by_naming_convention(server):
    corp = setup_corp(server)
    iam = corp["iam"]
    mine = iam.create_role(RoleName=f"peg-reporting-prod-{uniq('svc')}",
                           AssumeRolePolicyDocument=corp["trust"])["Role"]
    other_env = iam.create_role(RoleName=f"peg-reporting-dev-{uniq('svc')}",
                                AssumeRolePolicyDocument=corp["trust"])["Role"]
    operator = as_role(server, corp["operator"])
    assert operator.get_role(RoleName=mine["RoleName"])["Role"]["Arn"] == mine["Arn"]
    code, _ = error_of(operator.get_role, RoleName=other_env["RoleName"])
    assert code == "AccessDenied"


def test_project_tags_gate_kms_keys(server):
    """ABAC on KMS keys: the default key policy delegates to IAM, and the
    role's policy lets it use only keys tagged with its own project."""
    corp = setup_corp(server)
    iam = corp["iam"]
    kms_root = server.client("kms")
    ours = kms_root.create_key(Tags=[{"TagKey": "access-project", "TagValue": "peg"}])
    theirs = kms_root.create_key(Tags=[{"TagKey": "access-project", "TagValue": "other"}])
    iam.put_role_policy(RoleName=corp["operator"]["RoleName"], PolicyName="keys",
                        PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
         "Condition": {"StringEquals": {
             "aws:ResourceTag/access-project": "${aws:PrincipalTag/access-project}"}}}))
    kms = as_role(server, corp["operator"], "kms")
    blob = kms.encrypt(KeyId=ours["KeyMetadata"]["KeyId"], Plaintext=b"report")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"report"
    code, msg = error_of(kms.encrypt, KeyId=theirs["KeyMetadata"]["KeyId"], Plaintext=b"x")
    assert code == "AccessDeniedException" and "kms:Encrypt" in msg
