"""The CloudTrail audit trail end to end: IAM and STS calls made with boto3
and the aws CLI (allowed, denied, badly signed) are found again with
`aws cloudtrail lookup-events`, with CloudTrail's record fields, no secret
in any record, read-only calls within about a second, and mutations that
survive a SIGKILL right after their response."""
import json
import os
import signal
import time

import boto3
import botocore.config
import pytest

from conftest import REGION, Rampart
from iam_helpers import allow, error_code, new_user, uniq
from test_roles import make_role, session_client


@pytest.fixture(scope="module")
def srv(workdir):
    s = Rampart(os.path.join(workdir, "audit")).start()
    yield s
    s.stop()


def lookup(server, key, value, **kw):
    """All events matching one attribute (the CLI paginates for us)."""
    r = server.aws("cloudtrail", "lookup-events", "--lookup-attributes",
                   f"AttributeKey={key},AttributeValue={value}", *kw.get("args", ()))
    return json.loads(r.stdout)["Events"]


def wait_for(server, key, value, count=1, timeout=3.0):
    """Polls LookupEvents until at least count events match."""
    deadline = time.time() + timeout
    while True:
        events = lookup(server, key, value)
        if len(events) >= count or time.time() > deadline:
            return events
        time.sleep(0.1)


def record(event):
    return json.loads(event["CloudTrailEvent"])


def account_of(server):
    return server.client("sts").get_caller_identity()["Account"]


def test_create_user_is_recorded_with_cloudtrail_fields(srv):
    acct = account_of(srv)
    name = uniq("u")
    srv.aws("iam", "create-user", "--user-name", name)
    events = lookup(srv, "ResourceName", name)
    assert [e["EventName"] for e in events] == ["CreateUser"]
    e = events[0]
    assert e["EventSource"] == "iam.amazonaws.com"
    assert e["ReadOnly"] == "false"
    assert e["Username"] == "root"
    assert {"ResourceType": "AWS::IAM::User", "ResourceName": name} in e["Resources"]
    r = record(e)
    assert r["eventVersion"] == "1.09"
    assert r["eventID"] == e["EventId"]
    assert r["eventName"] == "CreateUser" and r["eventSource"] == "iam.amazonaws.com"
    assert r["awsRegion"] == REGION
    assert r["sourceIPAddress"] == "127.0.0.1"
    assert r["userAgent"].startswith("aws-cli/")
    assert r["userIdentity"]["type"] == "Root"
    assert r["userIdentity"]["arn"] == f"arn:aws:iam::{acct}:root"
    assert r["userIdentity"]["accountId"] == acct
    assert r["userIdentity"]["accessKeyId"] == srv.credentials()[0]
    assert r["requestParameters"] == {"userName": name}
    assert r["responseElements"]["user"]["userName"] == name
    assert r["responseElements"]["user"]["arn"] == f"arn:aws:iam::{acct}:user/{name}"
    assert r["readOnly"] is False and r["managementEvent"] is True
    assert r["eventType"] == "AwsApiCall" and r["eventCategory"] == "Management"
    assert r["recipientAccountId"] == acct
    assert "errorCode" not in r and "tlsDetails" not in r
    assert len(r["requestID"]) == 36 and len(r["eventID"]) == 36


def test_denied_call_is_recorded_with_its_error(srv):
    name, iam, creds = new_user(srv)
    target = uniq("victim")
    code, _ = error_code(iam.create_user, UserName=target)
    assert code == "AccessDenied"
    events = lookup(srv, "Username", name)
    denied = [e for e in events if e["EventName"] == "CreateUser"]
    assert len(denied) == 1
    r = record(denied[0])
    assert r["errorCode"] == "AccessDenied"
    assert name in r["errorMessage"] and "iam:CreateUser" in r["errorMessage"]
    assert r["userIdentity"]["type"] == "IAMUser"
    assert r["userIdentity"]["userName"] == name
    assert r["userIdentity"]["accessKeyId"] == creds[0]
    assert r["requestParameters"] == {"userName": target}
    assert r["responseElements"] is None
    # The AccessKeyId attribute finds the same event.
    assert denied[0]["EventId"] in [e["EventId"] for e in lookup(srv, "AccessKeyId", creds[0])]


def test_bad_signature_and_unknown_key_are_recorded(srv):
    name, _, creds = new_user(srv)
    bad = srv.client("iam", access_key=creds[0], secret_key="x" * 40)
    code, _ = error_code(bad.list_users)
    assert code == "SignatureDoesNotMatch"
    events = wait_for(srv, "AccessKeyId", creds[0])
    failed = [record(e) for e in events if e["EventName"] == "ListUsers"]
    assert len(failed) == 1
    assert failed[0]["errorCode"] == "SignatureDoesNotMatch"
    # The key's owner is named: the key is known even if the caller is not.
    assert failed[0]["userIdentity"]["userName"] == name

    unknown = "AKIA" + uniq("").replace("-", "").upper()[:16].ljust(16, "Q")
    stranger = srv.client("iam", access_key=unknown, secret_key="y" * 40)
    code, _ = error_code(stranger.get_user, UserName="x")
    assert code == "InvalidClientTokenId"
    events = wait_for(srv, "AccessKeyId", unknown)
    assert len(events) == 1
    r = record(events[0])
    assert r["eventName"] == "GetUser"
    assert r["errorCode"] == "InvalidClientTokenId"
    assert r["userIdentity"] == {"type": "Unknown", "accessKeyId": unknown}
    assert r["requestParameters"] is None


def test_secrets_never_appear_in_records(srv):
    name = uniq("u")
    iam = srv.client("iam")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    secret = key["SecretAccessKey"]
    events = lookup(srv, "ResourceName", key["AccessKeyId"])
    assert [e["EventName"] for e in events] == ["CreateAccessKey"]
    r = record(events[0])
    assert r["responseElements"]["accessKey"]["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert r["responseElements"]["accessKey"]["accessKeyId"] == key["AccessKeyId"]
    # Also for temporary credentials and in every record stored so far.
    creds = srv.client("sts").get_session_token()["Credentials"]
    time.sleep(1.2)
    everything = json.loads(srv.aws("cloudtrail", "lookup-events").stdout)["Events"]
    text = json.dumps(everything)
    assert secret not in text
    assert creds["SecretAccessKey"] not in text and creds["SessionToken"] not in text
    assert srv.credentials()[1] not in text


def test_read_only_calls_arrive_within_a_second(srv):
    name = uniq("u")
    srv.client("iam").create_user(UserName=name)
    ct = srv.client("cloudtrail")
    attrs = [{"AttributeKey": "ResourceName", "AttributeValue": name}]
    srv.client("iam").get_user(UserName=name)
    answered = time.time()
    # Group commit: the record is stored within a second of the response.
    while True:
        events = ct.lookup_events(LookupAttributes=attrs)["Events"]
        if len(events) == 2 or time.time() - answered > 3:
            break
        time.sleep(0.05)
    elapsed = time.time() - answered
    assert [e["EventName"] for e in events] == ["GetUser", "CreateUser"]  # newest first
    assert events[0]["ReadOnly"] == "true"
    assert elapsed < 1.5, elapsed


def test_assumed_role_identity(srv):
    role_name, role = make_role(srv)
    srv.client("iam").put_role_policy(RoleName=role_name, PolicyName="list",
                                      PolicyDocument=json.dumps(allow("iam:ListUsers")))
    session = uniq("s")
    # Root may not assume roles: a user allowed sts:AssumeRole does.
    _, _, user_creds = new_user(srv, policies=[allow("sts:AssumeRole")])
    sts = srv.client("sts", access_key=user_creds[0], secret_key=user_creds[1])
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName=session)["Credentials"]
    session_client(srv, "iam", creds).list_users()
    events = wait_for(srv, "Username", session)
    assert [e["EventName"] for e in events] == ["ListUsers"]
    ident = record(events[0])["userIdentity"]
    assert ident["type"] == "AssumedRole"
    assert ident["arn"].endswith(f":assumed-role/{role_name}/{session}")
    assert ident["accessKeyId"] == creds["AccessKeyId"]
    issuer = ident["sessionContext"]["sessionIssuer"]
    assert issuer == {"type": "Role", "principalId": role["RoleId"], "arn": role["Arn"],
                      "accountId": account_of(srv), "userName": role_name}
    attrs = ident["sessionContext"]["attributes"]
    assert attrs["mfaAuthenticated"] == "false"
    assert attrs["creationDate"].endswith("Z")
    # AssumeRole itself is in the trail, naming the role, without the secret.
    assumed = [record(e) for e in lookup(srv, "ResourceName", role["Arn"])
               if e["EventName"] == "AssumeRole"]
    assert len(assumed) == 1
    assert creds["SecretAccessKey"] not in json.dumps(assumed)
    assert assumed[0]["resources"] == [{"accountId": account_of(srv), "type": "AWS::IAM::Role",
                                        "ARN": role["Arn"]}]


def test_pagination_newest_first(srv):
    name = uniq("u")
    iam = srv.client("iam")
    iam.create_user(UserName=name)
    for i in range(4):
        iam.tag_user(UserName=name, Tags=[{"Key": f"k{i}", "Value": "v"}])
    ct = srv.client("cloudtrail")
    attrs = [{"AttributeKey": "ResourceName", "AttributeValue": name}]
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = ct.lookup_events(LookupAttributes=attrs, MaxResults=2, **kw)
        assert len(page["Events"]) <= 2
        seen += page["Events"]
        token = page.get("NextToken")
        if not token:
            break
    assert [e["EventName"] for e in seen] == ["TagUser"] * 4 + ["CreateUser"]
    times = [e["EventTime"] for e in seen]
    assert times == sorted(times, reverse=True)
    tags = [record(e)["requestParameters"]["tags"][0]["key"] for e in seen[:4]]
    assert tags == ["k3", "k2", "k1", "k0"]
    # A token belongs to its lookup.
    first = ct.lookup_events(LookupAttributes=attrs, MaxResults=1)
    code, _ = error_code(ct.lookup_events, NextToken=first["NextToken"],
                         LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "x"}])
    assert code == "InvalidNextTokenException"
    code, _ = error_code(ct.lookup_events, NextToken="not-a-token")
    assert code == "InvalidNextTokenException"


def test_lookup_filters_and_errors(srv):
    name = uniq("u")
    srv.client("iam").create_user(UserName=name)
    ct = srv.client("cloudtrail")
    by_id = lookup(srv, "ResourceName", name)[0]
    assert [e["EventId"] for e in lookup(srv, "EventId", by_id["EventId"])] == [by_id["EventId"]]
    assert by_id["EventId"] in [e["EventId"] for e in lookup(srv, "EventName", "CreateUser")]
    assert by_id["EventId"] in [e["EventId"] for e in lookup(srv, "ReadOnly", "false")]
    assert by_id["EventId"] not in [e["EventId"] for e in lookup(srv, "ReadOnly", "true")]
    assert by_id["EventId"] in [e["EventId"] for e in lookup(srv, "ResourceType", "AWS::IAM::User")]
    assert by_id["EventId"] in [e["EventId"] for e in lookup(srv, "EventSource", "iam.amazonaws.com")]
    assert by_id["EventId"] not in [e["EventId"] for e in lookup(srv, "EventSource", "sts.amazonaws.com")]
    # Time range: an hour before excludes it, around it includes it.
    id_attr = [{"AttributeKey": "EventId", "AttributeValue": by_id["EventId"]}]
    t = ct.lookup_events(LookupAttributes=id_attr)["Events"][0]["EventTime"]
    assert ct.lookup_events(LookupAttributes=id_attr, EndTime=t.timestamp() - 3600)["Events"] == []
    assert ct.lookup_events(LookupAttributes=id_attr, StartTime=t.timestamp() + 3600)["Events"] == []
    around = ct.lookup_events(LookupAttributes=id_attr, StartTime=t.timestamp() - 5,
                              EndTime=t.timestamp() + 5)["Events"]
    assert [e["EventId"] for e in around] == [by_id["EventId"]]
    code, _ = error_code(ct.lookup_events, StartTime=t.timestamp(), EndTime=t.timestamp() - 10)
    assert code == "InvalidTimeRangeException"
    code, _ = error_code(ct.lookup_events, LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "a"},
        {"AttributeKey": "Username", "AttributeValue": "b"}])
    assert code == "InvalidLookupAttributesException"
    code, _ = error_code(ct.lookup_events, LookupAttributes=[
        {"AttributeKey": "ReadOnly", "AttributeValue": "sometimes"}])
    assert code == "InvalidLookupAttributesException"


def test_lookup_needs_permission(srv):
    name, _, creds = new_user(srv)
    ct = srv.client("cloudtrail", access_key=creds[0], secret_key=creds[1])
    code, _ = error_code(ct.lookup_events)
    assert code == "AccessDeniedException"
    srv.client("iam").put_user_policy(UserName=name, PolicyName="ct",
                                      PolicyDocument=json.dumps(allow("cloudtrail:LookupEvents")))
    assert "Events" in ct.lookup_events(MaxResults=1)


def test_records_survive_sigkill_and_shutdown(workdir):
    s = Rampart(os.path.join(workdir, "audit-crash")).start()
    try:
        names = [uniq("k") for _ in range(5)]
        for n in names:
            s.aws("iam", "create-user", "--user-name", n)
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        s.stop()
        s.start()
        for n in names:
            events = lookup(s, "ResourceName", n)
            assert [e["EventName"] for e in events] == ["CreateUser"], n
            assert record(events[0])["responseElements"]["user"]["userName"] == n
        # Read-only records are flushed by a clean shutdown.
        s.client("iam").get_user(UserName=names[0])
        s.stop()
        s.start()
        events = lookup(s, "ResourceName", names[0])
        assert [e["EventName"] for e in events] == ["GetUser", "CreateUser"]
    finally:
        s.stop()
