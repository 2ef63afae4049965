"""IAM instance profiles with the real aws CLI and boto3 against a real
rampart server."""
import json
import uuid

import boto3
import botocore.config

from conftest import REGION
from iam_helpers import account_of, uniq
from iam_helpers import error_code as error_of


def make_role(server):
    acct = account_of(server)
    name = uniq("ec2role")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
         "Action": "sts:AssumeRole"}]})
    role = server.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=doc)["Role"]
    assert role["Arn"] == f"arn:aws:iam::{acct}:role/{name}"
    return name, role


def user_client(server, policy):
    iam = server.client("iam")
    name = uniq("ipuser")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": policy}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.session.Session().client(
        "iam", endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
        config=botocore.config.Config(retries={"max_attempts": 1}))


def test_instance_profile_lifecycle(server):
    iam = server.client("iam")
    acct = account_of(server)
    name = uniq("ip")
    created = iam.create_instance_profile(InstanceProfileName=name, Path="/web/",
                                          Tags=[{"Key": "env", "Value": "prod"}])["InstanceProfile"]
    assert created["Arn"] == f"arn:aws:iam::{acct}:instance-profile/web/{name}"
    assert created["InstanceProfileId"].startswith("AIPA") and created["Roles"] == []
    assert created["Tags"] == [{"Key": "env", "Value": "prod"}]
    code, msg = error_of(iam.create_instance_profile, InstanceProfileName=name.upper())
    assert code == "EntityAlreadyExists" and name.upper() in msg

    role_name, role = make_role(server)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role_name)
    got = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert [r["RoleId"] for r in got["Roles"]] == [role["RoleId"]]
    assert got["Roles"][0]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"}

    # At most one role per profile, even the same one again.
    other, _ = make_role(server)
    code, _ = error_of(iam.add_role_to_instance_profile, InstanceProfileName=name, RoleName=other)
    assert code == "LimitExceeded"
    code, _ = error_of(iam.add_role_to_instance_profile, InstanceProfileName=name,
                       RoleName=role_name)
    assert code == "LimitExceeded"

    # Neither the profile nor its role can go while they are joined.
    code, _ = error_of(iam.delete_instance_profile, InstanceProfileName=name)
    assert code == "DeleteConflict"
    code, msg = error_of(iam.delete_role, RoleName=role_name)
    assert code == "DeleteConflict" and "instance profile" in msg

    for_role = iam.list_instance_profiles_for_role(RoleName=role_name)["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in for_role] == [name]
    assert iam.list_instance_profiles_for_role(RoleName=other)["InstanceProfiles"] == []
    details = iam.get_account_authorization_details(Filter=["Role"])["RoleDetailList"]
    mine = [r for r in details if r["RoleName"] == role_name][0]
    assert [p["InstanceProfileName"] for p in mine["InstanceProfileList"]] == [name]

    code, _ = error_of(iam.remove_role_from_instance_profile, InstanceProfileName=name,
                       RoleName=other)
    assert code == "NoSuchEntity"
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role_name)
    assert iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"] == []
    iam.delete_role(RoleName=role_name)
    iam.delete_instance_profile(InstanceProfileName=name)
    code, msg = error_of(iam.get_instance_profile, InstanceProfileName=name)
    assert code == "NoSuchEntity" and name in msg
    code, _ = error_of(iam.delete_instance_profile, InstanceProfileName=name)
    assert code == "NoSuchEntity"


def test_missing_role_or_profile(server):
    iam = server.client("iam")
    name = uniq("ip")
    iam.create_instance_profile(InstanceProfileName=name)
    code, _ = error_of(iam.add_role_to_instance_profile, InstanceProfileName=name,
                       RoleName=uniq("ghost"))
    assert code == "NoSuchEntity"
    role_name, _ = make_role(server)
    code, _ = error_of(iam.add_role_to_instance_profile, InstanceProfileName=uniq("ghost"),
                       RoleName=role_name)
    assert code == "NoSuchEntity"
    code, _ = error_of(iam.list_instance_profiles_for_role, RoleName=uniq("ghost"))
    assert code == "NoSuchEntity"


def test_list_instance_profiles_paging_and_prefix(server):
    iam = server.client("iam")
    prefix = f"/pg{uuid.uuid4().hex[:8]}/"
    names = sorted(f"p{i}-{uuid.uuid4().hex[:6]}" for i in range(5))
    for n in names:
        iam.create_instance_profile(InstanceProfileName=n, Path=prefix,
                                    Tags=[{"Key": "k", "Value": "v"}])
    iam.create_instance_profile(InstanceProfileName=uniq("elsewhere"))
    seen, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        out = iam.list_instance_profiles(PathPrefix=prefix, MaxItems=2, **kw)
        seen += [p["InstanceProfileName"] for p in out["InstanceProfiles"]]
        # As in AWS, listed profiles come without their tags.
        assert all("Tags" not in p for p in out["InstanceProfiles"])
        if not out["IsTruncated"]:
            break
        assert len(out["InstanceProfiles"]) == 2
        marker = out["Marker"]
    assert seen == names
    r = server.aws("iam", "list-instance-profiles", "--path-prefix", prefix)
    assert [p["InstanceProfileName"] for p in json.loads(r.stdout)["InstanceProfiles"]] == names
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["InstanceProfiles"] >= 6


def test_instance_profile_tags(server):
    iam = server.client("iam")
    name = uniq("ip")
    iam.create_instance_profile(InstanceProfileName=name)
    iam.tag_instance_profile(InstanceProfileName=name, Tags=[
        {"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}, {"Key": "c", "Value": "3"}])
    out = iam.list_instance_profile_tags(InstanceProfileName=name, MaxItems=2)
    assert [t["Key"] for t in out["Tags"]] == ["a", "b"] and out["IsTruncated"]
    rest = iam.list_instance_profile_tags(InstanceProfileName=name, Marker=out["Marker"])
    assert [t["Key"] for t in rest["Tags"]] == ["c"] and not rest["IsTruncated"]
    iam.untag_instance_profile(InstanceProfileName=name, TagKeys=["B"])
    tags = iam.list_instance_profile_tags(InstanceProfileName=name)["Tags"]
    assert tags == [{"Key": "a", "Value": "1"}, {"Key": "c", "Value": "3"}]
    code, _ = error_of(iam.tag_instance_profile, InstanceProfileName=name,
                       Tags=[{"Key": "aws:x", "Value": "1"}])
    assert code == "InvalidInput"
    code, _ = error_of(iam.tag_instance_profile, InstanceProfileName=uniq("ghost"),
                       Tags=[{"Key": "k", "Value": "v"}])
    assert code == "NoSuchEntity"


def test_instance_profile_authorization(server):
    iam = server.client("iam")
    acct = account_of(server)
    name = uniq("ip")
    iam.create_instance_profile(InstanceProfileName=name, Tags=[{"Key": "team", "Value": "red"}])
    role_name, role = make_role(server)
    # May manage profiles tagged team=red, but may not pass the role.
    caller = user_client(server, [
        {"Effect": "Allow", "Action": ["iam:GetInstanceProfile", "iam:AddRoleToInstanceProfile"],
         "Resource": "*", "Condition": {"StringEquals": {"iam:ResourceTag/team": "red"}}}])
    caller.get_instance_profile(InstanceProfileName=name)
    code, msg = error_of(caller.add_role_to_instance_profile, InstanceProfileName=name,
                         RoleName=role_name)
    assert code == "AccessDenied" and "iam:PassRole" in msg and role["Arn"] in msg
    iam.untag_instance_profile(InstanceProfileName=name, TagKeys=["team"])
    code, msg = error_of(caller.get_instance_profile, InstanceProfileName=name)
    assert code == "AccessDenied"
    assert f"arn:aws:iam::{acct}:instance-profile/{name}" in msg
    code, _ = error_of(caller.create_instance_profile, InstanceProfileName=uniq("no"))
    assert code == "AccessDenied"
