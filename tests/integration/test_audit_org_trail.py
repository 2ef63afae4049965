"""Organization trails: the management account's trail with
IsOrganizationTrail records every member account's calls, in files under
AWSLogs/<org id>/<account>/CloudTrail/<region>/ as CloudTrail writes them,
with a signed digest chain per account under
AWSLogs/<org id>/<account>/CloudTrail-Digest/ that `rampart audit
validate` checks. Only the management account of an organization may
create or change one; member accounts see it (by its ARN) as CloudTrail
shows it to them."""
import datetime
import glob
import gzip
import io
import json
import os
import subprocess
import time

import botocore.exceptions
import pytest

from conftest import RAMPART_BIN, REGION, Rampart
from iam_helpers import uniq
from org_helpers import client, start_two_accounts


@pytest.fixture(scope="module")
def estate(workdir):
    s, member, member_admin = start_two_accounts(
        os.path.join(workdir, "org-trail"),
        config={"audit": {"delivery_interval_seconds": 1, "digest_interval_seconds": 2}})
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


def digests_of(bucket_dir, org_id, account):
    pattern = os.path.join(bucket_dir, "AWSLogs", org_id, account, "CloudTrail-Digest", "**",
                           f"{account}_CloudTrail-Digest_*.json.gz")
    return sorted(glob.glob(pattern, recursive=True))


def read_gz_json(path):
    with gzip.open(path) as f:
        return json.load(f)


class DirectoryS3:
    """The calls the aws CLI's digest traversal makes to S3 (list_objects
    pages, get_object with the signature in the object metadata), answered
    from a trail's bucket directory."""

    def __init__(self, bucket_dir):
        self.bucket_dir = bucket_dir
        self.marker = ""

    def get_client(self, bucket):
        return self

    def get_paginator(self, name):
        assert name == "list_objects"
        return self

    def paginate(self, Bucket, Marker):
        self.marker = Marker
        return self

    def search(self, expression):
        assert expression == "Contents[*].Key"
        keys = [os.path.relpath(p, self.bucket_dir)
                for p in glob.glob(os.path.join(self.bucket_dir, "**", "*"), recursive=True)
                if os.path.isfile(p)]
        return iter(sorted(k for k in keys if k > self.marker))

    def get_object(self, Bucket, Key):
        path = os.path.join(self.bucket_dir, Key)
        with open(path, "rb") as f:
            body = f.read()
        with open(path + ".sig") as f:
            signature = f.read().strip()
        return {"Body": io.BytesIO(body),
                "Metadata": {"signature": signature, "signature-algorithm": "SHA256withRSA"}}


def cli_traversal(server, bucket, bucket_dir, org_id, account, trail, since):
    """The digests of account's chain as the aws CLI's own DigestTraverser
    validates them (the code behind `aws cloudtrail validate-logs` for an
    organization trail), and the problems it reported."""
    from awscli.customizations.cloudtrail.validation import (DigestProvider, DigestTraverser,
                                                             PublicKeyProvider)
    problems = []

    def report(**kwargs):
        problems.append(kwargs)

    provider = DigestProvider(DirectoryS3(bucket_dir), account, trail, REGION,
                              organization_id=org_id)
    traverser = DigestTraverser(provider, bucket, None,
                                PublicKeyProvider(server.client("cloudtrail")),
                                on_invalid=report, on_gap=report, on_missing=report)
    now = datetime.datetime.now(datetime.timezone.utc)
    return list(traverser.traverse(since, now)), problems


def validate(bucket_dir, keys_file, *extra):
    r = subprocess.run([RAMPART_BIN, "audit", "validate", "--trail-dir", bucket_dir,
                        "--public-keys", keys_file, "--verbose", *extra],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout


def test_organization_trail_digests_validate_per_account(estate, workdir):
    server, member, member_admin = estate
    management = server.client("sts").get_caller_identity()["Account"]
    org_id = server.client("organizations").describe_organization()["Organization"]["Id"]
    ct = server.client("cloudtrail")
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    name, bucket = uniq("orgval"), uniq("orgval").lower()
    out = ct.create_trail(Name=name, S3BucketName=bucket, IsOrganizationTrail=True,
                          EnableLogFileValidation=True)
    assert out["IsOrganizationTrail"] is True and out["LogFileValidationEnabled"] is True
    ct.start_logging(Name=name)
    bucket_dir = os.path.join(server.data_dir, "trails", bucket)
    member_iam = client(server, "iam", member_admin)
    deadline = time.time() + 40
    while time.time() < deadline:
        member_iam.create_user(UserName=uniq("mv"))
        server.client("iam").create_user(UserName=uniq("gv"))
        time.sleep(0.5)
        listed = [d for d in digests_of(bucket_dir, org_id, member) if read_gz_json(d)["logFiles"]]
        if len(listed) >= 2 and digests_of(bucket_dir, org_id, management):
            break
    ct.stop_logging(Name=name)
    time.sleep(3)  # the final digests after the stop

    member_digests = digests_of(bucket_dir, org_id, member)
    assert len(member_digests) >= 2, member_digests
    for path in member_digests:
        d = read_gz_json(path)
        # Each account's digest names that account and lists its own files only.
        assert d["awsAccountId"] == member
        assert d["digestS3Object"] == os.path.relpath(path, bucket_dir)
        for log in d["logFiles"]:
            assert log["s3Object"].startswith(f"AWSLogs/{org_id}/{member}/CloudTrail/{REGION}/")
    assert all(read_gz_json(p)["awsAccountId"] == management
               for p in digests_of(bucket_dir, org_id, management))
    # The aws CLI's own traversal of the member's chain accepts every digest.
    checked, problems = cli_traversal(server, bucket, bucket_dir, org_id, member, name, since)
    assert problems == []
    assert sorted(d["digestS3Object"] for d in checked) == sorted(
        os.path.relpath(p, bucket_dir) for p in member_digests)

    keys_file = os.path.join(workdir, "org-trail-keys.json")
    with open(keys_file, "w") as f:
        f.write(server.aws("cloudtrail", "list-public-keys").stdout)
    code, out = validate(bucket_dir, keys_file)
    assert code == 0, out
    assert f"Chain: account {member} of organization {org_id}" in out
    assert f"Chain: account {management} of organization {org_id}" in out
    assert "INVALID" not in out

    # A member account's log file changed: found, and the exit status says so.
    log_key = next(log["s3Object"] for p in member_digests for log in read_gz_json(p)["logFiles"])
    with open(os.path.join(bucket_dir, log_key), "wb") as f:
        f.write(gzip.compress(b'{"Records":[]}'))
    code, out = validate(bucket_dir, keys_file, "--account-id", member)
    assert code == 1, out
    assert f"Log file\ts3://{bucket}/{log_key}\tmodified: hash value doesn't match" in out
    assert f"Chain: account {management}" not in out  # filtered to the member
    ct.delete_trail(Name=name)


def test_member_accounts_see_the_organization_trail(estate):
    server, member, member_admin = estate
    management = server.client("sts").get_caller_identity()["Account"]
    ct = server.client("cloudtrail")
    name = uniq("orgseen")
    arn = ct.create_trail(Name=name, S3BucketName=uniq("seen").lower(), IsOrganizationTrail=True,
                          IsMultiRegionTrail=True)["TrailARN"]
    assert arn == f"arn:aws:cloudtrail:{REGION}:{management}:trail/{name}"
    ct.start_logging(Name=name)
    member_ct = client(server, "cloudtrail", member_admin)
    try:
        seen = [t for t in member_ct.describe_trails()["trailList"] if t["Name"] == name]
        assert len(seen) == 1
        assert seen[0]["TrailARN"] == arn and seen[0]["IsOrganizationTrail"] is True
        assert seen[0]["HomeRegion"] == REGION
        # It is a shadow trail in the member account.
        assert all(t["Name"] != name for t in
                   member_ct.describe_trails(includeShadowTrails=False)["trailList"])
        listed = member_ct.describe_trails(trailNameList=[arn])["trailList"]
        assert [t["TrailARN"] for t in listed] == [arn]
        # By ARN the member reads it; by name it finds only its own trails.
        assert member_ct.get_trail(Name=arn)["Trail"]["IsOrganizationTrail"] is True
        assert member_ct.get_trail_status(Name=arn)["IsLogging"] is True
        assert error_of(member_ct.get_trail, Name=name) == "TrailNotFoundException"
        # It cannot change or delete it.
        for call, kwargs in [(member_ct.delete_trail, {"Name": arn}),
                             (member_ct.stop_logging, {"Name": arn}),
                             (member_ct.update_trail, {"Name": arn, "IsOrganizationTrail": False}),
                             (member_ct.put_event_selectors,
                              {"TrailName": arn,
                               "EventSelectors": [{"ReadWriteType": "WriteOnly"}]})]:
            assert error_of(call, **kwargs) == "NotOrganizationMasterAccountException", call
        assert ct.get_trail_status(Name=name)["IsLogging"] is True

        # Once it is no longer an organization trail, the member does not see it.
        ct.update_trail(Name=name, IsOrganizationTrail=False)
        assert all(t["Name"] != name for t in member_ct.describe_trails()["trailList"])
        assert error_of(member_ct.get_trail, Name=arn) == "TrailNotFoundException"
    finally:
        ct.delete_trail(Name=name)

