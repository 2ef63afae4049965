"""Login profiles, the account password policy, ChangePassword and account
aliases, with boto3 and the aws CLI against a real rampart server."""
import base64
import json

import pytest

from test_roles import error_of, uniq

GOOD = "Correct-Horse-42"


@pytest.fixture
def fresh_policy(server):
    """Each test starts without a password policy and leaves none behind."""
    iam = server.client("iam")
    try:
        iam.delete_account_password_policy()
    except iam.exceptions.NoSuchEntityException:
        pass
    yield iam
    try:
        iam.delete_account_password_policy()
    except iam.exceptions.NoSuchEntityException:
        pass


def user_with_key(server):
    iam = server.client("iam")
    name = uniq("u")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, server.client("iam", access_key=key["AccessKeyId"],
                               secret_key=key["SecretAccessKey"])


def test_login_profile_lifecycle(server, fresh_policy):
    iam = fresh_policy
    name, _ = user_with_key(server)
    code, _ = error_of(iam.get_login_profile, UserName=name)
    assert code == "NoSuchEntity"
    # Without a policy, AWS's default rules apply.
    code, msg = error_of(iam.create_login_profile, UserName=name, Password="short")
    assert code == "PasswordPolicyViolation"
    profile = iam.create_login_profile(UserName=name, Password=GOOD,
                                       PasswordResetRequired=True)["LoginProfile"]
    assert profile["UserName"] == name and profile["PasswordResetRequired"] is True
    code, _ = error_of(iam.create_login_profile, UserName=name, Password=GOOD)
    assert code == "EntityAlreadyExists"
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is True
    iam.update_login_profile(UserName=name, PasswordResetRequired=False)
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    iam.delete_login_profile(UserName=name)
    code, _ = error_of(iam.delete_login_profile, UserName=name)
    assert code == "NoSuchEntity"


def test_password_policy_is_enforced(server, fresh_policy):
    iam = fresh_policy
    code, msg = error_of(iam.get_account_password_policy)
    assert code == "NoSuchEntity"
    iam.update_account_password_policy(MinimumPasswordLength=12, RequireSymbols=True,
                                       RequireNumbers=True, RequireUppercaseCharacters=True,
                                       RequireLowercaseCharacters=True, MaxPasswordAge=90,
                                       PasswordReusePrevention=2, AllowUsersToChangePassword=True)
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 12 and policy["ExpirePasswords"] is True
    assert policy["MaxPasswordAge"] == 90 and policy["PasswordReusePrevention"] == 2
    name, _ = user_with_key(server)
    for bad, why in [("Aa1!short", "minimum length"), ("alllowercase1!", "uppercase"),
                     ("ALLUPPERCASE1!", "lowercase"), ("NoNumbersHere!", "number"),
                     ("NoSymbols12345", "symbol")]:
        code, msg = error_of(iam.create_login_profile, UserName=name, Password=bad)
        assert code == "PasswordPolicyViolation" and why in msg, (bad, msg)
    iam.create_login_profile(UserName=name, Password="First-Pass-001")
    iam.update_login_profile(UserName=name, Password="Second-Pass-002")
    code, msg = error_of(iam.update_login_profile, UserName=name, Password="First-Pass-001")
    assert code == "PasswordPolicyViolation" and "previous 2" in msg
    iam.update_login_profile(UserName=name, Password="Third-Pass-0003")
    # Three changes later the first password is out of the window.
    iam.update_login_profile(UserName=name, Password="First-Pass-001")


def test_change_password(server, fresh_policy):
    iam = fresh_policy
    name, as_user = user_with_key(server)
    iam.create_login_profile(UserName=name, Password=GOOD, PasswordResetRequired=True)
    # Without AllowUsersToChangePassword a user needs iam:ChangePassword.
    code, _ = error_of(as_user.change_password, OldPassword=GOOD, NewPassword="Another-Pass-77")
    assert code == "AccessDenied"
    iam.update_account_password_policy(AllowUsersToChangePassword=True)
    code, msg = error_of(as_user.change_password, OldPassword="wrong", NewPassword="Another-77!")
    assert code == "AccessDenied" and "old password" in msg
    as_user.change_password(OldPassword=GOOD, NewPassword="Another-Pass-77")
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    code, _ = error_of(iam.change_password, OldPassword=GOOD, NewPassword="Another-Pass-78")
    assert code == "InvalidUserType"


def test_account_alias(server):
    iam = server.client("iam")
    for a in iam.list_account_aliases()["AccountAliases"]:
        iam.delete_account_alias(AccountAlias=a)
    alias = uniq("corp")
    code, _ = error_of(iam.create_account_alias, AccountAlias="bad--alias")
    assert code == "ValidationError"
    iam.create_account_alias(AccountAlias=alias)
    iam.create_account_alias(AccountAlias=alias)  # the same alias again is accepted
    code, _ = error_of(iam.create_account_alias, AccountAlias=uniq("other"))
    assert code == "LimitExceeded"
    out = json.loads(server.aws("iam", "list-account-aliases").stdout)
    assert out["AccountAliases"] == [alias]
    iam.delete_account_alias(AccountAlias=alias)
    code, _ = error_of(iam.delete_account_alias, AccountAlias=alias)
    assert code == "NoSuchEntity"
    assert iam.list_account_aliases()["AccountAliases"] == []


def test_account_summary_counts(server):
    iam = server.client("iam")
    before = iam.get_account_summary()["SummaryMap"]
    assert before["UsersQuota"] == 5000 and before["AccessKeysPerUserQuota"] == 2
    iam.create_user(UserName=uniq("sum"))
    iam.create_group(GroupName=uniq("sumg"))
    after = iam.get_account_summary()["SummaryMap"]
    assert after["Users"] == before["Users"] + 1
    assert after["Groups"] == before["Groups"] + 1
    assert after["AccountAccessKeysPresent"] == 1


def test_credential_report(server, fresh_policy):
    import csv
    import io
    iam = fresh_policy
    with_password, _ = user_with_key(server)
    iam.create_login_profile(UserName=with_password, Password=GOOD)
    iam.update_account_password_policy(MaxPasswordAge=30)
    # No other test generates a report, so this one is built now.
    out = iam.generate_credential_report()
    assert out["State"] == "COMPLETE"
    report = iam.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(report["Content"].decode())))
    assert rows[0]["user"] == "<root_account>" and rows[0]["password_enabled"] == "not_supported"
    assert rows[0]["access_key_1_active"] == "true"
    # The root key signed this test's IAM writes: the audit trail knows.
    assert rows[0]["access_key_1_last_used_service"] == "iam"
    assert rows[0]["access_key_1_last_used_region"] == "us-east-1"
    by_user = {r["user"]: r for r in rows}
    row = by_user[with_password]
    assert row["password_enabled"] == "true" and row["access_key_1_active"] == "true"
    assert row["password_next_rotation"] != "N/A"
    assert row["access_key_2_active"] == "false" and row["mfa_active"] == "false"
    assert out["State"] == iam.generate_credential_report()["State"]
    r = server.aws("iam", "get-credential-report")
    assert "<root_account>" in base64.b64decode(json.loads(r.stdout)["Content"]).decode()


def test_delete_user_needs_login_profile_and_mfa_gone(server, fresh_policy):
    iam = fresh_policy
    name = uniq("del")
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password=GOOD)
    code, msg = error_of(iam.delete_user, UserName=name)
    assert code == "DeleteConflict" and "login profile" in msg
    iam.delete_login_profile(UserName=name)
    iam.delete_user(UserName=name)


def test_account_authorization_details(server):
    iam = server.client("iam")
    user, group, role = uniq("aad-u"), uniq("aad-g"), uniq("aad-r")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]})
    iam.create_user(UserName=user, Tags=[{"Key": "team", "Value": "red"}])
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="inline", PolicyDocument=doc)
    iam.attach_group_policy(GroupName=group,
                            PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    acct = server.client("sts").get_caller_identity()["Account"]
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
            "Action": "sts:AssumeRole"}]}))
    local = iam.create_policy(PolicyName=uniq("aad-p"), PolicyDocument=doc)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=local)

    pages = list(iam.get_paginator("get_account_authorization_details").paginate(
        PaginationConfig={"PageSize": 3}))
    assert len(pages) > 1
    users = {u["UserName"]: u for p in pages for u in p["UserDetailList"]}
    roles = {r["RoleName"]: r for p in pages for r in p["RoleDetailList"]}
    groups = {g["GroupName"]: g for p in pages for g in p["GroupDetailList"]}
    policies = {x["Arn"]: x for p in pages for x in p["Policies"]}
    u = users[user]
    assert u["GroupList"] == [group] and u["Tags"] == [{"Key": "team", "Value": "red"}]
    assert u["UserPolicyList"][0]["PolicyName"] == "inline"
    assert u["UserPolicyList"][0]["PolicyDocument"]["Statement"][0]["Action"] == "iam:GetUser"
    assert groups[group]["AttachedManagedPolicies"][0]["PolicyName"] == "IAMReadOnlyAccess"
    assert roles[role]["AttachedManagedPolicies"] == [
        {"PolicyName": local.split("/")[-1], "PolicyArn": local}]
    assert roles[role]["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == "sts:AssumeRole"
    assert policies[local]["AttachmentCount"] == 1
    assert policies[local]["PolicyVersionList"][0]["IsDefaultVersion"] is True
    assert "arn:aws:iam::aws:policy/IAMReadOnlyAccess" in policies
    assert "arn:aws:iam::aws:policy/SecurityAudit" not in policies  # unused AWS policies are left out

    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert only_roles["UserDetailList"] == [] and only_roles["Policies"] == []
    assert role in [r["RoleName"] for r in only_roles["RoleDetailList"]]
