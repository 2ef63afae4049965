"""Helpers for tests that need a second account: a server of the test's
own with an organization, a member account made by CreateAccount, and
credentials of the member's OrganizationAccountAccessRole."""
import json
import os
import uuid

import boto3
import botocore.config

from conftest import REGION, Rampart

ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def client(server, service, creds):
    """A boto3 client signed with creds (AccessKeyId, SecretAccessKey and,
    for sessions, SessionToken), without retries."""
    return boto3.session.Session().client(
        service, endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        config=botocore.config.Config(retries={"max_attempts": 1}))


def start_two_accounts(directory, config=None):
    """Starts a server in directory (with the config file's settings, if
    given) whose management account has an organization with one member
    account. Returns (server, member account id, the member's admin role
    session credentials)."""
    s = Rampart(directory, config=config).start()
    iam = s.client("iam")
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="admin", PolicyDocument=ADMIN)
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    admin = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
    orgs = client(s, "organizations", admin)
    orgs.create_organization(FeatureSet="ALL")
    st = orgs.create_account(Email=f"b-{uuid.uuid4().hex[:8]}@example.com",
                             AccountName="b")["CreateAccountStatus"]
    assert st["State"] == "SUCCEEDED", st
    role = client(s, "sts", admin).assume_role(
        RoleArn=f"arn:aws:iam::{st['AccountId']}:role/OrganizationAccountAccessRole",
        RoleSessionName="setup")["Credentials"]
    return s, st["AccountId"], role
