"""Attribute-based access control on IAM actions with real signed calls:
aws:PrincipalTag from the caller's tags, aws:RequestTag and aws:TagKeys on
creation and tagging, aws:ResourceTag / iam:ResourceTag on existing users
and roles; and the tags of roles (TagRole, UntagRole, ListRoleTags)."""
import json

from iam_helpers import allow, aws_as, denied, error_code, new_user, uniq


def trust(server):
    account = server.client("sts").get_caller_identity()["Account"]
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "sts:AssumeRole"}]})


def test_principal_tag_grants_iam_action(server):
    root = server.client("iam")
    rule = allow("iam:ListRoles", condition={"StringEquals": {"aws:PrincipalTag/team": "platform"}})
    name, iam, creds = new_user(server, [rule])
    denied(iam.list_roles)
    root.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "platform"}])
    iam.list_roles()
    aws_as(server, creds, "iam", "list-roles")
    root.tag_user(UserName=name, Tags=[{"Key": "Team", "Value": "web"}])
    denied(iam.list_roles)
    root.untag_user(UserName=name, TagKeys=["TEAM"])
    assert root.list_user_tags(UserName=name)["Tags"] == []
    denied(iam.list_roles)


def test_principal_tag_variable_matches_resource_tag(server):
    """Users may manage only roles tagged with their own project."""
    root = server.client("iam")
    rule = allow(["iam:TagRole", "iam:GetRole"],
                 condition={"StringEquals": {"aws:ResourceTag/project": "${aws:PrincipalTag/project}"}})
    name, iam, _ = new_user(server, [rule], Tags=[{"Key": "project", "Value": "alpha"}])
    mine, theirs = uniq("alpha"), uniq("beta")
    root.create_role(RoleName=mine, AssumeRolePolicyDocument=trust(server),
                     Tags=[{"Key": "project", "Value": "alpha"}])
    root.create_role(RoleName=theirs, AssumeRolePolicyDocument=trust(server),
                     Tags=[{"Key": "project", "Value": "beta"}])
    iam.get_role(RoleName=mine)
    iam.tag_role(RoleName=mine, Tags=[{"Key": "owner", "Value": name}])
    denied(iam.get_role, RoleName=theirs)
    denied(iam.tag_role, RoleName=theirs, Tags=[{"Key": "owner", "Value": name}])


def test_request_tags_required_on_creation(server):
    rule = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:CreateRole", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/cost-center": "${aws:PrincipalTag/cost-center}"},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["cost-center", "owner"]}}},
        {"Effect": "Deny", "Action": "iam:CreateRole", "Resource": "*",
         "Condition": {"StringLike": {"aws:RequestTag/owner": "*-*"}}}]}
    _, iam, _ = new_user(server, [rule], Tags=[{"Key": "cost-center", "Value": "cc42"}])
    doc = trust(server)
    denied(iam.create_role, RoleName=uniq("r"), AssumeRolePolicyDocument=doc)
    denied(iam.create_role, RoleName=uniq("r"), AssumeRolePolicyDocument=doc,
           Tags=[{"Key": "cost-center", "Value": "cc7"}])
    denied(iam.create_role, RoleName=uniq("r"), AssumeRolePolicyDocument=doc,
           Tags=[{"Key": "cost-center", "Value": "cc42"}, {"Key": "extra", "Value": "x"}])
    msg = denied(iam.create_role, RoleName=uniq("r"), AssumeRolePolicyDocument=doc,
                 Tags=[{"Key": "cost-center", "Value": "cc42"}, {"Key": "owner", "Value": "a-b"}])
    assert "explicit deny" in msg
    made = iam.create_role(RoleName=uniq("r"), AssumeRolePolicyDocument=doc,
                           Tags=[{"Key": "cost-center", "Value": "cc42"},
                                 {"Key": "owner", "Value": "ann"}])["Role"]
    assert {t["Key"] for t in made["Tags"]} == {"cost-center", "owner"}


def test_untag_sees_tag_keys_and_iam_resource_tag(server):
    root = server.client("iam")
    rule = allow("iam:UntagUser", condition={
        "ForAllValues:StringEquals": {"aws:TagKeys": ["temp"]},
        "StringEquals": {"iam:ResourceTag/managed": "yes"}})
    _, iam, _ = new_user(server, [rule])
    target = uniq("t")
    root.create_user(UserName=target, Tags=[{"Key": "managed", "Value": "yes"},
                                            {"Key": "temp", "Value": "1"}])
    denied(iam.untag_user, UserName=target, TagKeys=["managed"])
    iam.untag_user(UserName=target, TagKeys=["temp"])
    other = uniq("t")
    root.create_user(UserName=other, Tags=[{"Key": "temp", "Value": "1"}])
    denied(iam.untag_user, UserName=other, TagKeys=["temp"])


def test_role_tags_with_cli(server):
    role = uniq("tagged")
    server.aws("iam", "create-role", "--role-name", role, "--assume-role-policy-document", trust(server))
    server.aws("iam", "tag-role", "--role-name", role, "--tags", "Key=a,Value=1", "Key=b,Value=2")
    tags = json.loads(server.aws("iam", "list-role-tags", "--role-name", role).stdout)
    assert tags["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert tags["IsTruncated"] is False
    server.aws("iam", "untag-role", "--role-name", role, "--tag-keys", "a")
    got = json.loads(server.aws("iam", "get-role", "--role-name", role).stdout)["Role"]
    assert got["Tags"] == [{"Key": "b", "Value": "2"}]
    root = server.client("iam")
    page = root.list_role_tags(RoleName=role, MaxItems=1)
    assert len(page["Tags"]) == 1 and not page["IsTruncated"]


def test_tag_rules(server):
    root = server.client("iam")
    role = uniq("rules")
    root.create_role(RoleName=role, AssumeRolePolicyDocument=trust(server))
    code, _ = error_code(root.tag_role, RoleName=role, Tags=[{"Key": "aws:x", "Value": "1"}])
    assert code == "InvalidInput"
    code, _ = error_code(root.tag_role, RoleName=role,
                         Tags=[{"Key": "k", "Value": "1"}, {"Key": "K", "Value": "2"}])
    assert code == "InvalidInput"
    code, _ = error_code(root.tag_role, RoleName=role, Tags=[{"Key": "bad#key", "Value": "1"}])
    assert code == "ValidationError"
    root.tag_role(RoleName=role, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    code, _ = error_code(root.tag_role, RoleName=role, Tags=[{"Key": "one-more", "Value": "v"}])
    assert code == "LimitExceeded"
    code, _ = error_code(root.tag_role, RoleName=uniq("none"), Tags=[{"Key": "k", "Value": "v"}])
    assert code == "NoSuchEntity"
