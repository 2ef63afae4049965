"""The Organizations delegation policy (PutResourcePolicy,
DescribeResourcePolicy, DeleteResourcePolicy) with boto3 and the aws CLI:
what it may grant, AWS's errors, and that a member account it names can
then read the organization and manage SCPs, as far as the policy and the
member's own IAM policies both allow."""
import json
import os

import pytest

from iam_helpers import error_code
from org_helpers import client, start_two_accounts

SCP = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}]})


def delegation(member, actions, resource="*", condition=None):
    statement = {"Sid": "Delegate", "Effect": "Allow",
                 "Principal": {"AWS": f"arn:aws:iam::{member}:root"},
                 "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture(scope="module")
def org(workdir):
    s, member, member_creds = start_two_accounts(os.path.join(workdir, "org-resource-policy"))
    orgs = s.client("organizations")
    orgs.enable_policy_type(RootId=orgs.list_roots()["Roots"][0]["Id"],
                            PolicyType="SERVICE_CONTROL_POLICY")
    # A member user with no permissions of its own, for the "both must
    # allow" check.
    member_iam = client(s, "iam", member_creds)
    member_iam.create_user(UserName="nobody")
    key = member_iam.create_access_key(UserName="nobody")["AccessKey"]
    nobody = client(s, "organizations", {"AccessKeyId": key["AccessKeyId"],
                                         "SecretAccessKey": key["SecretAccessKey"]})
    yield {"server": s, "member": member, "orgs": orgs,
           "member_orgs": client(s, "organizations", member_creds), "nobody": nobody}
    s.stop()


@pytest.fixture(autouse=True)
def no_policy_left(org):
    yield
    try:
        org["orgs"].delete_resource_policy()
    except org["orgs"].exceptions.ResourcePolicyNotFoundException:
        pass


def test_put_describe_delete(org):
    srv, orgs, member = org["server"], org["orgs"], org["member"]
    code, _ = error_code(orgs.describe_resource_policy)
    assert code == "ResourcePolicyNotFoundException"

    content = delegation(member, ["organizations:Describe*", "organizations:List*"])
    out = json.loads(srv.aws("organizations", "put-resource-policy", "--content", content,
                             "--tags", "Key=team,Value=platform").stdout)["ResourcePolicy"]
    summary = out["ResourcePolicySummary"]
    org_id = orgs.describe_organization()["Organization"]["Id"]
    assert summary["Id"].startswith("rp-")
    assert summary["Arn"].endswith(f":resourcepolicy/{org_id}/{summary['Id']}")
    assert json.loads(out["Content"]) == json.loads(content)
    assert orgs.list_tags_for_resource(ResourceId=summary["Id"])["Tags"] == [
        {"Key": "team", "Value": "platform"}]

    # Putting again replaces the content and keeps the id.
    narrower = delegation(member, "organizations:DescribeOrganization")
    again = orgs.put_resource_policy(Content=narrower)["ResourcePolicy"]
    assert again["ResourcePolicySummary"]["Id"] == summary["Id"]
    described = orgs.describe_resource_policy()["ResourcePolicy"]
    assert described["Content"] == narrower

    orgs.delete_resource_policy()
    code, _ = error_code(orgs.describe_resource_policy)
    assert code == "ResourcePolicyNotFoundException"
    code, _ = error_code(orgs.delete_resource_policy)
    assert code == "ResourcePolicyNotFoundException"


@pytest.mark.parametrize("content,reason", [
    ("{not json", "INVALID_RESOURCE_POLICY_JSON"),
    # A resource policy names its principals.
    (json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "organizations:ListAccounts", "Resource": "*"}]}),
     "INVALID_RESOURCE_POLICY_JSON"),
    (delegation("111122223333", "organizations:CreateAccount"),
     "UNSUPPORTED_ACTION_IN_RESOURCE_POLICY"),
    # A wildcard that also covers operations no policy may delegate.
    (delegation("111122223333", "organizations:*"), "UNSUPPORTED_ACTION_IN_RESOURCE_POLICY"),
    (delegation("111122223333", "s3:ListBucket"), "UNSUPPORTED_ACTION_IN_RESOURCE_POLICY"),
    (delegation("111122223333", "organizations:ListAccounts",
                "arn:aws:s3:::some-bucket"), "UNSUPPORTED_RESOURCE_IN_RESOURCE_POLICY"),
])
def test_invalid_policies_are_refused(org, content, reason):
    code, message = error_code(org["orgs"].put_resource_policy, Content=content)
    assert code == "InvalidInputException"
    assert reason in message


def test_only_the_management_account_writes_it(org):
    member_orgs, member = org["member_orgs"], org["member"]
    content = delegation(member, "organizations:List*")
    code, _ = error_code(member_orgs.put_resource_policy, Content=content)
    assert code == "AccessDeniedException"
    org["orgs"].put_resource_policy(Content=content)
    code, _ = error_code(member_orgs.delete_resource_policy)
    assert code == "AccessDeniedException"


def test_delegated_reads(org):
    orgs, member_orgs, member = org["orgs"], org["member_orgs"], org["member"]
    code, _ = error_code(member_orgs.list_accounts)
    assert code == "AccessDeniedException"

    orgs.put_resource_policy(Content=delegation(member, "organizations:ListAccounts"))
    ids = sorted(a["Id"] for a in member_orgs.list_accounts()["Accounts"])
    assert member in ids and len(ids) == 2
    # Only what the policy names.
    code, _ = error_code(member_orgs.list_roots)
    assert code == "AccessDeniedException"
    # The member's own IAM policies must allow the call too.
    code, _ = error_code(org["nobody"].list_accounts)
    assert code == "AccessDeniedException"

    orgs.delete_resource_policy()
    code, _ = error_code(member_orgs.list_accounts)
    assert code == "AccessDeniedException"


def test_delegated_scp_management(org):
    orgs, member_orgs, member = org["orgs"], org["member_orgs"], org["member"]
    root = orgs.list_roots()["Roots"][0]["Id"]
    code, _ = error_code(member_orgs.create_policy, Name="deny-delete", Description="",
                         Type="SERVICE_CONTROL_POLICY", Content=SCP)
    assert code == "AccessDeniedException"

    orgs.put_resource_policy(Content=delegation(
        member, ["organizations:CreatePolicy", "organizations:DescribePolicy",
                 "organizations:AttachPolicy", "organizations:DetachPolicy",
                 "organizations:DeletePolicy"],
        condition={"StringEquals": {"organizations:PolicyType": "SERVICE_CONTROL_POLICY"}}))
    policy = member_orgs.create_policy(Name="deny-delete", Description="by the member",
                                       Type="SERVICE_CONTROL_POLICY",
                                       Content=SCP)["Policy"]["PolicySummary"]
    # The policy belongs to the organization, in the management account.
    mgmt = orgs.describe_organization()["Organization"]["MasterAccountId"]
    assert f"::{mgmt}:policy/" in policy["Arn"]
    assert orgs.describe_policy(PolicyId=policy["Id"])["Policy"]["Content"] == SCP
    member_orgs.attach_policy(PolicyId=policy["Id"], TargetId=root)
    targets = orgs.list_targets_for_policy(PolicyId=policy["Id"])["Targets"]
    assert [t["TargetId"] for t in targets] == [root]
    # Not delegated: enabling policy types stays with the management account.
    code, _ = error_code(member_orgs.disable_policy_type, RootId=root,
                         PolicyType="SERVICE_CONTROL_POLICY")
    assert code == "AccessDeniedException"
    member_orgs.detach_policy(PolicyId=policy["Id"], TargetId=root)
    member_orgs.delete_policy(PolicyId=policy["Id"])
    code, _ = error_code(orgs.describe_policy, PolicyId=policy["Id"])
    assert code == "PolicyNotFoundException"

    # The condition on the policy type is enforced.
    code, _ = error_code(member_orgs.create_policy, Name="tags", Description="",
                         Type="TAG_POLICY", Content="{}")
    assert code == "AccessDeniedException"


def test_aws_managed_policies_are_weighed_in_the_management_account(org):
    """FullAWSAccess's ARN names the account "aws"; a delegation policy for
    every principal must still not let a member user without IAM
    permissions read it or what it is attached to."""
    orgs, member_orgs, nobody = org["orgs"], org["member_orgs"], org["nobody"]
    orgs.put_resource_policy(Content=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*",
        "Action": ["organizations:DescribePolicy", "organizations:ListTargetsForPolicy"],
        "Resource": "*"}]}))
    for call in (nobody.describe_policy, nobody.list_targets_for_policy):
        code, _ = error_code(call, PolicyId="p-FullAWSAccess")
        assert code == "AccessDeniedException", call
    # The member's administrator role, whose own policies allow, may.
    targets = member_orgs.list_targets_for_policy(PolicyId="p-FullAWSAccess")["Targets"]
    assert any(t["Type"] == "ROOT" for t in targets)


def test_delegated_tags_on_create_policy(org):
    orgs, member_orgs, member = org["orgs"], org["member_orgs"], org["member"]
    orgs.put_resource_policy(Content=delegation(member, ["organizations:CreatePolicy",
                                                         "organizations:DeletePolicy"]))
    code, _ = error_code(member_orgs.create_policy, Name="tagged", Description="",
                         Type="SERVICE_CONTROL_POLICY", Content=SCP,
                         Tags=[{"Key": "team", "Value": "blue"}])
    assert code == "AccessDeniedException"
    orgs.put_resource_policy(Content=delegation(member, ["organizations:CreatePolicy",
                                                         "organizations:TagResource",
                                                         "organizations:DeletePolicy"]))
    policy = member_orgs.create_policy(Name="tagged", Description="",
                                       Type="SERVICE_CONTROL_POLICY", Content=SCP,
                                       Tags=[{"Key": "team", "Value": "blue"}])["Policy"]
    pid = policy["PolicySummary"]["Id"]
    assert orgs.list_tags_for_resource(ResourceId=pid)["Tags"] == [{"Key": "team", "Value": "blue"}]
    member_orgs.delete_policy(PolicyId=pid)


def test_delegation_lists_can_be_delegated(org):
    orgs, member_orgs, member = org["orgs"], org["member_orgs"], org["member"]
    code, _ = error_code(member_orgs.list_delegated_administrators)
    assert code == "AccessDeniedException"
    orgs.put_resource_policy(Content=delegation(member, "organizations:ListDelegated*"))
    assert member_orgs.list_delegated_administrators()["DelegatedAdministrators"] == []
    # Past authorization: the member is no delegated administrator itself.
    code, _ = error_code(member_orgs.list_delegated_services_for_account, AccountId=member)
    assert code == "AccountNotRegisteredException"


def test_tags_only_when_the_policy_is_created(org):
    orgs, member = org["orgs"], org["member"]
    orgs.put_resource_policy(Content=delegation(member, "organizations:List*"))
    code, _ = error_code(orgs.put_resource_policy, Content=delegation(member, "organizations:List*"),
                         Tags=[{"Key": "a", "Value": "b"}])
    assert code == "InvalidInputException"
