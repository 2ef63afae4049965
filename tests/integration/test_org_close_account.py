"""Organizations CloseAccount with boto3 and the aws CLI: the account stays
in the organization as SUSPENDED, its keys and role sessions stop working
at once, and AWS's errors (the management account, closing twice, an
unknown account, a member calling)."""
import json
import os
import uuid

import pytest

from iam_helpers import error_code
from org_helpers import ADMIN, client, start_two_accounts


@pytest.fixture(scope="module")
def org(workdir):
    s, member, member_creds = start_two_accounts(os.path.join(workdir, "org-close"))
    iam = s.client("iam")
    iam.create_user(UserName="closer")
    iam.put_user_policy(UserName="closer", PolicyName="admin", PolicyDocument=ADMIN)
    key = iam.create_access_key(UserName="closer")["AccessKey"]
    yield {"server": s, "member": member, "member_creds": member_creds,
           "orgs": s.client("organizations"),
           "admin": {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}}
    s.stop()


def new_account(orgs, name):
    st = orgs.create_account(Email=f"{name}-{uuid.uuid4().hex[:8]}@example.com",
                             AccountName=name)["CreateAccountStatus"]
    assert st["State"] == "SUCCEEDED", st
    return st["AccountId"]


def test_closing_suspends_the_account_and_its_credentials(org):
    srv, orgs = org["server"], org["orgs"]
    account = new_account(orgs, "to-close")
    role = client(srv, "sts", org["admin"]).assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                             RoleSessionName="before")["Credentials"]
    iam = client(srv, "iam", role)
    iam.create_user(UserName="worker")
    key = iam.create_access_key(UserName="worker")["AccessKey"]
    user_sts = client(srv, "sts", {"AccessKeyId": key["AccessKeyId"],
                                   "SecretAccessKey": key["SecretAccessKey"]})
    assert user_sts.get_caller_identity()["Account"] == account
    assert client(srv, "sts", role).get_caller_identity()["Account"] == account

    srv.aws("organizations", "close-account", "--account-id", account)

    described = orgs.describe_account(AccountId=account)["Account"]
    assert described["Status"] == "SUSPENDED"
    listed = {a["Id"]: a["Status"] for a in orgs.list_accounts()["Accounts"]}
    assert listed[account] == "SUSPENDED" and listed[org["member"]] == "ACTIVE"
    # Neither the user's key nor the session issued before works any more.
    for creds in ({"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]},
                  role):
        code, _ = error_code(client(srv, "sts", creds).get_caller_identity)
        assert code == "InvalidClientTokenId"
    # Other accounts are untouched.
    assert client(srv, "sts", org["member_creds"]).get_caller_identity()["Account"] == org["member"]

    # Nor can its roles be assumed any more.
    code, _ = error_code(client(srv, "sts", org["admin"]).assume_role,
                         RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                         RoleSessionName="after")
    assert code == "AccessDenied"

    code, _ = error_code(orgs.close_account, AccountId=account)
    assert code == "AccountAlreadyClosedException"


def test_close_account_errors(org):
    orgs = org["orgs"]
    mgmt = orgs.describe_organization()["Organization"]["MasterAccountId"]
    code, message = error_code(orgs.close_account, AccountId=mgmt)
    assert code == "ConstraintViolationException" and "CANNOT_CLOSE_MANAGEMENT_ACCOUNT" in message
    code, _ = error_code(orgs.close_account, AccountId="999999999999")
    assert code == "AccountNotFoundException"
    # Only the management account closes accounts.
    member_orgs = client(org["server"], "organizations", org["member_creds"])
    code, _ = error_code(member_orgs.close_account, AccountId=org["member"])
    assert code == "AccessDeniedException"


def test_closing_is_limited_per_thirty_days(org):
    orgs = org["orgs"]
    closed = sum(1 for a in orgs.list_accounts()["Accounts"] if a["Status"] == "SUSPENDED")
    # At least 10 closures per 30 days are allowed; the eleventh is refused.
    for i in range(10 - closed):
        orgs.close_account(AccountId=new_account(orgs, f"quota-{i}"))
    extra = new_account(orgs, "one-too-many")
    code, message = error_code(orgs.close_account, AccountId=extra)
    assert code == "ConstraintViolationException" and "CLOSE_ACCOUNT_QUOTA_EXCEEDED" in message
    assert orgs.describe_account(AccountId=extra)["Account"]["Status"] == "ACTIVE"
    statuses = json.loads(org["server"].aws("organizations", "list-accounts").stdout)["Accounts"]
    assert sum(1 for a in statuses if a["Status"] == "SUSPENDED") == 10
