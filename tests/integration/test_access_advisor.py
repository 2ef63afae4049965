"""IAM access advisor end to end against a real rampart server, with the
aws CLI and boto3: an OU with two member accounts whose principals used
some services and not others (CloudTrail files with past event times, fed
through `rampart advisor ingest`: the clock controlled by the test), the
Organizations access report, service last accessed details for a user and
a role, and `rampart advisor propose-scp --attach` blocking only the
unused services."""
import datetime
import gzip
import json
import os
import subprocess
import time
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import RAMPART_BIN, REGION, Rampart

SCP = "SERVICE_CONTROL_POLICY"
ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
APP_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iam:Get*", "s3:GetObject", "kms:Encrypt"], "Resource": "*"}]})
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def days_ago(n):
    return NOW - datetime.timedelta(days=n)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


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


def role_event(account, role, source, name, when, region):
    return {
        "eventVersion": "1.09", "eventTime": iso(when), "eventSource": source,
        "eventName": name, "awsRegion": region, "eventID": str(uuid.uuid4()),
        "recipientAccountId": account,
        "userIdentity": {
            "type": "AssumedRole", "accountId": account,
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/session",
            "sessionContext": {"sessionIssuer": {
                "type": "Role", "accountId": account, "userName": role,
                "arn": f"arn:aws:iam::{account}:role/{role}"}}}}


def user_event(account, user, source, name, when, region, error=None):
    e = {"eventVersion": "1.09", "eventTime": iso(when), "eventSource": source,
         "eventName": name, "awsRegion": region, "eventID": str(uuid.uuid4()),
         "recipientAccountId": account,
         "userIdentity": {"type": "IAMUser", "accountId": account, "userName": user,
                          "arn": f"arn:aws:iam::{account}:user/{user}"}}
    if error:
        e["errorCode"] = error
    return e


def run(*args, env=None, check=True):
    r = subprocess.run([RAMPART_BIN, *args], capture_output=True, text=True, timeout=60, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"rampart {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def adv_server(workdir):
    s = Rampart(os.path.join(workdir, "advisor")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def estate(adv_server, workdir):
    """Organization with SCPs, ProductionOU holding accounts A and B, a user
    "app" in A, and ingested CloudTrail history for both accounts."""
    iam = adv_server.client("iam")
    iam.create_user(UserName="org-admin")
    iam.put_user_policy(UserName="org-admin", PolicyName="admin", PolicyDocument=ADMIN)
    key = iam.create_access_key(UserName="org-admin")["AccessKey"]
    admin = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
    orgs = client(adv_server, "organizations", admin)
    org = orgs.create_organization(FeatureSet="ALL")["Organization"]
    root = orgs.list_roots()["Roots"][0]["Id"]
    orgs.enable_policy_type(RootId=root, PolicyType=SCP)
    ou = orgs.create_organizational_unit(ParentId=root, Name="ProductionOU")["OrganizationalUnit"]["Id"]
    accounts = []
    for name in ("prod-a", "prod-b"):
        st = orgs.create_account(Email=f"{name}-{uuid.uuid4().hex[:8]}@example.com",
                                 AccountName=name)["CreateAccountStatus"]
        assert st["State"] == "SUCCEEDED", st
        orgs.move_account(AccountId=st["AccountId"], SourceParentId=root, DestinationParentId=ou)
        accounts.append(st["AccountId"])
    a, b = accounts
    sessions = {}
    for acct in accounts:
        sessions[acct] = client(adv_server, "sts", admin).assume_role(
            RoleArn=f"arn:aws:iam::{acct}:role/OrganizationAccountAccessRole",
            RoleSessionName="ops")["Credentials"]
    iam_a = client(adv_server, "iam", sessions[a])
    iam_a.create_user(UserName="app")
    iam_a.put_user_policy(UserName="app", PolicyName="app", PolicyDocument=APP_POLICY)

    role = "OrganizationAccountAccessRole"
    trail = os.path.join(workdir, "advisor-trail")
    os.makedirs(os.path.join(trail, "AWSLogs", a), exist_ok=True)
    os.makedirs(os.path.join(trail, "AWSLogs", b), exist_ok=True)
    records_a = [
        role_event(a, role, "kms.amazonaws.com", "Encrypt", days_ago(10), "eu-west-1"),
        role_event(a, role, "kms.amazonaws.com", "Encrypt", days_ago(40), "us-east-1"),
        user_event(a, "app", "iam.amazonaws.com", "GetUser", days_ago(200), "us-east-1"),
        # Denied attempts count; authentication failures do not.
        user_event(a, "app", "s3.amazonaws.com", "GetObject", days_ago(300), "us-east-1",
                   error="AccessDenied"),
        user_event(a, "app", "kms.amazonaws.com", "Encrypt", days_ago(1), "us-east-1",
                   error="SignatureDoesNotMatch"),
        # Outside the 400-day tracking period.
        role_event(a, role, "cloudtrail.amazonaws.com", "LookupEvents", days_ago(500), "us-east-1"),
    ]
    with gzip.open(os.path.join(trail, "AWSLogs", a, "a.json.gz"), "wt") as f:
        json.dump({"Records": records_a}, f)
    records_b = [
        role_event(b, role, "sts.amazonaws.com", "GetCallerIdentity", days_ago(30), "us-east-1"),
        role_event(b, role, "kms.amazonaws.com", "Decrypt", days_ago(5), "us-west-2"),
        {"eventName": "garbage"},
    ]
    with open(os.path.join(trail, "AWSLogs", b, "b.json"), "w") as f:
        json.dump({"Records": records_b}, f)
    with open(os.path.join(trail, "corrupt.json.gz"), "wb") as f:
        f.write(b"\x1f\x8b\x08\x00garbage")
    # Ingest runs beside the running server.
    r = run("advisor", "ingest", trail, "--data-dir", adv_server.data_dir, check=False)
    assert r.returncode == 1, r.stderr
    assert "corrupt.json.gz" in r.stderr and "gzip" in r.stderr
    assert "2 files, 7 access records stored, 2 records skipped, 1 files refused" in r.stdout, r.stdout
    return {"admin": admin, "orgs": orgs, "org": org["Id"], "root": root, "ou": ou,
            "a": a, "b": b, "sessions": sessions, "trail": trail}


def admin_env(estate):
    return {"AWS_ACCESS_KEY_ID": estate["admin"]["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": estate["admin"]["SecretAccessKey"],
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


def org_report(adv_server, estate, path, *extra):
    env = admin_env(estate)
    job = json.loads(adv_server.aws("iam", "generate-organizations-access-report",
                                    "--entity-path", path, env_extra=env).stdout)["JobId"]
    assert len(job) == 36
    return json.loads(adv_server.aws("iam", "get-organizations-access-report", "--job-id", job,
                                     "--max-items", "1000", *extra, env_extra=env).stdout), job


def epoch(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_organizations_access_report_for_the_ou(adv_server, estate):
    path = f"{estate['org']}/{estate['root']}/{estate['ou']}"
    report, _ = org_report(adv_server, estate, path)
    assert report["JobStatus"] == "COMPLETED"
    details = {d["ServiceNamespace"]: d for d in report["AccessDetails"]}
    # FullAWSAccess everywhere: every service is accessible.
    assert report["NumberOfServicesAccessible"] == len(details) > 200
    assert report["NumberOfServicesNotAccessed"] == len(details) - 4
    kms = details["kms"]
    assert kms["ServiceName"] == "AWS Key Management Service"
    assert abs(epoch(kms["LastAuthenticatedTime"]) - days_ago(5).timestamp()) < 2
    assert kms["Region"] == "us-west-2"
    assert kms["EntityPath"] == f"{path}/{estate['b']}"
    assert kms["TotalAuthenticatedEntities"] == 2
    assert abs(epoch(details["sts"]["LastAuthenticatedTime"]) - days_ago(30).timestamp()) < 2
    # IAM's newest use is live: the setup's CreateUser in account A by its
    # admin role, recorded by the server itself (the ingested one is 200
    # days old).
    assert abs(epoch(details["iam"]["LastAuthenticatedTime"]) - time.time()) < 600
    assert details["iam"]["EntityPath"] == f"{path}/{estate['a']}"
    assert details["s3"]["TotalAuthenticatedEntities"] == 1  # a denied attempt counts
    assert "LastAuthenticatedTime" not in details["cloudtrail"]  # older than 400 days
    assert details["cloudtrail"]["TotalAuthenticatedEntities"] == 0


def test_organizations_report_sorting_paging_and_account_paths(adv_server, estate):
    path = f"{estate['org']}/{estate['root']}/{estate['ou']}"
    report, job = org_report(adv_server, estate, path, "--sort-key",
                             "LAST_AUTHENTICATED_TIME_DESCENDING")
    assert [d["ServiceNamespace"] for d in report["AccessDetails"][:4]] == ["iam", "kms", "sts", "s3"]
    iam = client(adv_server, "iam", estate["admin"])
    page = iam.get_organizations_access_report(JobId=job, MaxItems=2,
                                               SortKey="SERVICE_NAMESPACE_DESCENDING")
    assert page["IsTruncated"] and len(page["AccessDetails"]) == 2
    nxt = iam.get_organizations_access_report(JobId=job, MaxItems=2, Marker=page["Marker"],
                                              SortKey="SERVICE_NAMESPACE_DESCENDING")
    names = [d["ServiceNamespace"] for d in page["AccessDetails"] + nxt["AccessDetails"]]
    assert names == sorted(names, reverse=True) and len(set(names)) == 4
    # One account: only its own activity.
    report, _ = org_report(adv_server, estate, f"{path}/{estate['a']}")
    details = {d["ServiceNamespace"]: d for d in report["AccessDetails"]}
    assert details["kms"]["Region"] == "eu-west-1"
    assert abs(epoch(details["kms"]["LastAuthenticatedTime"]) - days_ago(10).timestamp()) < 2
    assert "LastAuthenticatedTime" not in details["sts"]
    # Errors: unknown job, a path outside the organization, a member account.
    code, _ = error_of(iam.get_organizations_access_report, JobId=str(uuid.uuid4()))
    assert code == "NoSuchEntity"
    code, _ = error_of(iam.generate_organizations_access_report,
                       EntityPath=f"{estate['org']}/{estate['root']}/ou-zzzz-zzzzzzzz")
    assert code == "InvalidInput"
    member_iam = client(adv_server, "iam", estate["sessions"][estate["a"]])
    code, _ = error_of(member_iam.generate_organizations_access_report, EntityPath=path)
    assert code == "AccessDenied"


def test_service_last_accessed_details_for_user_and_role(adv_server, estate):
    a = estate["a"]
    iam_a = client(adv_server, "iam", estate["sessions"][a])
    user_arn = f"arn:aws:iam::{a}:user/app"
    job = iam_a.generate_service_last_accessed_details(Arn=user_arn)["JobId"]
    details = iam_a.get_service_last_accessed_details(JobId=job)
    assert details["JobStatus"] == "COMPLETED" and details["JobType"] == "SERVICE_LEVEL"
    services = {s["ServiceNamespace"]: s for s in details["ServicesLastAccessed"]}
    # Exactly what the user's policy allows.
    assert set(services) == {"iam", "kms", "s3"}
    assert services["iam"]["LastAuthenticatedEntity"] == user_arn
    assert abs(services["iam"]["LastAuthenticated"].timestamp() - days_ago(200).timestamp()) < 2
    assert "LastAuthenticated" not in services["kms"]  # only a failed signature
    assert services["s3"]["TotalAuthenticatedEntities"] == 1
    with_entities = iam_a.get_service_last_accessed_details_with_entities(
        JobId=job, ServiceNamespace="iam")
    [entity] = with_entities["EntityDetailsList"]
    assert entity["EntityInfo"]["Arn"] == user_arn and entity["EntityInfo"]["Type"] == "USER"
    assert "LastAuthenticated" in entity

    role_arn = f"arn:aws:iam::{a}:role/OrganizationAccountAccessRole"
    job = iam_a.generate_service_last_accessed_details(Arn=role_arn,
                                                       Granularity="ACTION_LEVEL")["JobId"]
    details = iam_a.get_service_last_accessed_details(JobId=job, MaxItems=1000)
    assert not details["IsTruncated"]
    assert details["JobType"] == "ACTION_LEVEL"
    services = {s["ServiceNamespace"]: s for s in details["ServicesLastAccessed"]}
    kms = services["kms"]
    assert kms["LastAuthenticatedEntity"] == role_arn
    assert kms["LastAuthenticatedRegion"] == "eu-west-1"
    assert abs(kms["LastAuthenticated"].timestamp() - days_ago(10).timestamp()) < 2
    [action] = kms["TrackedActionsLastAccessed"]
    assert action["ActionName"] == "Encrypt" and action["LastAccessedRegion"] == "eu-west-1"
    assert "LastAuthenticated" not in services["cloudtrail"]
    page = iam_a.get_service_last_accessed_details(JobId=job, MaxItems=1)
    assert page["IsTruncated"] and len(page["ServicesLastAccessed"]) == 1

    # Jobs belong to their creator; unknown entities and ids are NoSuchEntity.
    mgmt_iam = client(adv_server, "iam", estate["admin"])
    assert error_of(mgmt_iam.get_service_last_accessed_details, JobId=job)[0] == "NoSuchEntity"
    assert error_of(iam_a.get_service_last_accessed_details,
                    JobId=str(uuid.uuid4()))[0] == "NoSuchEntity"
    assert error_of(iam_a.generate_service_last_accessed_details,
                    Arn=f"arn:aws:iam::{a}:user/nobody")[0] == "NoSuchEntity"
    assert error_of(iam_a.generate_service_last_accessed_details,
                    Arn=f"arn:aws:s3:::bucket/x")[0] == "InvalidInput"


def test_aws_cli_generates_service_report(adv_server, estate):
    # The CLI with the management administrator (its own account's user).
    env = admin_env(estate)
    arn = adv_server.client("iam").get_user(UserName="org-admin")["User"]["Arn"]
    job = json.loads(adv_server.aws("iam", "generate-service-last-accessed-details", "--arn", arn,
                                    env_extra=env).stdout)["JobId"]
    out = json.loads(adv_server.aws("iam", "get-service-last-accessed-details", "--job-id", job,
                                    "--max-items", "1000", env_extra=env).stdout)
    assert out["JobStatus"] == "COMPLETED" and len(out["ServicesLastAccessed"]) > 200


def test_propose_scp_attach_blocks_only_unused_services(adv_server, estate):
    path = f"{estate['org']}/{estate['root']}/{estate['ou']}"
    r = run("advisor", "propose-scp", "--entity-path", path, "--unused-days", "90",
            "--data-dir", adv_server.data_dir)
    policies = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert policies
    denied = set()
    for p in policies:
        [st] = p["Statement"]
        assert st["Effect"] == "Deny"
        denied.update(a.split(":")[0] for a in st["Action"])
    assert len(json.dumps(policies[0], separators=(",", ":"))) <= 5120
    # Used within 90 days: kms (5 and 10 days ago), sts (30), iam (the
    # setup's live calls). s3 (300) and cloudtrail (500) are not.
    assert not {"kms", "sts", "iam"} & denied
    assert {"s3", "cloudtrail", "organizations"} <= denied

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(admin_env(estate))
    env["AWS_REGION"] = REGION
    run("advisor", "propose-scp", "--entity-path", path, "--unused-days", "90",
        "--data-dir", adv_server.data_dir, "--attach", "--endpoint", adv_server.endpoint, env=env)
    attached = estate["orgs"].list_policies_for_target(TargetId=estate["ou"], Filter=SCP)["Policies"]
    assert any(p["Name"].startswith("rampart-unused-services-") for p in attached)

    # The member account's administrator: used services still work, the
    # unused ones are denied by the SCP.
    creds = estate["sessions"][estate["b"]]
    client(adv_server, "kms", creds).list_keys()
    client(adv_server, "iam", creds).list_users()
    assert client(adv_server, "sts", creds).get_caller_identity()["Account"] == estate["b"]
    for call in (client(adv_server, "cloudtrail", creds).describe_trails,
                 client(adv_server, "organizations", creds).describe_organization):
        code, msg = error_of(call)
        assert code in ("AccessDenied", "AccessDeniedException"), (call, code)
        assert "service control policy" in msg, msg
    # The management account is never limited by SCPs.
    client(adv_server, "iam", estate["admin"]).list_users()
