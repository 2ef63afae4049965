"""CloudTrail trails with the aws CLI and boto3: CreateTrail, GetTrail,
DescribeTrails, UpdateTrail, DeleteTrail, GetTrailStatus, Start/StopLogging,
Get/PutEventSelectors with AWS's errors, and log files delivered under
<data-dir>/trails/<bucket>/AWSLogs/... that gunzip to {"Records":[...]}."""
import glob
import gzip
import json
import os
import re
import time

import pytest

from conftest import REGION, Rampart
from iam_helpers import error_code, uniq


def start_server(workdir, name, interval):
    """A server whose trails deliver every interval seconds (config file)."""
    return Rampart(os.path.join(workdir, name),
                   config={"audit": {"delivery_interval_seconds": interval}}).start()


@pytest.fixture(scope="module")
def srv(workdir):
    s = start_server(workdir, "trails", 1)
    yield s
    s.stop()


def account_of(server):
    return server.client("sts").get_caller_identity()["Account"]


def bucket():
    return uniq("logs").lower()


def log_files(server, bucket_name):
    return sorted(glob.glob(os.path.join(server.data_dir, "trails", bucket_name, "**", "*.json.gz"),
                            recursive=True))


def records(paths):
    out = []
    for p in paths:
        with gzip.open(p, "rt") as f:
            doc = json.load(f)
        assert list(doc) == ["Records"]
        out += doc["Records"]
    return out


def wait_records(server, bucket_name, predicate, timeout=6.0):
    deadline = time.time() + timeout
    while True:
        recs = records(log_files(server, bucket_name))
        if predicate(recs) or time.time() > deadline:
            return recs
        time.sleep(0.2)


def test_trail_lifecycle_with_the_cli(srv):
    acct = account_of(srv)
    name, b = uniq("trail"), bucket()
    out = json.loads(srv.aws("cloudtrail", "create-trail", "--name", name,
                             "--s3-bucket-name", b).stdout)
    arn = f"arn:aws:cloudtrail:{REGION}:{acct}:trail/{name}"
    assert out["Name"] == name and out["S3BucketName"] == b and out["TrailARN"] == arn
    assert out["IncludeGlobalServiceEvents"] is True and out["IsMultiRegionTrail"] is False
    assert out["LogFileValidationEnabled"] is False and out["IsOrganizationTrail"] is False

    trail = json.loads(srv.aws("cloudtrail", "get-trail", "--name", arn).stdout)["Trail"]
    assert trail["HomeRegion"] == REGION and trail["HasCustomEventSelectors"] is False
    listed = json.loads(srv.aws("cloudtrail", "describe-trails").stdout)["trailList"]
    assert name in [t["Name"] for t in listed]
    only = json.loads(srv.aws("cloudtrail", "describe-trails", "--trail-name-list", name).stdout)
    assert [t["Name"] for t in only["trailList"]] == [name]

    updated = json.loads(srv.aws("cloudtrail", "update-trail", "--name", name,
                                 "--s3-key-prefix", "prod/audit").stdout)
    assert updated["S3KeyPrefix"] == "prod/audit"

    ct = srv.client("cloudtrail")
    code, msg = error_code(ct.create_trail, Name=name, S3BucketName=b)
    assert code == "TrailAlreadyExistsException" and name in msg
    srv.aws("cloudtrail", "delete-trail", "--name", name)
    code, _ = error_code(ct.get_trail, Name=name)
    assert code == "TrailNotFoundException"
    code, _ = error_code(ct.delete_trail, Name=name)
    assert code == "TrailNotFoundException"


def test_trail_errors(srv):
    ct = srv.client("cloudtrail")
    for bad in ["ab", "-trail", "my--trail", "has space"]:
        code, _ = error_code(ct.create_trail, Name=bad, S3BucketName=bucket())
        assert code == "InvalidTrailNameException", bad
    for bad in ["UPPER", "a..b", "../escape"]:
        code, _ = error_code(ct.create_trail, Name=uniq("t"), S3BucketName=bad)
        assert code == "InvalidS3BucketNameException", bad
    code, _ = error_code(ct.create_trail, Name=uniq("t"), S3BucketName=bucket(),
                         S3KeyPrefix="../../etc")
    assert code == "InvalidS3PrefixException"
    code, _ = error_code(ct.create_trail, Name=uniq("t"), S3BucketName=bucket(),
                         IsMultiRegionTrail=True, IncludeGlobalServiceEvents=False)
    assert code == "InvalidParameterCombinationException"
    code, _ = error_code(ct.get_trail_status, Name="arn:aws:cloudtrail:us-east-1:999999999999:trail/x1x")
    assert code == "TrailNotFoundException"
    # Five trails per region.
    names = [uniq("cap") for _ in range(5)]
    existing = len(ct.describe_trails()["trailList"])
    created = []
    for n in names[: 5 - existing]:
        ct.create_trail(Name=n, S3BucketName=bucket())
        created.append(n)
    code, _ = error_code(ct.create_trail, Name=uniq("six"), S3BucketName=bucket())
    assert code == "MaximumNumberOfTrailsExceededException"
    for n in created:
        ct.delete_trail(Name=n)


def test_status_and_event_selectors(srv):
    ct = srv.client("cloudtrail")
    name = uniq("sel")
    ct.create_trail(Name=name, S3BucketName=bucket())
    try:
        status = ct.get_trail_status(Name=name)
        assert status["IsLogging"] is False and "StartLoggingTime" not in status
        ct.start_logging(Name=name)
        status = ct.get_trail_status(Name=name)
        assert status["IsLogging"] is True and "StartLoggingTime" in status
        ct.stop_logging(Name=name)
        status = ct.get_trail_status(Name=name)
        assert status["IsLogging"] is False and "StopLoggingTime" in status

        sel = ct.get_event_selectors(TrailName=name)
        assert sel["EventSelectors"] == [{"ReadWriteType": "All", "IncludeManagementEvents": True,
                                          "DataResources": [], "ExcludeManagementEventSources": []}]
        out = json.loads(srv.aws("cloudtrail", "put-event-selectors", "--trail-name", name,
                                 "--event-selectors",
                                 '[{"ReadWriteType":"WriteOnly","IncludeManagementEvents":true}]').stdout)
        assert out["EventSelectors"][0]["ReadWriteType"] == "WriteOnly"
        assert ct.get_event_selectors(TrailName=name)["EventSelectors"][0]["ReadWriteType"] == "WriteOnly"
        assert ct.get_trail(Name=name)["Trail"]["HasCustomEventSelectors"] is True
        code, _ = error_code(ct.put_event_selectors, TrailName=name, EventSelectors=[{
            "ReadWriteType": "All", "DataResources": [{"Type": "AWS::S3::Object",
                                                       "Values": ["arn:aws:s3:::b/"]}]}])
        assert code == "InvalidEventSelectorsException"
        code, _ = error_code(ct.put_event_selectors, TrailName=uniq("none"),
                             EventSelectors=[{"ReadWriteType": "All"}])
        assert code == "TrailNotFoundException"
    finally:
        ct.delete_trail(Name=name)


def test_logging_trail_delivers_log_files(srv):
    acct = account_of(srv)
    ct = srv.client("cloudtrail")
    name, b = uniq("deliver"), bucket()
    writes, wb = uniq("writes"), bucket()
    ct.create_trail(Name=name, S3BucketName=b, S3KeyPrefix="audit")
    ct.create_trail(Name=writes, S3BucketName=wb)
    ct.put_event_selectors(TrailName=writes, EventSelectors=[{"ReadWriteType": "WriteOnly"}])
    ct.start_logging(Name=name)
    ct.start_logging(Name=writes)
    try:
        user = uniq("u")
        iam = srv.client("iam")
        iam.create_user(UserName=user)
        secret = iam.create_access_key(UserName=user)["AccessKey"]["SecretAccessKey"]
        iam.get_user(UserName=user)

        def has_all(recs):
            names = [r["eventName"] for r in recs if r.get("requestParameters")
                     and r["requestParameters"].get("userName") == user]
            return {"CreateUser", "CreateAccessKey", "GetUser"} <= set(names)

        recs = wait_records(srv, b, has_all)
        assert has_all(recs), [r["eventName"] for r in recs]
        paths = log_files(srv, b)
        pattern = (rf"/trails/{b}/audit/AWSLogs/{acct}/CloudTrail/{REGION}/\d{{4}}/\d{{2}}/\d{{2}}/"
                   rf"{acct}_CloudTrail_{REGION}_\d{{8}}T\d{{4}}Z_[0-9a-f]{{16}}\.json\.gz$")
        assert all(re.search(pattern, p) for p in paths), paths
        created = [r for r in recs if r["eventName"] == "CreateUser"
                   and r["requestParameters"]["userName"] == user][0]
        assert created["userIdentity"]["type"] == "Root"
        assert created["eventSource"] == "iam.amazonaws.com"
        assert created["recipientAccountId"] == acct
        for p in paths:
            with gzip.open(p, "rt") as f:
                assert secret not in f.read()
        # No event is delivered twice.
        ids = [r["eventID"] for r in recs]
        assert len(ids) == len(set(ids))

        write_recs = wait_records(srv, wb, lambda rs: any(
            r["eventName"] == "CreateAccessKey" for r in rs))
        assert any(r["eventName"] == "CreateUser" for r in write_recs)
        assert all(r["readOnly"] is False for r in write_recs)
        status = ct.get_trail_status(Name=name)
        assert "LatestDeliveryTime" in status
        assert status["LatestDeliveryAttemptSucceeded"] == "true"
    finally:
        ct.delete_trail(Name=name)
        ct.delete_trail(Name=writes)


def test_shutdown_delivers_pending_events(workdir):
    s = start_server(workdir, "trails-shutdown", 300)
    try:
        b = bucket()
        ct = s.client("cloudtrail")
        ct.create_trail(Name="final", S3BucketName=b)
        ct.start_logging(Name="final")
        user = uniq("u")
        s.client("iam").create_user(UserName=user)
        s.client("iam").get_user(UserName=user)
        assert log_files(s, b) == []  # the 5-minute interval has not passed
        s.stop()
        recs = records(log_files(s, b))
        names = [r["eventName"] for r in recs if (r.get("requestParameters") or {}).get("userName") == user]
        assert names == ["CreateUser", "GetUser"]
    finally:
        s.stop()


def test_audit_settings_are_checked_at_start(workdir, monkeypatch):
    bad = [({"audit": {"delivery_interval_seconds": 301}},
            "audit.delivery_interval_seconds must be an integer from 1 to 300"),
           ({"audit": {"digest_interval_seconds": "60"}},
            "audit.digest_interval_seconds must be an integer from 1 to 3600"),
           ({"audit": {"delivery_seconds": 1}}, "unknown key 'audit.delivery_seconds'"),
           ({"kms": {"scheduler_interval_ms": 5}},
            "kms.scheduler_interval_ms must be an integer from 10 to 3600000")]
    for i, (config, message) in enumerate(bad):
        with pytest.raises(RuntimeError) as e:
            Rampart(os.path.join(workdir, f"bad-config-{i}"), config=config).start()
        assert message in str(e.value), config
    # The environment variables of earlier versions are ignored, with a warning.
    monkeypatch.setenv("RAMPART_TRAIL_DELIVERY_SECONDS", "1")
    s = Rampart(os.path.join(workdir, "retired-variable")).start()
    s.stop()
    with open(s.log_path) as f:
        log = f.read()
    assert "RAMPART_TRAIL_DELIVERY_SECONDS" in log and "audit.delivery_interval_seconds" in log
