"""IAM OpenID Connect providers with the real aws CLI and boto3 against a
real rampart server."""
import json

import boto3
import botocore.config

from conftest import REGION
from iam_helpers import account_of, uniq
from iam_helpers import error_code as error_of

PRINT_A = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
PRINT_B = "A" * 40


def issuer():
    return f"https://{uniq('idp')}.example.com/tenant"


def test_provider_lifecycle(server):
    iam = server.client("iam")
    acct = account_of(server)
    url = issuer()
    host_path = url[len("https://"):]
    out = iam.create_open_id_connect_provider(
        Url=url + "/", ClientIDList=["sts.amazonaws.com", "app-1", "app-1"],
        ThumbprintList=[PRINT_A], Tags=[{"Key": "owner", "Value": "ci"}])
    arn = out["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{acct}:oidc-provider/{host_path}"
    assert out["Tags"] == [{"Key": "owner", "Value": "ci"}]

    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["Url"] == host_path
    assert got["ClientIDList"] == ["sts.amazonaws.com", "app-1"]
    assert got["ThumbprintList"] == [PRINT_A]
    assert got["Tags"] == [{"Key": "owner", "Value": "ci"}]
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert arn in arns

    code, msg = error_of(iam.create_open_id_connect_provider, Url=url, ThumbprintList=[PRINT_A])
    assert code == "EntityAlreadyExists" and host_path in msg

    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="app-2")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="app-2")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                                       ClientID="sts.amazonaws.com")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                                       ClientID="never-there")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn,
                                                   ThumbprintList=[PRINT_B, PRINT_A])
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["ClientIDList"] == ["app-1", "app-2"]
    assert got["ThumbprintList"] == [PRINT_B, PRINT_A]

    assert iam.get_account_summary()["SummaryMap"]["Providers"] >= 1
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    # Deleting again is not an error, as on AWS.
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    code, msg = error_of(iam.get_open_id_connect_provider, OpenIDConnectProviderArn=arn)
    assert code == "NoSuchEntity" and arn in msg
    code, _ = error_of(iam.add_client_id_to_open_id_connect_provider,
                       OpenIDConnectProviderArn=arn, ClientID="x")
    assert code == "NoSuchEntity"
    # The tags went with it: a new provider at the same URL starts bare.
    iam.create_open_id_connect_provider(Url=url, ThumbprintList=[PRINT_A])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == []


def test_provider_validation(server):
    iam = server.client("iam")
    for bad_url in ("http://insecure.example.com", "idp.example.com", "https://a.example.com/?q=1"):
        code, _ = error_of(iam.create_open_id_connect_provider, Url=bad_url,
                           ThumbprintList=[PRINT_A])
        assert code == "InvalidInput", bad_url
    code, _ = error_of(iam.create_open_id_connect_provider, Url=issuer(),
                       ThumbprintList=["z" * 40])
    assert code == "InvalidInput"
    code, _ = error_of(iam.create_open_id_connect_provider, Url=issuer(),
                       ThumbprintList=[f"{i:040x}" for i in range(6)])
    assert code == "LimitExceeded"
    code, _ = error_of(iam.create_open_id_connect_provider, Url=issuer(),
                       ClientIDList=[f"c{i}" for i in range(101)], ThumbprintList=[PRINT_A])
    assert code == "LimitExceeded"
    arn = iam.create_open_id_connect_provider(Url=issuer(), ThumbprintList=[PRINT_A])[
        "OpenIDConnectProviderArn"]
    # 40 characters, so the client's own length check passes, but not hex.
    r = server.aws("iam", "update-open-id-connect-provider-thumbprint",
                   "--open-id-connect-provider-arn", arn,
                   "--thumbprint-list", "g" * 40, check=False)
    assert r.returncode != 0 and "InvalidInput" in r.stderr, r.stderr
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ThumbprintList"] == [
        PRINT_A]


def test_provider_tags_and_authorization(server):
    iam = server.client("iam")
    arn = iam.create_open_id_connect_provider(
        Url=issuer(), ThumbprintList=[PRINT_A],
        Tags=[{"Key": "team", "Value": "red"}])["OpenIDConnectProviderArn"]
    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                     Tags=[{"Key": "env", "Value": "dev"}])
    out = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn, MaxItems=1)
    assert out["Tags"] == [{"Key": "env", "Value": "dev"}] and out["IsTruncated"]
    rest = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn,
                                                  Marker=out["Marker"])
    assert rest["Tags"] == [{"Key": "team", "Value": "red"}] and not rest["IsTruncated"]

    user = uniq("oidcuser")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:GetOpenIDConnectProvider", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/team": "red"}}}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    caller = boto3.session.Session().client(
        "iam", endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
        config=botocore.config.Config(retries={"max_attempts": 1}))
    caller.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["TEAM"])
    code, msg = error_of(caller.get_open_id_connect_provider, OpenIDConnectProviderArn=arn)
    assert code == "AccessDenied" and "iam:GetOpenIDConnectProvider" in msg and arn in msg
    code, _ = error_of(caller.create_open_id_connect_provider, Url=issuer(),
                       ThumbprintList=[PRINT_A])
    assert code == "AccessDenied"


def test_cli_create_and_list(server):
    url = issuer()
    r = server.aws("iam", "create-open-id-connect-provider", "--url", url,
                   "--client-id-list", "sts.amazonaws.com", "--thumbprint-list", PRINT_A)
    arn = json.loads(r.stdout)["OpenIDConnectProviderArn"]
    listed = json.loads(server.aws("iam", "list-open-id-connect-providers").stdout)
    assert arn in [p["Arn"] for p in listed["OpenIDConnectProviderList"]]
    got = json.loads(server.aws("iam", "get-open-id-connect-provider",
                                "--open-id-connect-provider-arn", arn).stdout)
    assert got["ClientIDList"] == ["sts.amazonaws.com"]
