"""Managed policy versions and the AWS managed policies, with the real aws
CLI and boto3: the default version decides what a policy grants, at most
five versions, the default cannot be deleted; AWS managed policies are
listed, readable, attachable and never modifiable."""
import json

from iam_helpers import allow, aws_as, denied, error_code, new_user, uniq

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def test_default_version_switches_behaviour(server):
    root = server.client("iam")
    name, iam, creds = new_user(server)
    arn = root.create_policy(PolicyName=uniq("v"),
                             PolicyDocument=json.dumps(allow("iam:ListUsers")))["Policy"]["Arn"]
    root.attach_user_policy(UserName=name, PolicyArn=arn)
    iam.list_users()
    denied(iam.list_roles)
    out = json.loads(server.aws("iam", "create-policy-version", "--policy-arn", arn,
                                "--policy-document", json.dumps(allow("iam:ListRoles"))).stdout)
    assert out["PolicyVersion"]["VersionId"] == "v2"
    assert out["PolicyVersion"]["IsDefaultVersion"] is False
    iam.list_users()  # v1 is still the default
    root.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    iam.list_roles()
    denied(iam.list_users)
    r = aws_as(server, creds, "iam", "list-users", check=False)
    assert "AccessDenied" in r.stderr
    assert root.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    v1 = root.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert v1["Document"]["Statement"][0]["Action"] == "iam:ListUsers"
    assert not v1["IsDefaultVersion"]
    root.create_policy_version(PolicyArn=arn, SetAsDefault=True,
                               PolicyDocument=json.dumps(allow("iam:ListUsers")))
    iam.list_users()
    denied(iam.list_roles)


def test_five_versions_and_default_cannot_be_deleted(server):
    root = server.client("iam")
    arn = root.create_policy(PolicyName=uniq("v"),
                             PolicyDocument=json.dumps(allow("iam:ListUsers")))["Policy"]["Arn"]
    for _ in range(4):
        root.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(allow("iam:GetUser")))
    code, msg = error_code(root.create_policy_version, PolicyArn=arn,
                           PolicyDocument=json.dumps(allow("iam:GetUser")))
    assert code == "LimitExceeded"
    assert msg == ("A managed policy can have up to 5 versions. Before you create a new version, "
                   "you must delete an existing version.")
    versions = root.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    assert [v["IsDefaultVersion"] for v in versions] == [False] * 4 + [True]
    page = root.list_policy_versions(PolicyArn=arn, MaxItems=2)
    assert page["IsTruncated"]
    rest = root.list_policy_versions(PolicyArn=arn, Marker=page["Marker"])
    assert [v["VersionId"] for v in page["Versions"] + rest["Versions"]] == ["v5", "v4", "v3", "v2", "v1"]
    code, _ = error_code(root.delete_policy_version, PolicyArn=arn, VersionId="v1")
    assert code == "DeleteConflict"
    code, _ = error_code(root.delete_policy, PolicyArn=arn)
    assert code == "DeleteConflict"
    root.delete_policy_version(PolicyArn=arn, VersionId="v3")
    # Version ids are never reused.
    made = root.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(allow("iam:GetUser")))
    assert made["PolicyVersion"]["VersionId"] == "v6"
    code, _ = error_code(root.set_default_policy_version, PolicyArn=arn, VersionId="v3")
    assert code == "NoSuchEntity"
    code, _ = error_code(root.create_policy_version, PolicyArn=arn, PolicyDocument='{"Version":')
    assert code == "MalformedPolicyDocument"
    for v in ("v2", "v4", "v5", "v6"):
        root.delete_policy_version(PolicyArn=arn, VersionId=v)
    root.delete_policy(PolicyArn=arn)


def test_administrator_access_by_aws_arn(server):
    root = server.client("iam")
    name, iam, creds = new_user(server)
    denied(iam.create_user, UserName=uniq("x"))
    server.aws("iam", "attach-user-policy", "--user-name", name, "--policy-arn", ADMIN)
    made = uniq("made")
    iam.create_user(UserName=made)
    aws_as(server, creds, "iam", "list-roles")
    attached = root.list_attached_user_policies(UserName=name)["AttachedPolicies"]
    assert attached == [{"PolicyName": "AdministratorAccess", "PolicyArn": ADMIN}]
    root.detach_user_policy(UserName=name, PolicyArn=ADMIN)
    denied(iam.create_user, UserName=uniq("x"))


def test_aws_managed_policies_listed_and_read_only(server):
    root = server.client("iam")
    names = {p["PolicyName"] for p in root.list_policies(Scope="AWS")["Policies"]}
    assert {"AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess", "IAMFullAccess",
            "IAMReadOnlyAccess", "IAMAccessAdvisorReadOnly", "SecurityAudit"} <= names
    local = uniq("local")
    root.create_policy(PolicyName=local, PolicyDocument=json.dumps(allow("iam:GetUser")))
    local_names = {p["PolicyName"] for p in root.list_policies(Scope="Local")["Policies"]}
    assert local in local_names and "AdministratorAccess" not in local_names
    every = [p["PolicyName"] for p in root.get_paginator("list_policies").paginate(
        Scope="All", PaginationConfig={"PageSize": 3}) for p in p["Policies"]]
    assert "SecurityAudit" in every and local in every and len(every) == len(set(every))
    policy = root.get_policy(PolicyArn=ADMIN)["Policy"]
    assert policy["Arn"] == ADMIN and policy["DefaultVersionId"] == "v1"
    doc = root.get_policy_version(PolicyArn=ADMIN, VersionId="v1")["PolicyVersion"]["Document"]
    assert doc["Statement"][0]["Action"] == "*"
    power = root.get_policy_version(PolicyArn="arn:aws:iam::aws:policy/PowerUserAccess",
                                    VersionId="v1")["PolicyVersion"]["Document"]
    assert "iam:*" in power["Statement"][0]["NotAction"]
    for call, kw in ((root.delete_policy, {}),
                     (root.create_policy_version, {"PolicyDocument": json.dumps(allow("*"))}),
                     (root.set_default_policy_version, {"VersionId": "v1"}),
                     (root.tag_policy, {"Tags": [{"Key": "k", "Value": "v"}]})):
        code, _ = error_code(call, PolicyArn=ADMIN, **kw)
        assert code == "AccessDenied"
    code, _ = error_code(root.get_policy, PolicyArn="arn:aws:iam::aws:policy/NoSuchThing")
    assert code == "NoSuchEntity"


def test_only_attached_and_counts_for_aws_policies(server):
    root = server.client("iam")
    name, _, _ = new_user(server)
    arn = "arn:aws:iam::aws:policy/SecurityAudit"
    before = root.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"]
    root.attach_user_policy(UserName=name, PolicyArn=arn)
    assert root.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == before + 1
    attached = {p["Arn"] for p in root.list_policies(Scope="AWS", OnlyAttached=True)["Policies"]}
    assert arn in attached
    root.detach_user_policy(UserName=name, PolicyArn=arn)


def test_read_only_access_reads_but_does_not_write(server):
    name, iam, _ = new_user(server)
    server.client("iam").attach_user_policy(UserName=name,
                                            PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.list_users()
    iam.get_policy(PolicyArn=ADMIN)
    denied(iam.create_group, GroupName=uniq("g"))


def test_policy_tags(server):
    root = server.client("iam")
    arn = root.create_policy(PolicyName=uniq("t"), PolicyDocument=json.dumps(allow("iam:GetUser")),
                             Tags=[{"Key": "team", "Value": "blue"}])["Policy"]["Arn"]
    server.aws("iam", "tag-policy", "--policy-arn", arn, "--tags", "Key=env,Value=prod")
    tags = json.loads(server.aws("iam", "list-policy-tags", "--policy-arn", arn).stdout)["Tags"]
    assert tags == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "blue"}]
    root.untag_policy(PolicyArn=arn, TagKeys=["TEAM"])
    assert root.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    assert root.get_policy(PolicyArn=arn)["Policy"]["Tags"] == [{"Key": "env", "Value": "prod"}]
