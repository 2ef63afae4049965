"""CloudTrail ListTrails and trail tags (AddTags, RemoveTags, ListTags,
CreateTrail's TagsList) with the aws CLI and boto3, with CloudTrail's
errors and limits, and tag conditions in IAM policies."""
import json
import os

import pytest

from conftest import MULTI_REGIONS, Rampart
from iam_helpers import allow, error_code, new_user, uniq


@pytest.fixture(scope="module")
def server(workdir):
    """A server of this module's own: an account has at most 5 trails per
    region, and these tests make more than that in all."""
    s = Rampart(os.path.join(workdir, "trail-tags")).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def clean_trails(request):
    """Deletes the module server's trails after each test."""
    yield
    if "server" not in request.fixturenames:
        return
    ct = request.getfixturevalue("server").client("cloudtrail")
    for t in ct.list_trails()["Trails"]:
        ct.delete_trail(Name=t["TrailARN"])


def trail_name():
    return uniq("t")


def bucket():
    return uniq("logs").lower()


def tags_of(ct, arn):
    listed = ct.list_tags(ResourceIdList=[arn])["ResourceTagList"]
    assert [entry["ResourceId"] for entry in listed] == [arn]
    return {t["Key"]: t.get("Value", "") for t in listed[0]["TagsList"]}


def test_list_trails_shows_every_region_and_forgets_deleted(multi_region_server):
    srv = multi_region_server
    home, other = MULTI_REGIONS[0], MULTI_REGIONS[1]
    names = {home: trail_name(), other: trail_name()}
    arns = {}
    for region, name in names.items():
        ct = srv.client("cloudtrail", region=region)
        arns[region] = ct.create_trail(Name=name, S3BucketName=bucket())["TrailARN"]
        assert f":{region}:" in arns[region]

    # Seen from either region, with each trail's home region.
    for region in (home, other):
        out = json.loads(srv.aws("cloudtrail", "list-trails", "--region", region).stdout)
        listed = {t["Name"]: t for t in out["Trails"]}
        for r, name in names.items():
            assert listed[name] == {"TrailARN": arns[r], "Name": name, "HomeRegion": r}

    srv.client("cloudtrail", region=other).delete_trail(Name=names[other])
    listed = [t["Name"] for t in srv.client("cloudtrail").list_trails()["Trails"]]
    assert names[home] in listed and names[other] not in listed


def test_list_trails_rejects_a_forged_token(server):
    ct = server.client("cloudtrail")
    code, _ = error_code(ct.list_trails, NextToken="not base64 at all!")
    assert code == "InvalidNextTokenException"


def test_tags_from_create_add_overwrite_and_remove(server):
    ct = server.client("cloudtrail")
    name = trail_name()
    r = server.aws("cloudtrail", "create-trail", "--name", name, "--s3-bucket-name", bucket(),
                   "--tags-list", "Key=team,Value=blue", "Key=stage,Value=prod")
    arn = json.loads(r.stdout)["TrailARN"]
    assert tags_of(ct, arn) == {"team": "blue", "stage": "prod"}

    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "team", "Value": "red"},
                                          {"Key": "owner", "Value": "sec@example.com"}])
    assert tags_of(ct, arn) == {"team": "red", "stage": "prod", "owner": "sec@example.com"}

    server.aws("cloudtrail", "remove-tags", "--resource-id", arn, "--tags-list", "Key=stage")
    assert tags_of(ct, arn) == {"team": "red", "owner": "sec@example.com"}


def test_deleted_trail_takes_its_tags_along(server):
    ct = server.client("cloudtrail")
    name = trail_name()
    arn = ct.create_trail(Name=name, S3BucketName=bucket(),
                          TagsList=[{"Key": "k", "Value": "v"}])["TrailARN"]
    ct.delete_trail(Name=name)
    code, _ = error_code(ct.list_tags, ResourceIdList=[arn])
    assert code == "ResourceNotFoundException"
    # A new trail of the same name starts without the old tags.
    ct.create_trail(Name=name, S3BucketName=bucket())
    assert tags_of(ct, arn) == {}


def test_tag_limits_and_rules(server):
    ct = server.client("cloudtrail")
    arn = ct.create_trail(Name=trail_name(), S3BucketName=bucket())["TrailARN"]
    fifty = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    ct.add_tags(ResourceId=arn, TagsList=fifty)
    code, _ = error_code(ct.add_tags, ResourceId=arn, TagsList=[{"Key": "one-more", "Value": "v"}])
    assert code == "TagsLimitExceededException"
    # The failed call added nothing; replacing an existing key is fine.
    assert len(tags_of(ct, arn)) == 50
    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "k0", "Value": "new"}])
    assert tags_of(ct, arn)["k0"] == "new"

    code, _ = error_code(ct.add_tags, ResourceId=arn, TagsList=[{"Key": "aws:owner", "Value": "x"}])
    assert code == "InvalidTagParameterException"
    code, _ = error_code(ct.add_tags, ResourceId=arn, TagsList=[{"Key": "bad<key>", "Value": "x"}])
    assert code == "InvalidTagParameterException"
    code, _ = error_code(ct.create_trail, Name=trail_name(), S3BucketName=bucket(),
                         TagsList=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert code == "TagsLimitExceededException"


def test_tag_errors_name_the_problem(server):
    ct = server.client("cloudtrail")
    account = server.client("sts").get_caller_identity()["Account"]
    missing = f"arn:aws:cloudtrail:us-east-1:{account}:trail/{trail_name()}"
    assert error_code(ct.add_tags, ResourceId=missing,
                      TagsList=[{"Key": "k", "Value": "v"}])[0] == "ResourceNotFoundException"
    assert error_code(ct.list_tags, ResourceIdList=["my-trail"])[0] == \
        "CloudTrailARNInvalidException"
    store = f"arn:aws:cloudtrail:us-east-1:{account}:eventdatastore/abc"
    assert error_code(ct.list_tags, ResourceIdList=[store])[0] == \
        "ResourceTypeNotSupportedException"
    # Another account's trail: trails have no resource policies, so the
    # caller's own policies can never allow it.
    other = "arn:aws:cloudtrail:us-east-1:210987654321:trail/someone-elses"
    assert error_code(ct.remove_tags, ResourceId=other,
                      TagsList=[{"Key": "k"}])[0] == "AccessDeniedException"
    arn = ct.create_trail(Name=trail_name(), S3BucketName=bucket())["TrailARN"]
    code, _ = error_code(ct.list_tags, ResourceIdList=[arn] * 21)
    assert code == "InvalidParameterException"


def test_request_tag_conditions_decide_add_tags(server):
    ct = server.client("cloudtrail")
    arn = ct.create_trail(Name=trail_name(), S3BucketName=bucket())["TrailARN"]
    policy = allow("cloudtrail:AddTags", arn,
                   {"StringEquals": {"aws:RequestTag/team": "blue"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}})
    _, _, creds = new_user(server, [policy, allow("cloudtrail:ListTags", arn)])
    user_ct = server.client("cloudtrail", access_key=creds[0], secret_key=creds[1])
    user_ct.add_tags(ResourceId=arn, TagsList=[{"Key": "team", "Value": "blue"}])
    for tags in ([{"Key": "team", "Value": "red"}],
                 [{"Key": "team", "Value": "blue"}, {"Key": "extra", "Value": "x"}]):
        code, message = error_code(user_ct.add_tags, ResourceId=arn, TagsList=tags)
        assert code == "AccessDeniedException", (code, message)
        assert "cloudtrail:AddTags" in message
    assert tags_of(user_ct, arn) == {"team": "blue"}


@pytest.mark.parametrize("op", ["list-trails", "list-tags"])
def test_denied_without_permission(server, op):
    ct = server.client("cloudtrail")
    arn = ct.create_trail(Name=trail_name(), S3BucketName=bucket())["TrailARN"]
    _, _, creds = new_user(server, [allow("cloudtrail:DescribeTrails")])
    user_ct = server.client("cloudtrail", access_key=creds[0], secret_key=creds[1])
    call = user_ct.list_trails if op == "list-trails" else \
        (lambda: user_ct.list_tags(ResourceIdList=[arn]))
    code, _ = error_code(call)
    assert code == "AccessDeniedException"


def test_resource_tags_decide_trail_operations(server):
    ct = server.client("cloudtrail")
    blue = ct.create_trail(Name=trail_name(), S3BucketName=bucket(),
                           TagsList=[{"Key": "team", "Value": "blue"}])["TrailARN"]
    red = ct.create_trail(Name=trail_name(), S3BucketName=bucket(),
                          TagsList=[{"Key": "team", "Value": "red"}])["TrailARN"]
    blue_only = {"StringEquals": {"aws:ResourceTag/team": "blue"}}
    policy = allow(["cloudtrail:GetTrail", "cloudtrail:StartLogging", "cloudtrail:StopLogging",
                    "cloudtrail:ListTags", "cloudtrail:RemoveTags"], "*", blue_only)
    _, _, creds = new_user(server, [policy])
    user_ct = server.client("cloudtrail", access_key=creds[0], secret_key=creds[1])

    user_ct.get_trail(Name=blue)
    user_ct.start_logging(Name=blue)
    user_ct.stop_logging(Name=blue)
    assert tags_of(user_ct, blue) == {"team": "blue"}
    for call, kwargs in ((user_ct.get_trail, {"Name": red}),
                         (user_ct.start_logging, {"Name": red}),
                         (user_ct.list_tags, {"ResourceIdList": [red]})):
        code, message = error_code(call, **kwargs)
        assert code == "AccessDeniedException", (code, message)

    # Once the tag is gone, so is the access it granted.
    user_ct.remove_tags(ResourceId=blue, TagsList=[{"Key": "team"}])
    code, _ = error_code(user_ct.get_trail, Name=blue)
    assert code == "AccessDeniedException"


def test_tags_change_only_in_the_home_region(multi_region_server):
    srv = multi_region_server
    home, other = MULTI_REGIONS[0], MULTI_REGIONS[1]
    ct_home = srv.client("cloudtrail", region=home)
    ct_other = srv.client("cloudtrail", region=other)
    name = trail_name()
    arn = ct_home.create_trail(Name=name, S3BucketName=bucket(), IsMultiRegionTrail=True)["TrailARN"]
    try:
        code, _ = error_code(ct_other.add_tags, ResourceId=arn,
                             TagsList=[{"Key": "k", "Value": "v"}])
        assert code == "InvalidHomeRegionException"
        # A tag without a value is listed without one, from any region.
        ct_home.add_tags(ResourceId=arn, TagsList=[{"Key": "bare"}])
        listed = ct_other.list_tags(ResourceIdList=[arn])["ResourceTagList"][0]["TagsList"]
        assert listed == [{"Key": "bare"}]
        code, _ = error_code(ct_other.remove_tags, ResourceId=arn, TagsList=[{"Key": "bare"}])
        assert code == "InvalidHomeRegionException"
    finally:
        ct_home.delete_trail(Name=name)
