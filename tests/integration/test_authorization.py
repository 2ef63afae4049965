"""Every call is authorized by the policy engine: an IAM user can do exactly
what its policies allow, with AWS's denial messages."""
import json
import uuid

import botocore.exceptions
import pytest


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def user_with_key(server, policies=()):
    """Creates a user with the given inline policies and returns a boto3 IAM
    client signed with that user's own access key."""
    iam = server.client("iam")
    name = uniq("authz")
    iam.create_user(UserName=name)
    for i, doc in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=json.dumps(doc))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, server.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])


def denied(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    return e.value.response["Error"]["Message"]


def allow(action, resource="*"):
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}


def test_user_without_policies_is_denied_with_aws_message(server):
    name, iam = user_with_key(server)
    msg = denied(iam.create_user, UserName=uniq("x"))
    assert f":user/{name} is not authorized to perform: iam:CreateUser on resource:" in msg
    assert "because no identity-based policy allows the iam:CreateUser action" in msg


def test_identity_policy_allows_exactly_what_it_says(server):
    _, iam = user_with_key(server, [allow("iam:CreateUser")])
    iam.create_user(UserName=uniq("ok"))
    denied(iam.list_users)


def test_explicit_deny_wins(server):
    deny = {"Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}]}
    _, iam = user_with_key(server, [allow("iam:*"), deny])
    iam.list_users()
    msg = denied(iam.create_user, UserName=uniq("no"))
    assert "with an explicit deny in an identity-based policy" in msg


def test_policy_variable_scopes_resource_to_self(server):
    own = allow("iam:ListAccessKeys", "arn:aws:iam::*:user/${aws:username}")
    name, iam = user_with_key(server, [own])
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    other = server.client("iam").create_user(UserName=uniq("other"))["User"]["UserName"]
    denied(iam.list_access_keys, UserName=other)


def test_attached_managed_policy_and_detach_take_effect(server):
    root = server.client("iam")
    name, iam = user_with_key(server)
    arn = root.create_policy(PolicyName=uniq("list"),
                             PolicyDocument=json.dumps(allow("iam:ListUsers")))["Policy"]["Arn"]
    denied(iam.list_users)
    root.attach_user_policy(UserName=name, PolicyArn=arn)
    iam.list_users()  # the cached decision was invalidated by the attach
    root.detach_user_policy(UserName=name, PolicyArn=arn)
    denied(iam.list_users)


def test_condition_on_secure_transport(server):
    tls_only = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}
    _, iam = user_with_key(server, [tls_only])
    denied(iam.list_users)  # the test server speaks plain HTTP


def test_get_caller_identity_needs_no_permission(server):
    name, _ = user_with_key(server)
    root = server.client("iam")
    key = root.create_access_key(UserName=name)["AccessKey"]
    sts = server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"].endswith(f":user/{name}")
