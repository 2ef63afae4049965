"""Organization trails: the management account's trail with
IsOrganizationTrail records every member account's calls, in files under
AWSLogs/<org id>/<account>/CloudTrail/<region>/ as CloudTrail writes them.
Only the management account of an organization may create one."""
import glob
import gzip
import json
import os
import time

import botocore.exceptions
import pytest

from conftest import Rampart
from iam_helpers import uniq
from org_helpers import client, start_two_accounts


@pytest.fixture(scope="module")
def estate(workdir):
    old = os.environ.get("RAMPART_TRAIL_DELIVERY_SECONDS")
    os.environ["RAMPART_TRAIL_DELIVERY_SECONDS"] = "1"
    try:
        s, member, member_admin = start_two_accounts(os.path.join(workdir, "org-trail"))
    finally:
        if old is None:
            del os.environ["RAMPART_TRAIL_DELIVERY_SECONDS"]
        else:
            os.environ["RAMPART_TRAIL_DELIVERY_SECONDS"] = old
    yield s, member, member_admin
    s.stop()


def error_of(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"]["Code"]


def records_under(root, timeout=15.0, want=lambda records: bool(records)):
    """The records of every log file under root, polling until want(records)."""
    deadline = time.time() + timeout
    while True:
        records = []
        for path in glob.glob(os.path.join(root, "**", "*.json.gz"), recursive=True):
            with gzip.open(path) as f:
                records.extend(json.load(f)["Records"])
        if want(records) or time.time() > deadline:
            return records
        time.sleep(0.3)


def test_management_trail_records_member_accounts(estate):
    server, member, member_admin = estate
    management = server.client("sts").get_caller_identity()["Account"]
    org_id = server.client("organizations").describe_organization()["Organization"]["Id"]
    ct = server.client("cloudtrail")
    bucket = uniq("orgtrail")
    trail = ct.create_trail(Name=uniq("org"), S3BucketName=bucket, IsOrganizationTrail=True,
                            IsMultiRegionTrail=True)
    assert trail["IsOrganizationTrail"] is True
    assert ct.get_trail(Name=trail["Name"])["Trail"]["IsOrganizationTrail"] is True
    ct.start_logging(Name=trail["Name"])

    # A mutation in the member account and one in the management account.
    user = uniq("member-user")
    client(server, "iam", member_admin).create_user(UserName=user)
    server.client("iam").create_user(UserName=uniq("mgmt-user"))

    logs = os.path.join(server.data_dir, "trails", bucket, "AWSLogs", org_id)
    member_records = records_under(
        os.path.join(logs, member, "CloudTrail"),
        want=lambda rs: any(r["eventName"] == "CreateUser" for r in rs))
    created = [r for r in member_records if r["eventName"] == "CreateUser"]
    assert len(created) == 1
    assert created[0]["recipientAccountId"] == member
    assert created[0]["requestParameters"]["userName"] == user
    assert all(r["recipientAccountId"] == member for r in member_records)
    mgmt_records = records_under(os.path.join(logs, management, "CloudTrail"),
                                 want=lambda rs: any(r["eventName"] == "CreateUser" for r in rs))
    assert any(r["eventName"] == "CreateUser" for r in mgmt_records)
    assert all(r["recipientAccountId"] == management for r in mgmt_records)
    # File names carry the member account, as CloudTrail's do.
    names = [os.path.basename(p) for p in glob.glob(os.path.join(logs, member, "**", "*.json.gz"),
                                                    recursive=True)]
    assert names and all(n.startswith(f"{member}_CloudTrail_") for n in names)

    # Turning the flag off makes it an ordinary trail of the management account.
    off = ct.update_trail(Name=trail["Name"], IsOrganizationTrail=False)
    assert off["IsOrganizationTrail"] is False


def test_only_the_management_account_creates_organization_trails(estate, workdir):
    server, _, member_admin = estate
    member_ct = client(server, "cloudtrail", member_admin)
    assert error_of(member_ct.create_trail, Name=uniq("org"), S3BucketName=uniq("b"),
                    IsOrganizationTrail=True) == "NotOrganizationMasterAccountException"
    # An account in no organization at all.
    lone = Rampart(os.path.join(workdir, "org-trail-lone")).start()
    try:
        assert error_of(lone.client("cloudtrail").create_trail, Name=uniq("org"),
                        S3BucketName=uniq("b"),
                        IsOrganizationTrail=True) == "OrganizationsNotInUseException"
    finally:
        lone.stop()
    # Log file validation is not offered on organization trails yet.
    assert error_of(server.client("cloudtrail").create_trail, Name=uniq("org"),
                    S3BucketName=uniq("b"), IsOrganizationTrail=True,
                    EnableLogFileValidation=True) == "UnsupportedOperationException"
