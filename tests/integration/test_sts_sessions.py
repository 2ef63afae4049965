"""STS sessions beyond plain AssumeRole: GetSessionToken, virtual MFA
devices (TOTP codes computed here, independently of the server), session
tags with transitive keys, source identity and session policies, driven
with boto3 and the aws CLI against a real rampart server."""
import base64
import hashlib
import hmac
import json
import struct
import subprocess
import time
import uuid

import pytest

from test_roles import account_of, error_of, session_client, uniq

ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def totp(seed_b32, step):
    """RFC 6238 code for a 30-second step, written from the RFC."""
    key = base64.b32decode(seed_b32)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1000000:06d}"


def now_step():
    return int(time.time()) // 30


def user_with_key(server, policy=None):
    iam = server.client("iam")
    name = uniq("u")
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key


def client_for(server, service, key):
    return server.client(service, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])


def enable_mfa(server, user):
    iam = server.client("iam")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=uniq("dev"))["VirtualMFADevice"]
    seed = device["Base32StringSeed"].decode()
    step = now_step()
    iam.enable_mfa_device(UserName=user, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=totp(seed, step - 1),
                          AuthenticationCode2=totp(seed, step))
    return device["SerialNumber"], seed


def test_get_session_token_acts_as_the_user(server):
    acct = account_of(server)
    name, key = user_with_key(server, policy=ADMIN)
    out = client_for(server, "sts", key).get_session_token(DurationSeconds=900)
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
    ident = session_client(server, "sts", creds).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{acct}:user/{name}"
    # The session's permissions are the user's (outside IAM, which needs MFA).
    session_client(server, "kms", creds).list_keys()
    # Session credentials cannot mint more sessions.
    code, msg = error_of(session_client(server, "sts", creds).get_session_token)
    assert code == "AccessDenied" and "session credentials" in msg


def test_get_session_token_duration_limits(server):
    _, key = user_with_key(server)
    sts = client_for(server, "sts", key)
    code, _ = error_of(sts.get_session_token, DurationSeconds=129601)
    assert code == "ValidationError"
    long = sts.get_session_token(DurationSeconds=129600)["Credentials"]["Expiration"]
    assert long.timestamp() - time.time() > 129000
    # The root user's sessions are capped at one hour.
    root = server.client("sts").get_session_token(DurationSeconds=7200)["Credentials"]
    assert root["Expiration"].timestamp() - time.time() <= 3600 + 5


def test_virtual_mfa_device_lifecycle(server):
    iam = server.client("iam")
    acct = account_of(server)
    user, _ = user_with_key(server)
    name = uniq("dev")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/team/")["VirtualMFADevice"]
    serial = device["SerialNumber"]
    assert serial == f"arn:aws:iam::{acct}:mfa/team/{name}"
    seed = device["Base32StringSeed"].decode()
    assert len(base64.b32decode(seed)) == 20
    code, _ = error_of(iam.create_virtual_mfa_device, VirtualMFADeviceName=name.upper())
    assert code == "EntityAlreadyExists"

    step = now_step()
    code, _ = error_of(iam.enable_mfa_device, UserName=user, SerialNumber=serial,
                       AuthenticationCode1="000000", AuthenticationCode2="000000")
    assert code == "InvalidAuthenticationCode"
    iam.enable_mfa_device(UserName=user, SerialNumber=serial,
                          AuthenticationCode1=totp(seed, step - 1),
                          AuthenticationCode2=totp(seed, step))
    listed = iam.list_mfa_devices(UserName=user)["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [serial]
    assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    mine = [d for d in assigned if d["SerialNumber"] == serial]
    assert mine and mine[0]["User"]["UserName"] == user
    unassigned = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    assert serial not in [d["SerialNumber"] for d in unassigned]

    code, _ = error_of(iam.delete_virtual_mfa_device, SerialNumber=serial)
    assert code == "DeleteConflict"
    iam.deactivate_mfa_device(UserName=user, SerialNumber=serial)
    assert iam.list_mfa_devices(UserName=user)["MFADevices"] == []
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    code, _ = error_of(iam.delete_virtual_mfa_device, SerialNumber=serial)
    assert code == "NoSuchEntity"


def test_cli_writes_the_seed_file(server, tmp_path):
    out = tmp_path / "seed.txt"
    r = server.aws("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", uniq("cli"),
                   "--outfile", str(out), "--bootstrap-method", "Base32StringSeed")
    assert "SerialNumber" in r.stdout
    seed = out.read_text()
    assert len(base64.b32decode(seed)) == 20


def test_cli_writes_a_scannable_qr_code(server, tmp_path):
    acct = account_of(server)
    name = uniq("qr")
    out = tmp_path / "qr.png"
    server.aws("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", name,
               "--outfile", str(out), "--bootstrap-method", "QRCodePNG")
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    scanned = subprocess.run(["zbarimg", "--raw", "-q", str(out)], capture_output=True,
                             text=True, check=True).stdout.strip()
    assert scanned.startswith(f"otpauth://totp/{name}@{acct}?secret=")
    assert len(base64.b32decode(scanned.split("secret=")[1])) == 20


def test_assume_role_requiring_mfa(server):
    acct = account_of(server)
    iam = server.client("iam")
    user, key = user_with_key(server)
    serial, seed = enable_mfa(server, user)
    role = iam.create_role(RoleName=uniq("mfa-role"), AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/{user}"},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}))["Role"]
    sts = client_for(server, "sts", key)
    code, _ = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1")
    assert code == "AccessDenied"
    step = now_step()
    window = {totp(seed, s) for s in range(step - 2, step + 3)}
    wrong = next(c for c in ("123456", "654321", "111111", "222222", "333333") if c not in window)
    code, msg = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1",
                         SerialNumber=serial, TokenCode=wrong)
    assert code == "AccessDenied" and "MultiFactorAuthentication failed" in msg
    # The enable call consumed the codes up to the current step; the next
    # step's code is inside the accepted window and still unused.
    good = totp(seed, now_step() + 1)
    sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", SerialNumber=serial, TokenCode=good)
    # A code is good once.
    code, _ = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1",
                       SerialNumber=serial, TokenCode=good)
    assert code == "AccessDenied"


def test_session_tags_need_tag_session_and_chain_transitively(server):
    acct = account_of(server)
    iam = server.client("iam")
    root_arn = f"arn:aws:iam::{acct}:root"
    no_tags = iam.create_role(RoleName=uniq("plain"), AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": root_arn}, "Action": "sts:AssumeRole"}]}))["Role"]
    sts = server.admin_client("sts")
    code, msg = error_of(sts.assume_role, RoleArn=no_tags["Arn"], RoleSessionName="s1",
                         Tags=[{"Key": "team", "Value": "red"}])
    assert code == "AccessDenied" and "sts:TagSession" in msg

    tag_trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": root_arn},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"aws:RequestTag/team": "red"}}}]})
    first = iam.create_role(RoleName=uniq("first"), AssumeRolePolicyDocument=tag_trust)["Role"]
    iam.put_role_policy(RoleName=first["RoleName"], PolicyName="chain", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": "*"}]}))
    code, _ = error_of(sts.assume_role, RoleArn=first["Arn"], RoleSessionName="s1",
                       Tags=[{"Key": "team", "Value": "blue"}])
    assert code == "AccessDenied"
    code, _ = error_of(sts.assume_role, RoleArn=first["Arn"], RoleSessionName="s1",
                       Tags=[{"Key": "team", "Value": "red"}], TransitiveTagKeys=["other"])
    assert code == "InvalidParameterValue"
    creds = sts.assume_role(RoleArn=first["Arn"], RoleSessionName="s1",
                            Tags=[{"Key": "team", "Value": "red"}],
                            TransitiveTagKeys=["team"])["Credentials"]

    # The second role's trust requires the tag it never receives directly:
    # only the transitive tag from the first session satisfies it.
    second = iam.create_role(RoleName=uniq("second"), AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": root_arn},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "red"}}}]}))["Role"]
    chained = session_client(server, "sts", creds)
    code, _ = error_of(chained.assume_role, RoleArn=second["Arn"], RoleSessionName="c1",
                       Tags=[{"Key": "team", "Value": "green"}])
    assert code == "InvalidParameterValue"
    chained.assume_role(RoleArn=second["Arn"], RoleSessionName="c1")


def test_source_identity_is_set_once_and_kept(server):
    acct = account_of(server)
    iam = server.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}]})
    role = iam.create_role(RoleName=uniq("src"), AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="chain", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
             "Resource": "*"}]}))
    sts = server.admin_client("sts")
    code, _ = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1",
                       SourceIdentity="aws:alice")
    assert code == "ValidationError"
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", SourceIdentity="alice")
    assert out["SourceIdentity"] == "alice"
    chained = session_client(server, "sts", out["Credentials"])
    code, _ = error_of(chained.assume_role, RoleArn=role["Arn"], RoleSessionName="t1",
                       SourceIdentity="mallory")
    assert code == "AccessDenied"
    again = chained.assume_role(RoleArn=role["Arn"], RoleSessionName="t1")
    assert again["SourceIdentity"] == "alice"

    plain = iam.create_role(RoleName=uniq("nosrc"), AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
            "Action": "sts:AssumeRole"}]}))["Role"]
    code, msg = error_of(sts.assume_role, RoleArn=plain["Arn"], RoleSessionName="s1",
                         SourceIdentity="bob")
    assert code == "AccessDenied" and "sts:SetSourceIdentity" in msg


def test_malformed_session_policy_is_refused(server):
    acct = account_of(server)
    iam = server.client("iam")
    role = iam.create_role(RoleName=uniq("sp"), AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
            "Action": "sts:AssumeRole"}]}))["Role"]
    sts = server.admin_client("sts")
    code, _ = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1", Policy="{nope")
    assert code == "MalformedPolicyDocument"
    code, _ = error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1",
                       PolicyArns=[{"arn": f"arn:aws:iam::{acct}:policy/{uniq('ghost')}"}])
    assert code == "InvalidParameterValue"


def test_decode_authorization_message(server):
    # Rampart never encodes denials, so no message decodes; the permission
    # is still checked first.
    code, msg = error_of(server.client("sts").decode_authorization_message,
                         EncodedMessage="abc123")
    assert code == "InvalidAuthorizationMessageException" and "does not encode" in msg
    _, key = user_with_key(server)
    code, _ = error_of(client_for(server, "sts", key).decode_authorization_message,
                       EncodedMessage="abc123")
    assert code == "AccessDenied"


def test_get_session_token_limits_iam_and_sts(server):
    name, key = user_with_key(server, policy=ADMIN)
    creds = client_for(server, "sts", key).get_session_token(DurationSeconds=900)["Credentials"]
    code, msg = error_of(session_client(server, "iam", creds).list_users)
    assert code == "AccessDenied" and "MFA" in msg
    code, _ = error_of(session_client(server, "sts", creds).decode_authorization_message,
                       EncodedMessage="x")
    assert code == "AccessDenied"
    # With MFA the same user's session may call IAM.
    serial, seed = enable_mfa(server, name)
    mfa_creds = client_for(server, "sts", key).get_session_token(
        DurationSeconds=900, SerialNumber=serial,
        TokenCode=totp(seed, now_step() + 1))["Credentials"]
    session_client(server, "iam", mfa_creds).list_users()


def test_session_policy_from_an_aws_managed_arn(server):
    acct = account_of(server)
    iam = server.client("iam")
    role = iam.create_role(RoleName=uniq("spa"), AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
            "Action": "sts:AssumeRole"}]}))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="admin", PolicyDocument=ADMIN)
    creds = server.admin_client("sts").assume_role(
        RoleArn=role["Arn"], RoleSessionName="ro",
        PolicyArns=[{"arn": "arn:aws:iam::aws:policy/IAMReadOnlyAccess"}])["Credentials"]
    session = session_client(server, "iam", creds)
    session.list_users()
    code, _ = error_of(session.create_user, UserName=uniq("no"))
    assert code == "AccessDenied"
