"""Organizations trusted access (Enable/DisableAWSServiceAccess,
ListAWSServiceAccessForOrganization) and delegated administrators
(Register/DeregisterDelegatedAdministrator, ListDelegatedAdministrators,
ListDelegatedServicesForAccount) with the aws CLI and boto3: who may call
them, AWS's errors, and what each list shows."""
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

    # A delegated administrator may read these lists too.
    seen = org["member_orgs"].list_delegated_administrators()["DelegatedAdministrators"]
    assert [a["Id"] for a in seen] == [member]

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
    # No longer a delegated administrator: the member may not read the list.
    code, _ = error_code(org["member_orgs"].list_delegated_administrators)
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
