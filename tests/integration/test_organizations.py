"""AWS Organizations with service control policies, driven with the real
aws CLI and boto3 against a real rampart server: the API (organization,
accounts, OUs, policies, attachments, pagination, errors) and the
guardrail scenario end to end (an SCP on ProductionOU denies two services
to the member account's administrator and nothing else; the management
account is never limited)."""
import json
import os
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import REGION, Rampart

SCP = "SERVICE_CONTROL_POLICY"
ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
DENY_IAM_KMS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "NoIamNoKms", "Effect": "Deny", "Action": ["iam:*", "kms:*"], "Resource": "*"}]})


def error_of(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def client(server, service, creds):
    return boto3.session.Session().client(
        service, endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        config=botocore.config.Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def org_server(workdir):
    # Its own server: creating an organization changes what the management
    # account's other tests would see.
    s = Rampart(os.path.join(workdir, "organizations")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def admin(org_server):
    """An administrator IAM user of the management account (the root user
    cannot assume roles), as key credentials."""
    iam = org_server.client("iam")
    iam.create_user(UserName="org-admin")
    iam.put_user_policy(UserName="org-admin", PolicyName="admin", PolicyDocument=ADMIN)
    key = iam.create_access_key(UserName="org-admin")["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def org(org_server, admin):
    orgs = client(org_server, "organizations", admin)
    assert error_of(orgs.describe_organization)[0] == "AWSOrganizationsNotInUseException"
    created = orgs.create_organization(FeatureSet="ALL")["Organization"]
    root = orgs.list_roots()["Roots"][0]
    return {"org": created, "root": root, "orgs": orgs}


def create_member(orgs, name):
    st = orgs.create_account(Email=f"{name}-{uuid.uuid4().hex[:8]}@example.com",
                             AccountName=name)["CreateAccountStatus"]
    assert st["State"] == "SUCCEEDED", st
    return st


def test_organization_and_root_shape(org_server, org):
    o, root = org["org"], org["root"]
    mgmt = org_server.client("sts").get_caller_identity()["Account"]
    assert o["Id"].startswith("o-") and len(o["Id"]) == 12
    assert o["Arn"] == f"arn:aws:organizations::{mgmt}:organization/{o['Id']}"
    assert o["FeatureSet"] == "ALL" and o["MasterAccountId"] == mgmt
    assert root["Id"].startswith("r-") and len(root["Id"]) == 6 and root["Name"] == "Root"
    assert root["Arn"] == f"arn:aws:organizations::{mgmt}:root/{o['Id']}/{root['Id']}"
    # The CLI sees the same organization; a second one is refused.
    out = json.loads(org_server.aws("organizations", "describe-organization").stdout)
    assert out["Organization"]["Id"] == o["Id"]
    r = org_server.aws("organizations", "create-organization", check=False)
    assert r.returncode != 0 and "AlreadyInOrganizationException" in r.stderr
    accounts = org["orgs"].list_accounts()["Accounts"]
    assert [a["Id"] for a in accounts] == [mgmt]


def test_accounts_ous_and_tree(org_server, org):
    orgs, root_id = org["orgs"], org["root"]["Id"]
    st = create_member(orgs, "tree")
    acct = st["AccountId"]
    assert st["Id"].startswith("car-")
    assert orgs.describe_create_account_status(
        CreateAccountRequestId=st["Id"])["CreateAccountStatus"]["AccountId"] == acct
    listed = orgs.list_create_account_status(States=["SUCCEEDED"])["CreateAccountStatuses"]
    assert st["Id"] in [s["Id"] for s in listed]
    assert orgs.describe_account(AccountId=acct)["Account"]["JoinedMethod"] == "CREATED"

    out = json.loads(org_server.aws("organizations", "create-organizational-unit", "--parent-id",
                                    root_id, "--name", "Team").stdout)
    ou = out["OrganizationalUnit"]
    assert ou["Id"].startswith("ou-" + root_id[2:] + "-")
    assert error_of(orgs.create_organizational_unit, ParentId=root_id,
                    Name="Team")[0] == "DuplicateOrganizationalUnitException"
    child = orgs.create_organizational_unit(ParentId=ou["Id"], Name="Inner")["OrganizationalUnit"]

    # MoveAccount: each missing piece has its own error.
    assert error_of(orgs.move_account, AccountId=acct, SourceParentId="ou-zzzz-zzzzzzzz",
                    DestinationParentId=ou["Id"])[0] == "SourceParentNotFoundException"
    assert error_of(orgs.move_account, AccountId=acct, SourceParentId=root_id,
                    DestinationParentId="ou-zzzz-zzzzzzzz")[0] == \
        "DestinationParentNotFoundException"
    assert error_of(orgs.move_account, AccountId="999999999999", SourceParentId=root_id,
                    DestinationParentId=ou["Id"])[0] == "AccountNotFoundException"
    orgs.move_account(AccountId=acct, SourceParentId=root_id, DestinationParentId=child["Id"])
    assert error_of(orgs.move_account, AccountId=acct, SourceParentId=root_id,
                    DestinationParentId=ou["Id"])[0] == "AccountNotFoundException"

    parents = json.loads(org_server.aws("organizations", "list-parents", "--child-id",
                                        acct).stdout)["Parents"]
    assert parents == [{"Id": child["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert orgs.list_parents(ChildId=child["Id"])["Parents"] == [
        {"Id": ou["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert error_of(orgs.list_parents, ChildId="ou-zzzz-zzzzzzzz")[0] == "ChildNotFoundException"
    kids = orgs.list_children(ParentId=ou["Id"], ChildType="ORGANIZATIONAL_UNIT")["Children"]
    assert kids == [{"Id": child["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert [a["Id"] for a in orgs.list_accounts_for_parent(ParentId=child["Id"])["Accounts"]] \
        == [acct]
    assert error_of(orgs.list_children, ParentId="ou-zzzz-zzzzzzzz",
                    ChildType="ACCOUNT")[0] == "ParentNotFoundException"

    # An OU must be empty to go; renaming keeps its id.
    assert error_of(orgs.delete_organizational_unit,
                    OrganizationalUnitId=ou["Id"])[0] == "OrganizationalUnitNotEmptyException"
    renamed = orgs.update_organizational_unit(OrganizationalUnitId=child["Id"],
                                              Name="Renamed")["OrganizationalUnit"]
    assert renamed["Id"] == child["Id"] and renamed["Name"] == "Renamed"
    orgs.move_account(AccountId=acct, SourceParentId=child["Id"], DestinationParentId=root_id)
    orgs.delete_organizational_unit(OrganizationalUnitId=child["Id"])
    orgs.delete_organizational_unit(OrganizationalUnitId=ou["Id"])
    assert error_of(orgs.describe_organizational_unit,
                    OrganizationalUnitId=ou["Id"])[0] == "OrganizationalUnitNotFoundException"
    # The organization cannot be deleted while it has member accounts.
    assert error_of(orgs.delete_organization)[0] == "OrganizationNotEmptyException"


def test_pagination_with_the_cli_and_boto3(org_server, org):
    orgs = org["orgs"]
    for i in range(3):
        create_member(orgs, f"page{i}")
    pages = list(orgs.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) >= 3 and all(len(p["Accounts"]) <= 2 for p in pages)
    ids = [a["Id"] for p in pages for a in p["Accounts"]]
    assert len(ids) == len(set(ids)) == len(orgs.list_accounts()["Accounts"])
    # The CLI follows NextToken by itself.
    out = json.loads(org_server.aws("organizations", "list-accounts", "--page-size", "1").stdout)
    assert sorted(a["Id"] for a in out["Accounts"]) == sorted(ids)
    assert error_of(orgs.list_accounts, NextToken="bm90IGEgdG9rZW4=")[0] == \
        "InvalidInputException"


def test_policies_attachments_and_their_rules(org_server, org):
    orgs, root_id = org["orgs"], org["root"]["Id"]
    acct = create_member(orgs, "pol")["AccountId"]
    listed = orgs.list_policies(Filter=SCP)["Policies"]
    assert "p-FullAWSAccess" in [p["Id"] for p in listed]
    p = orgs.create_policy(Name="pol-test", Description="d", Type=SCP,
                           Content=DENY_IAM_KMS)["Policy"]["PolicySummary"]
    assert p["Id"].startswith("p-") and p["AwsManaged"] is False
    # Attaching needs the policy type enabled in the root.
    assert error_of(orgs.attach_policy, PolicyId=p["Id"],
                    TargetId=acct)[0] == "PolicyTypeNotEnabledException"
    root = orgs.enable_policy_type(RootId=root_id, PolicyType=SCP)["Root"]
    assert root["PolicyTypes"] == [{"Type": SCP, "Status": "ENABLED"}]
    assert error_of(orgs.enable_policy_type, RootId=root_id,
                    PolicyType=SCP)[0] == "PolicyTypeAlreadyEnabledException"
    # FullAWSAccess is on the root and on every account, the new ones too.
    for target in (root_id, acct, create_member(orgs, "late")["AccountId"]):
        ids = [x["Id"] for x in orgs.list_policies_for_target(TargetId=target,
                                                               Filter=SCP)["Policies"]]
        assert ids == ["p-FullAWSAccess"], target

    orgs.attach_policy(PolicyId=p["Id"], TargetId=acct)
    assert error_of(orgs.attach_policy, PolicyId=p["Id"],
                    TargetId=acct)[0] == "DuplicatePolicyAttachmentException"
    assert error_of(orgs.attach_policy, PolicyId="p-zzzzzzzz",
                    TargetId=acct)[0] == "PolicyNotFoundException"
    assert error_of(orgs.attach_policy, PolicyId=p["Id"],
                    TargetId="999999999999")[0] == "TargetNotFoundException"
    targets = orgs.list_targets_for_policy(PolicyId=p["Id"])["Targets"]
    assert [(t["TargetId"], t["Type"]) for t in targets] == [(acct, "ACCOUNT")]
    assert error_of(orgs.delete_policy, PolicyId=p["Id"])[0] == "PolicyInUseException"

    # A target keeps at least one SCP.
    orgs.detach_policy(PolicyId="p-FullAWSAccess", TargetId=acct)
    code, msg = error_of(orgs.detach_policy, PolicyId=p["Id"], TargetId=acct)
    assert code == "ConstraintViolationException" and "MIN_POLICY_TYPE_ATTACHMENT" in msg
    orgs.attach_policy(PolicyId="p-FullAWSAccess", TargetId=acct)
    orgs.detach_policy(PolicyId=p["Id"], TargetId=acct)

    # SCP syntax: no Principal, and the 5,120-character quota counts spaces.
    bad = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "iam:*", "Resource": "*"}]})
    assert error_of(orgs.create_policy, Name="bad", Description="", Type=SCP,
                    Content=bad)[0] == "MalformedPolicyDocumentException"
    big = " " * 5100 + DENY_IAM_KMS
    assert error_of(orgs.create_policy, Name="big", Description="", Type=SCP,
                    Content=big)[0] == "ConstraintViolationException"
    assert error_of(orgs.create_policy, Name="pol-test", Description="", Type=SCP,
                    Content=DENY_IAM_KMS)[0] == "DuplicatePolicyException"

    updated = orgs.update_policy(PolicyId=p["Id"], Name="pol-renamed",
                                 Content=ADMIN)["Policy"]
    assert updated["PolicySummary"]["Name"] == "pol-renamed" and updated["Content"] == ADMIN
    assert orgs.describe_policy(PolicyId=p["Id"])["Policy"]["Content"] == ADMIN
    full = orgs.describe_policy(PolicyId="p-FullAWSAccess")["Policy"]["PolicySummary"]
    assert full["AwsManaged"] is True and full["Arn"].endswith(
        ":aws:policy/service_control_policy/p-FullAWSAccess")
    orgs.delete_policy(PolicyId=p["Id"])
    assert error_of(orgs.describe_policy, PolicyId=p["Id"])[0] == "PolicyNotFoundException"


def test_guardrail_scenario(org_server, org, admin):
    orgs, root_id = org["orgs"], org["root"]["Id"]
    mgmt = org_server.client("sts").get_caller_identity()["Account"]
    member = create_member(orgs, "workload")["AccountId"]
    prod = orgs.create_organizational_unit(ParentId=root_id,
                                           Name="ProductionOU")["OrganizationalUnit"]["Id"]
    orgs.move_account(AccountId=member, SourceParentId=root_id, DestinationParentId=prod)
    roots = orgs.list_roots()["Roots"]
    if not roots[0]["PolicyTypes"]:
        orgs.enable_policy_type(RootId=root_id, PolicyType=SCP)
    scp = orgs.create_policy(Name="DenyIamAndKms", Description="guardrail", Type=SCP,
                             Content=DENY_IAM_KMS)["Policy"]["PolicySummary"]["Id"]

    # The management account's administrator assumes the access role that
    # CreateAccount made in the member account.
    role_arn = f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
    creds = client(org_server, "sts", admin).assume_role(
        RoleArn=role_arn, RoleSessionName="ops")["Credentials"]
    assumed = client(org_server, "sts", creds).get_caller_identity()
    assert assumed["Account"] == member
    iam_m, kms_m = client(org_server, "iam", creds), client(org_server, "kms", creds)
    orgs_m = client(org_server, "organizations", creds)
    # Before the guardrail the member administrator has full rights.
    names = [r["RoleName"] for r in iam_m.list_roles()["Roles"]]
    assert "OrganizationAccountAccessRole" in names
    kms_m.list_keys()

    orgs.attach_policy(PolicyId=scp, TargetId=prod)
    for call in (iam_m.list_roles, kms_m.list_keys, kms_m.create_key):
        code, msg = error_of(call)
        assert code in ("AccessDenied", "AccessDeniedException"), (call, code)
        assert "with an explicit deny in a service control policy" in msg, msg
        assert assumed["Arn"] in msg
    # Everything else stays allowed: a member may describe its
    # organization, and assume a role that trusts its account.
    assert orgs_m.describe_organization()["Organization"]["Id"] == org["org"]["Id"]
    assert client(org_server, "sts", creds).get_caller_identity()["Arn"] == assumed["Arn"]
    iam = org_server.client("iam")
    iam.create_role(RoleName="from-member", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "AWS": f"arn:aws:iam::{member}:root"}, "Action": "sts:AssumeRole"}]}))
    hop = client(org_server, "sts", creds).assume_role(
        RoleArn=f"arn:aws:iam::{mgmt}:role/from-member", RoleSessionName="hop")
    assert hop["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{mgmt}:assumed-role/")
    # Management-only operations stay closed to members.
    assert error_of(orgs_m.list_accounts)[0] == "AccessDeniedException"

    # The management account is never limited by SCPs, even at the root.
    orgs.attach_policy(PolicyId=scp, TargetId=root_id)
    mgmt_iam = client(org_server, "iam", admin)
    assert "org-admin" in [u["UserName"] for u in mgmt_iam.list_users()["Users"]]
    client(org_server, "kms", admin).list_keys()
    orgs.detach_policy(PolicyId=scp, TargetId=root_id)

    # Detaching the SCP restores access.
    orgs.detach_policy(PolicyId=scp, TargetId=prod)
    assert "OrganizationAccountAccessRole" in [r["RoleName"] for r in iam_m.list_roles()["Roles"]]
    kms_m.list_keys()


def test_tags_on_roots_ous_accounts_and_policies(org_server, org):
    orgs, root_id = org["orgs"], org["root"]["Id"]
    ou = orgs.create_organizational_unit(ParentId=root_id, Name="Tagged",
                                         Tags=[{"Key": "env", "Value": "prod"}])
    ou_id = ou["OrganizationalUnit"]["Id"]
    assert orgs.list_tags_for_resource(ResourceId=ou_id)["Tags"] == [
        {"Key": "env", "Value": "prod"}]
    st = orgs.create_account(Email=f"tag-{uuid.uuid4().hex[:8]}@example.com", AccountName="tag",
                             Tags=[{"Key": "team", "Value": "a"}])["CreateAccountStatus"]
    acct = st["AccountId"]
    pol = orgs.create_policy(Name="tagged-pol", Description="", Type=SCP, Content=ADMIN,
                             Tags=[{"Key": "k", "Value": "v"}])["Policy"]["PolicySummary"]["Id"]
    for resource in (root_id, acct, pol):
        orgs.tag_resource(ResourceId=resource, Tags=[{"Key": "owner", "Value": "ops"}])
    tags = orgs.list_tags_for_resource(ResourceId=acct)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("owner", "ops"), ("team", "a")]
    out = json.loads(org_server.aws("organizations", "list-tags-for-resource", "--resource-id",
                                    pol).stdout)
    assert sorted(t["Key"] for t in out["Tags"]) == ["k", "owner"]
    # Re-tagging a key replaces its value; untagging removes it.
    orgs.tag_resource(ResourceId=acct, Tags=[{"Key": "team", "Value": "b"}])
    orgs.untag_resource(ResourceId=acct, TagKeys=["owner"])
    assert orgs.list_tags_for_resource(ResourceId=acct)["Tags"] == [{"Key": "team", "Value": "b"}]
    assert orgs.list_tags_for_resource(ResourceId=root_id)["Tags"] == [
        {"Key": "owner", "Value": "ops"}]

    assert error_of(orgs.tag_resource, ResourceId=acct, Tags=[
        {"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}])[0] == "InvalidInputException"
    assert error_of(orgs.tag_resource, ResourceId=acct,
                    Tags=[{"Key": "aws:x", "Value": "1"}])[0] == "InvalidInputException"
    assert error_of(orgs.tag_resource, ResourceId="ou-zzzz-zzzzzzzz",
                    Tags=[{"Key": "a", "Value": "1"}])[0] == "TargetNotFoundException"
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert error_of(orgs.tag_resource, ResourceId=acct,
                    Tags=too_many)[0] == "ConstraintViolationException"
    orgs.delete_policy(PolicyId=pol)
    assert error_of(orgs.list_tags_for_resource, ResourceId=pol)[0] == "TargetNotFoundException"


def test_principal_org_id_and_paths_reach_policies(org_server, org, admin):
    orgs, root_id, org_id = org["orgs"], org["root"]["Id"], org["org"]["Id"]
    mgmt = org_server.client("sts").get_caller_identity()["Account"]
    member = create_member(orgs, "orgkeys")["AccountId"]
    ou = orgs.create_organizational_unit(ParentId=root_id, Name="Keys")["OrganizationalUnit"]["Id"]
    orgs.move_account(AccountId=member, SourceParentId=root_id, DestinationParentId=ou)
    creds = client(org_server, "sts", admin).assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole",
        RoleSessionName="keys")["Credentials"]
    iam = org_server.client("iam")

    def role_for(name, condition):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{member}:root"},
                "Action": "sts:AssumeRole", "Condition": condition}]}))
        return f"arn:aws:iam::{mgmt}:role/{name}"

    sts_m = client(org_server, "sts", creds)
    same_org = role_for("same-org", {"StringEquals": {"aws:PrincipalOrgID": org_id}})
    sts_m.assume_role(RoleArn=same_org, RoleSessionName="sa")
    in_ou = role_for("in-ou", {"ForAnyValue:StringLike": {
        "aws:PrincipalOrgPaths": f"{org_id}/{root_id}/{ou}/*"}})
    sts_m.assume_role(RoleArn=in_ou, RoleSessionName="sb")
    other_org = role_for("other-org", {"StringEquals": {"aws:PrincipalOrgID": "o-0000000000"}})
    assert error_of(sts_m.assume_role, RoleArn=other_org,
                    RoleSessionName="sc")[0] == "AccessDenied"


def test_resource_tags_reach_policies(org_server, org):
    orgs, root_id = org["orgs"], org["root"]["Id"]
    prod = orgs.create_organizational_unit(ParentId=root_id, Name="TagProd", Tags=[
        {"Key": "env", "Value": "prod"}])["OrganizationalUnit"]["Id"]
    dev = orgs.create_organizational_unit(ParentId=root_id, Name="TagDev", Tags=[
        {"Key": "env", "Value": "dev"}])["OrganizationalUnit"]["Id"]
    iam = org_server.client("iam")
    iam.create_user(UserName="tag-reader")
    iam.put_user_policy(UserName="tag-reader", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "organizations:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "organizations:DescribeOrganizationalUnit",
             "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/env": "prod"}}}]}))
    key = iam.create_access_key(UserName="tag-reader")["AccessKey"]
    reader = client(org_server, "organizations", key)
    assert reader.describe_organizational_unit(
        OrganizationalUnitId=dev)["OrganizationalUnit"]["Name"] == "TagDev"
    code, msg = error_of(reader.describe_organizational_unit, OrganizationalUnitId=prod)
    assert code == "AccessDeniedException" and "explicit deny" in msg, msg
    # Changing the tag changes the decision.
    orgs.tag_resource(ResourceId=prod, Tags=[{"Key": "env", "Value": "staging"}])
    reader.describe_organizational_unit(OrganizationalUnitId=prod)
