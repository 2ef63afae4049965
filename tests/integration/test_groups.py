"""IAM groups with the real aws CLI and boto3: lifecycle, membership,
group policies granting their members calls, and AWS's conflicts and
limits."""
import json

from iam_helpers import allow, aws_as, denied, error_code, new_user, uniq


def test_group_policy_grants_member_until_removed(server):
    root = server.client("iam")
    name, iam, creds = new_user(server)
    group = uniq("g")
    root.create_group(GroupName=group)
    root.put_group_policy(GroupName=group, PolicyName="list",
                          PolicyDocument=json.dumps(allow("iam:ListUsers")))
    denied(iam.list_users)
    root.add_user_to_group(GroupName=group, UserName=name)
    iam.list_users()
    # The aws CLI, signed as the member, gets the same answer.
    out = json.loads(aws_as(server, creds, "iam", "list-users").stdout)
    assert any(u["UserName"] == name for u in out["Users"])
    denied(iam.list_roles)
    root.remove_user_from_group(GroupName=group, UserName=name)
    denied(iam.list_users)
    r = aws_as(server, creds, "iam", "list-users", check=False)
    assert r.returncode != 0 and "AccessDenied" in r.stderr


def test_group_attached_managed_policy(server):
    root = server.client("iam")
    name, iam, _ = new_user(server)
    group = uniq("g")
    root.create_group(GroupName=group)
    root.add_user_to_group(GroupName=group, UserName=name)
    arn = root.create_policy(PolicyName=uniq("p"),
                             PolicyDocument=json.dumps(allow("iam:ListRoles")))["Policy"]["Arn"]
    denied(iam.list_roles)
    root.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.list_roles()
    attached = root.list_attached_group_policies(GroupName=group)["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == [arn]
    assert root.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    code, msg = error_code(root.delete_policy, PolicyArn=arn)
    assert code == "DeleteConflict"
    root.detach_group_policy(GroupName=group, PolicyArn=arn)
    denied(iam.list_roles)


def test_group_lifecycle_with_cli(server):
    group = uniq("ops")
    out = json.loads(server.aws("iam", "create-group", "--group-name", group, "--path", "/teams/").stdout)
    assert out["Group"]["Arn"].endswith(f":group/teams/{group}")
    assert out["Group"]["GroupId"].startswith("AGPA")
    listed = json.loads(server.aws("iam", "list-groups", "--path-prefix", "/teams/").stdout)
    assert group in [g["GroupName"] for g in listed["Groups"]]
    renamed = group + "-x"
    server.aws("iam", "update-group", "--group-name", group, "--new-group-name", renamed)
    got = json.loads(server.aws("iam", "get-group", "--group-name", renamed).stdout)
    assert got["Group"]["GroupName"] == renamed and got["Users"] == []
    r = server.aws("iam", "get-group", "--group-name", group, check=False)
    assert "NoSuchEntity" in r.stderr
    server.aws("iam", "delete-group", "--group-name", renamed)


def test_get_group_pages_members_and_list_groups_for_user(server):
    root = server.client("iam")
    group = uniq("g")
    root.create_group(GroupName=group)
    users = sorted(uniq("m") for _ in range(3))
    for u in users:
        root.create_user(UserName=u)
        root.add_user_to_group(GroupName=group, UserName=u)
    page = root.get_group(GroupName=group, MaxItems=2)
    assert page["IsTruncated"] and len(page["Users"]) == 2
    rest = root.get_group(GroupName=group, Marker=page["Marker"])
    assert not rest["IsTruncated"]
    assert [u["UserName"] for u in page["Users"] + rest["Users"]] == users
    paginated = [u["UserName"] for p in root.get_paginator("get_group").paginate(
        GroupName=group, PaginationConfig={"PageSize": 1}) for u in p["Users"]]
    assert paginated == users
    groups = root.list_groups_for_user(UserName=users[0])["Groups"]
    assert [g["GroupName"] for g in groups] == [group]


def test_delete_conflicts(server):
    root = server.client("iam")
    group = uniq("g")
    user = uniq("u")
    root.create_group(GroupName=group)
    root.create_user(UserName=user)
    root.add_user_to_group(GroupName=group, UserName=user)
    code, msg = error_code(root.delete_group, GroupName=group)
    assert code == "DeleteConflict" and "must remove users from group first" in msg
    code, _ = error_code(root.delete_user, UserName=user)
    assert code == "DeleteConflict"
    root.remove_user_from_group(GroupName=group, UserName=user)
    root.put_group_policy(GroupName=group, PolicyName="p",
                          PolicyDocument=json.dumps(allow("iam:ListUsers")))
    code, msg = error_code(root.delete_group, GroupName=group)
    assert code == "DeleteConflict" and "must delete policies first" in msg
    root.delete_group_policy(GroupName=group, PolicyName="p")
    root.attach_group_policy(GroupName=group,
                             PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    code, msg = error_code(root.delete_group, GroupName=group)
    assert code == "DeleteConflict" and "must detach all policies first" in msg
    root.detach_group_policy(GroupName=group,
                             PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    root.delete_group(GroupName=group)
    root.delete_user(UserName=user)


def test_group_limits_and_errors(server):
    root = server.client("iam")
    user = uniq("u")
    root.create_user(UserName=user)
    groups = [uniq("g") for _ in range(11)]
    for g in groups:
        root.create_group(GroupName=g)
    for g in groups[:10]:
        root.add_user_to_group(GroupName=g, UserName=user)
    code, msg = error_code(root.add_user_to_group, GroupName=groups[10], UserName=user)
    assert code == "LimitExceeded" and "GroupsPerUser" in msg
    code, _ = error_code(root.create_group, GroupName=groups[0].upper())
    assert code == "EntityAlreadyExists"
    code, _ = error_code(root.add_user_to_group, GroupName=uniq("none"), UserName=user)
    assert code == "NoSuchEntity"
    code, _ = error_code(root.remove_user_from_group, GroupName=groups[10], UserName=user)
    assert code == "NoSuchEntity"
    # Group inline policies share a 5,120-character quota.
    big = allow([f"iam:GetUser{i:04d}" for i in range(300)])
    code, _ = error_code(root.put_group_policy, GroupName=groups[0], PolicyName="big",
                         PolicyDocument=json.dumps(big))
    assert code == "LimitExceeded"
