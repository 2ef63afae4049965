"""Helpers shared by the IAM integration tests: unique names, IAM users
with their own access keys, and assertions on AWS error codes."""
import json
import uuid

import botocore.exceptions
import pytest


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def account_of(server):
    return server.client("sts").get_caller_identity()["Account"]


def allow(action, resource="*", condition=None):
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def new_user(server, policies=(), **create_args):
    """Creates a user with inline policies and an access key. Returns
    (name, boto3 IAM client signed as that user, (key id, secret))."""
    iam = server.client("iam")
    name = uniq("u")
    iam.create_user(UserName=name, **create_args)
    for i, doc in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=json.dumps(doc))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    creds = (key["AccessKeyId"], key["SecretAccessKey"])
    return name, server.client("iam", access_key=creds[0], secret_key=creds[1]), creds


def error_code(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def denied(call, **kwargs):
    code, message = error_code(call, **kwargs)
    assert code == "AccessDenied", (code, message)
    return message


def aws_as(server, creds, *args, check=True):
    """Runs the aws CLI signed with creds (an IAM user's key)."""
    return server.aws(*args, check=check, env_extra={
        "AWS_ACCESS_KEY_ID": creds[0], "AWS_SECRET_ACCESS_KEY": creds[1],
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
