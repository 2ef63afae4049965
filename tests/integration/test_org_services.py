"""Organizations trusted access (Enable/DisableAWSServiceAccess,
ListAWSServiceAccessForOrganization), delegated administrators
(Register/DeregisterDelegatedAdministrator, ListDelegatedAdministrators,
ListDelegatedServicesForAccount) and accounts leaving
(RemoveAccountFromOrganization, LeaveOrganization) with the aws CLI and
boto3: who may call them, AWS's errors, and what each list shows."""
import json
import os

import pytest

from iam_helpers import error_code
from org_helpers import client, start_two_accounts

CT = "cloudtrail.amazonaws.com"
GD = "guardduty.amazonaws.com"


@pytest.fixture(scope="module")
def org(workdir):
    s, member, member_creds = start_two_accounts(os.path.join(workdir, "org-services"))
    yield {"server": s, "member": member, "orgs": s.client("organizations"),
           "member_creds": member_creds,
           "member_orgs": client(s, "organizations", member_creds)}
    s.stop()


def enabled(orgs):
    return [e["ServicePrincipal"] for e in
            orgs.list_aws_service_access_for_organization()["EnabledServicePrincipals"]]


def test_trusted_access_enable_list_disable(org):
    srv, orgs = org["server"], org["orgs"]
    srv.aws("organizations", "enable-aws-service-access", "--service-principal", CT)
    orgs.enable_aws_service_access(ServicePrincipal=GD)
    orgs.enable_aws_service_access(ServicePrincipal=CT)  # again: no error, no duplicate
    out = json.loads(srv.aws("organizations", "list-aws-service-access-for-organization").stdout)
    listed = out["EnabledServicePrincipals"]
    assert [e["ServicePrincipal"] for e in listed] == [CT, GD]
    assert all("DateEnabled" in e for e in listed)

    page = orgs.list_aws_service_access_for_organization(MaxResults=1)
    assert len(page["EnabledServicePrincipals"]) == 1 and "NextToken" in page

    orgs.disable_aws_service_access(ServicePrincipal=GD)
    assert enabled(orgs) == [CT]


def test_trusted_access_errors(org):
    orgs, member_orgs = org["orgs"], org["member_orgs"]
    code, _ = error_code(orgs.enable_aws_service_access, ServicePrincipal="not-a-service")
    assert code == "InvalidInputException"
    # Only the management account manages trusted access.
    code, _ = error_code(member_orgs.enable_aws_service_access, ServicePrincipal=CT)
    assert code == "AccessDeniedException"
    code, _ = error_code(member_orgs.list_aws_service_access_for_organization)
    assert code == "AccessDeniedException"


def test_delegated_administrator_lifecycle(org):
    srv, orgs, member = org["server"], org["orgs"], org["member"]
    # A delegated administrator needs the service's trusted access first.
    orgs.disable_aws_service_access(ServicePrincipal=GD)
    code, message = error_code(orgs.register_delegated_administrator, AccountId=member,
                               ServicePrincipal=GD)
    assert code == "ConstraintViolationException" and "SERVICE_ACCESS_NOT_ENABLED" in message
    orgs.enable_aws_service_access(ServicePrincipal=GD)
    orgs.enable_aws_service_access(ServicePrincipal=CT)
    srv.aws("organizations", "register-delegated-administrator", "--account-id", member,
            "--service-principal", CT)
    orgs.register_delegated_administrator(AccountId=member, ServicePrincipal=GD)

    admins = orgs.list_delegated_administrators()["DelegatedAdministrators"]
    assert [a["Id"] for a in admins] == [member]
    assert admins[0]["Arn"].endswith("/" + member) and "DelegationEnabledDate" in admins[0]
    for_ct = orgs.list_delegated_administrators(ServicePrincipal=CT)["DelegatedAdministrators"]
    assert [a["Id"] for a in for_ct] == [member]
    services = orgs.list_delegated_services_for_account(AccountId=member)["DelegatedServices"]
    assert sorted(s["ServicePrincipal"] for s in services) == [CT, GD]

    # A delegated administrator may read these lists too, and the
    # organization (read-only operations), but not change it.
    member_orgs = org["member_orgs"]
    seen = member_orgs.list_delegated_administrators()["DelegatedAdministrators"]
    assert [a["Id"] for a in seen] == [member]
    assert member in [a["Id"] for a in member_orgs.list_accounts()["Accounts"]]
    root = member_orgs.list_roots()["Roots"][0]["Id"]
    # Reads of resources that live in the management account too.
    assert member_orgs.describe_account(AccountId=member)["Account"]["Id"] == member
    children = member_orgs.list_children(ParentId=root, ChildType="ACCOUNT")["Children"]
    assert member in [c["Id"] for c in children]
    assert member_orgs.list_parents(ChildId=member)["Parents"][0]["Id"] == root
    delegated = member_orgs.list_delegated_services_for_account(AccountId=member)
    assert len(delegated["DelegatedServices"]) == 2
    # The member's own policies still decide: a user of the delegated
    # account without Organizations permissions reads nothing.
    member_iam = client(srv, "iam", org["member_creds"])
    member_iam.create_user(UserName="no-orgs")
    member_iam.put_user_policy(UserName="no-orgs", PolicyName="kms-only", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}))
    key = member_iam.create_access_key(UserName="no-orgs")["AccessKey"]
    plain = client(srv, "organizations", key)
    for call, kwargs in ((plain.list_accounts, {}), (plain.describe_account, {"AccountId": member})):
        code, _ = error_code(call, **kwargs)
        assert code == "AccessDeniedException"
    code, _ = error_code(member_orgs.create_organizational_unit, ParentId=root, Name="nope")
    assert code == "AccessDeniedException"

    code, _ = error_code(orgs.register_delegated_administrator, AccountId=member,
                         ServicePrincipal=CT)
    assert code == "AccountAlreadyRegisteredException"

    orgs.deregister_delegated_administrator(AccountId=member, ServicePrincipal=CT)
    orgs.deregister_delegated_administrator(AccountId=member, ServicePrincipal=GD)
    assert orgs.list_delegated_administrators()["DelegatedAdministrators"] == []
    code, _ = error_code(orgs.deregister_delegated_administrator, AccountId=member,
                         ServicePrincipal=CT)
    assert code == "AccountNotRegisteredException"
    code, _ = error_code(orgs.list_delegated_services_for_account, AccountId=member)
    assert code == "AccountNotRegisteredException"
    # No longer a delegated administrator: the member may not read them.
    code, _ = error_code(org["member_orgs"].list_delegated_administrators)
    assert code == "AccessDeniedException"
    code, _ = error_code(org["member_orgs"].list_accounts)
    assert code == "AccessDeniedException"


def test_delegated_administrator_errors(org):
    orgs, member = org["orgs"], org["member"]
    management = org["server"].client("sts").get_caller_identity()["Account"]
    code, message = error_code(orgs.register_delegated_administrator, AccountId=management,
                               ServicePrincipal=CT)
    assert code == "ConstraintViolationException", message
    code, _ = error_code(orgs.register_delegated_administrator, AccountId="111122223333",
                         ServicePrincipal=CT)
    assert code == "AccountNotFoundException"
    code, _ = error_code(org["member_orgs"].register_delegated_administrator, AccountId=member,
                         ServicePrincipal=CT)
    assert code == "AccessDeniedException"


DENY_KMS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]})


def scp_denying_kms(orgs, target):
    """Enables SCPs if needed and attaches a kms:* deny to target."""
    root = orgs.list_roots()["Roots"][0]
    if not root["PolicyTypes"]:
        orgs.enable_policy_type(RootId=root["Id"], PolicyType="SERVICE_CONTROL_POLICY")
    policy = orgs.create_policy(Name=f"deny-kms-{target}", Description="", Content=DENY_KMS,
                                Type="SERVICE_CONTROL_POLICY")["Policy"]["PolicySummary"]
    orgs.attach_policy(PolicyId=policy["Id"], TargetId=target)


def new_member(workdir, name):
    """A server of the test's own: leaving changes the organization."""
    return start_two_accounts(os.path.join(workdir, name))


def test_remove_account_frees_it_from_scps(workdir):
    s, member, creds = new_member(workdir, "org-remove")
    try:
        orgs = s.client("organizations")
        scp_denying_kms(orgs, member)
        member_kms = client(s, "kms", creds)
        assert error_code(member_kms.list_keys)[0] == "AccessDeniedException"
        orgs.tag_resource(ResourceId=member, Tags=[{"Key": "k", "Value": "v"}])
        orgs.enable_aws_service_access(ServicePrincipal=CT)
        orgs.register_delegated_administrator(AccountId=member, ServicePrincipal=CT)
        # A delegated administrator must be deregistered before it leaves.
        code, message = error_code(orgs.remove_account_from_organization, AccountId=member)
        assert code == "ConstraintViolationException", message
        assert "CANNOT_REMOVE_DELEGATED_ADMINISTRATOR_FROM_ORG" in message
        orgs.deregister_delegated_administrator(AccountId=member, ServicePrincipal=CT)

        s.aws("organizations", "remove-account-from-organization", "--account-id", member)
        assert member not in [a["Id"] for a in orgs.list_accounts()["Accounts"]]
        # The SCP no longer applies, on the very next request; the account
        # keeps its role, so the session still works.
        member_kms.list_keys()
        code, _ = error_code(client(s, "organizations", creds).describe_organization)
        assert code == "AWSOrganizationsNotInUseException"
        code, _ = error_code(orgs.remove_account_from_organization, AccountId=member)
        assert code == "AccountNotFoundException"
        # With no members left, the organization can be deleted.
        orgs.delete_organization()
    finally:
        s.stop()


def test_member_leaves_and_management_cannot(workdir):
    s, member, creds = new_member(workdir, "org-leave")
    try:
        orgs = s.client("organizations")
        management = s.client("sts").get_caller_identity()["Account"]
        code, _ = error_code(orgs.leave_organization)
        assert code == "MasterCannotLeaveOrganizationException"
        code, _ = error_code(orgs.remove_account_from_organization, AccountId=management)
        assert code == "MasterCannotLeaveOrganizationException"

        member_orgs = client(s, "organizations", creds)
        member_orgs.leave_organization()
        assert [a["Id"] for a in orgs.list_accounts()["Accounts"]] == [management]
        code, _ = error_code(member_orgs.leave_organization)
        assert code == "AWSOrganizationsNotInUseException"
    finally:
        s.stop()


def test_removed_account_is_invited_back(workdir):
    s, member, creds = new_member(workdir, "org-invite")
    try:
        orgs = s.client("organizations")
        name_before = orgs.describe_account(AccountId=member)["Account"]["Name"]
        orgs.remove_account_from_organization(AccountId=member)
        member_orgs = client(s, "organizations", creds)

        out = json.loads(s.aws("organizations", "invite-account-to-organization", "--target",
                               f"Id={member},Type=ACCOUNT", "--notes", "come back",
                               "--tags", "Key=team,Value=blue").stdout)["Handshake"]
        assert out["State"] == "OPEN" and out["Action"] == "INVITE"
        assert out["Id"].startswith("h-") and out["Arn"].endswith("/invite/" + out["Id"])
        assert {"Id": member, "Type": "ACCOUNT"} in out["Parties"]
        assert {"Value": "come back", "Type": "NOTES"} in out["Resources"]
        code, _ = error_code(orgs.invite_account_to_organization,
                             Target={"Id": member, "Type": "ACCOUNT"})
        assert code == "DuplicateHandshakeException"

        mine = member_orgs.list_handshakes_for_account()["Handshakes"]
        assert [h["Id"] for h in mine] == [out["Id"]]
        assert [h["Id"] for h in orgs.list_handshakes_for_organization()["Handshakes"]] == \
            [out["Id"]]
        # Only the invited account accepts; the management account cannot.
        code, _ = error_code(orgs.accept_handshake, HandshakeId=out["Id"])
        assert code == "HandshakeNotFoundException"

        accepted = member_orgs.accept_handshake(HandshakeId=out["Id"])["Handshake"]
        assert accepted["State"] == "ACCEPTED"
        account = orgs.describe_account(AccountId=member)["Account"]
        assert account["JoinedMethod"] == "INVITED" and account["Name"] == name_before
        assert orgs.list_tags_for_resource(ResourceId=member)["Tags"] == \
            [{"Key": "team", "Value": "blue"}]
        code, _ = error_code(member_orgs.accept_handshake, HandshakeId=out["Id"])
        assert code == "HandshakeAlreadyInStateException"
        code, _ = error_code(orgs.cancel_handshake, HandshakeId=out["Id"])
        assert code == "InvalidHandshakeTransitionException"
        # A member cannot be invited again.
        code, _ = error_code(orgs.invite_account_to_organization,
                             Target={"Id": member, "Type": "ACCOUNT"})
        assert code == "HandshakeConstraintViolationException"
    finally:
        s.stop()


def test_invitations_declined_canceled_and_refused(workdir):
    s, member, creds = new_member(workdir, "org-decline")
    try:
        orgs = s.client("organizations")
        email = orgs.describe_account(AccountId=member)["Account"]["Email"]
        orgs.remove_account_from_organization(AccountId=member)
        member_orgs = client(s, "organizations", creds)
        target = {"Id": member, "Type": "ACCOUNT"}

        first = orgs.invite_account_to_organization(Target=target)["Handshake"]["Id"]
        assert member_orgs.decline_handshake(HandshakeId=first)["Handshake"]["State"] == \
            "DECLINED"
        second = orgs.invite_account_to_organization(Target=target)["Handshake"]["Id"]
        assert orgs.cancel_handshake(HandshakeId=second)["Handshake"]["State"] == "CANCELED"
        assert member_orgs.describe_handshake(HandshakeId=second)["Handshake"]["State"] == \
            "CANCELED"
        code, _ = error_code(member_orgs.accept_handshake, HandshakeId=second)
        assert code == "InvalidHandshakeTransitionException"
        assert member not in [a["Id"] for a in orgs.list_accounts()["Accounts"]]

        for bad in ({"Id": "999999999999", "Type": "ACCOUNT"},
                    {"Id": "someone@example.com", "Type": "EMAIL"}):
            code, _ = error_code(orgs.invite_account_to_organization, Target=bad)
            assert code == "InvalidInputException", bad
        code, _ = error_code(orgs.enable_all_features)
        assert code == "HandshakeConstraintViolationException"
        code, _ = error_code(member_orgs.describe_handshake, HandshakeId="h-" + "0" * 10)
        assert code == "HandshakeNotFoundException"

        # The address it left with went to a new account meanwhile: it comes
        # back with a reserved one instead of failing.
        st = orgs.create_account(Email=email, AccountName="newcomer")["CreateAccountStatus"]
        assert st["State"] == "SUCCEEDED", st
        third = orgs.invite_account_to_organization(Target=target)["Handshake"]["Id"]
        member_orgs.accept_handshake(HandshakeId=third)
        back = orgs.describe_account(AccountId=member)["Account"]
        assert back["Email"] == f"root@{member}.rampart.invalid"
    finally:
        s.stop()
