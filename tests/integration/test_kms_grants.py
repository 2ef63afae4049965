"""KMS grants end to end with boto3 and the aws CLI: a grantee with no
key-policy or IAM permission encrypts and decrypts through a grant (in the
key's account and in another account), encryption-context constraints are
enforced, grant tokens are checked, and retiring or revoking the grant
removes access."""
import json
import os
import uuid

import botocore.exceptions
import pytest

from org_helpers import client, start_two_accounts


def error_of(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")




def new_user(iam, name):
    """An IAM user without any policy: its access key and ARN."""
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key, arn


ACCOUNT = []


@pytest.fixture(scope="module")
def setup(server):
    if not ACCOUNT:
        ACCOUNT.append(server.client("sts").get_caller_identity()["Account"])
    return server


def test_grantee_without_policies_uses_the_grant(setup):
    server = setup
    kms = server.client("kms")
    iam = server.client("iam")
    name = f"grantee-{uuid.uuid4().hex[:8]}"
    key, grantee_arn = new_user(iam, name)
    grantee = client(server, "kms", key)
    key_id = kms.create_key(Description="granted")["KeyMetadata"]["KeyId"]

    # No IAM policy and the default key policy: denied.
    code, _ = error_of(grantee.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "AccessDeniedException"

    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=grantee_arn,
                             Operations=["Encrypt", "Decrypt"], Name="app",
                             Constraints={"EncryptionContextSubset": {"Purpose": "billing"}})
    token = grant["GrantToken"]
    ctx = {"purpose": "billing", "tenant": "t1"}
    ct = grantee.encrypt(KeyId=key_id, Plaintext=b"secret", EncryptionContext=ctx,
                         GrantTokens=[token])["CiphertextBlob"]
    assert grantee.decrypt(CiphertextBlob=ct, EncryptionContext=ctx)["Plaintext"] == b"secret"
    # The constraint: a missing pair or a differing value is denied.
    code, msg = error_of(grantee.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "AccessDeniedException" and "kms:Encrypt" in msg
    code, _ = error_of(grantee.encrypt, KeyId=key_id, Plaintext=b"x",
                       EncryptionContext={"purpose": "Billing"})
    assert code == "AccessDeniedException"
    # Operations outside the grant stay denied.
    code, _ = error_of(grantee.describe_key, KeyId=key_id)
    assert code == "AccessDeniedException"
    code, _ = error_of(grantee.generate_data_key, KeyId=key_id, KeySpec="AES_256",
                       EncryptionContext=ctx)
    assert code == "AccessDeniedException"
    # A token this server did not issue.
    code, _ = error_of(grantee.encrypt, KeyId=key_id, Plaintext=b"x", EncryptionContext=ctx,
                       GrantTokens=["AAAAbm90IGEgdG9rZW4="])
    assert code == "InvalidGrantTokenException"

    # Name idempotency.
    again = kms.create_grant(KeyId=key_id, GranteePrincipal=grantee_arn,
                             Operations=["Decrypt", "Encrypt"], Name="app",
                             Constraints={"EncryptionContextSubset": {"Purpose": "billing"}})
    assert again["GrantId"] == grant["GrantId"] and again["GrantToken"] != token

    grants = kms.list_grants(KeyId=key_id)["Grants"]
    assert len(grants) == 1
    g = grants[0]
    assert g["GrantId"] == grant["GrantId"] and g["Name"] == "app"
    assert g["GranteePrincipal"] == grantee_arn
    assert sorted(g["Operations"]) == ["Decrypt", "Encrypt"]
    assert g["Constraints"] == {"EncryptionContextSubset": {"Purpose": "billing"}}
    assert g["IssuingAccount"] == f"arn:aws:iam::{ACCOUNT[0]}:root"

    # Revoking removes access at once.
    kms.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
    code, _ = error_of(grantee.decrypt, CiphertextBlob=ct, EncryptionContext=ctx)
    assert code == "AccessDeniedException"
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    code, _ = error_of(kms.revoke_grant, KeyId=key_id, GrantId=grant["GrantId"])
    assert code == "NotFoundException"


def test_retiring_principal_and_cli(setup):
    server = setup
    kms = server.client("kms")
    iam = server.client("iam")
    grantee_key, grantee_arn = new_user(iam, f"g-{uuid.uuid4().hex[:8]}")
    retirer_key, retirer_arn = new_user(iam, f"r-{uuid.uuid4().hex[:8]}")
    grantee = client(server, "kms", grantee_key)
    retirer = client(server, "kms", retirer_key)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]

    r = server.aws("kms", "create-grant", "--key-id", key_id, "--grantee-principal", grantee_arn,
                   "--retiring-principal", retirer_arn, "--operations", "GenerateDataKey",
                   "Decrypt", "--constraints",
                   'EncryptionContextEquals={app=web}')
    grant = json.loads(r.stdout)
    dk = grantee.generate_data_key(KeyId=key_id, KeySpec="AES_256",
                                   EncryptionContext={"APP": "web"})
    assert len(dk["Plaintext"]) == 32
    # Equals: an extra pair is not allowed.
    code, _ = error_of(grantee.generate_data_key, KeyId=key_id, KeySpec="AES_256",
                       EncryptionContext={"app": "web", "more": "x"})
    assert code == "AccessDeniedException"

    retirable = kms.list_retirable_grants(RetiringPrincipal=retirer_arn)["Grants"]
    assert [g["GrantId"] for g in retirable] == [grant["GrantId"]]
    # The grantee's grant lacks RetireGrant, so only the retiring principal
    # (or the key's account) may retire it.
    code, _ = error_of(grantee.retire_grant, GrantToken=grant["GrantToken"])
    assert code == "AccessDeniedException"
    retirer.retire_grant(GrantToken=grant["GrantToken"])
    code, _ = error_of(grantee.decrypt, CiphertextBlob=dk["CiphertextBlob"],
                       EncryptionContext={"app": "web"})
    assert code == "AccessDeniedException"
    code, _ = error_of(retirer.retire_grant, GrantToken="garbage")
    assert code == "InvalidGrantTokenException"
    code, _ = error_of(kms.retire_grant, KeyId=key_id, GrantId="x" * 64)
    assert code == "InvalidGrantIdException"


def test_grant_validation(setup):
    kms = setup.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    principal = f"arn:aws:iam::{ACCOUNT[0]}:root"
    code, _ = error_of(kms.create_grant, KeyId=key_id, GranteePrincipal=principal,
                       Operations=["Sign"])
    assert code == "ValidationException"
    code, _ = error_of(kms.create_grant, KeyId=key_id, GranteePrincipal="someone",
                       Operations=["Encrypt"])
    assert code == "ValidationException"
    sign_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    code, _ = error_of(kms.create_grant, KeyId=sign_key["KeyId"], GranteePrincipal=principal,
                       Operations=["Sign"],
                       Constraints={"EncryptionContextEquals": {"a": "b"}})
    assert code == "ValidationException"
    kms.disable_key(KeyId=key_id)
    code, _ = error_of(kms.create_grant, KeyId=key_id, GranteePrincipal=principal,
                       Operations=["Encrypt"])
    assert code == "DisabledException"


@pytest.fixture(scope="module")
def two_accounts(workdir):
    s, member, member_admin = start_two_accounts(os.path.join(workdir, "kms-grants-cross-account"))
    yield s, member, member_admin
    s.stop()


def test_cross_account_grantee(two_accounts):
    server, b_account, b_admin = two_accounts
    kms_a = server.client("kms")
    key_arn = kms_a.create_key(Description="shared by grant")["KeyMetadata"]["Arn"]
    iam_b = client(server, "iam", b_admin)
    iam_b.create_user(UserName="worker")
    worker_key = iam_b.create_access_key(UserName="worker")["AccessKey"]
    worker = client(server, "kms", worker_key)
    worker_arn = f"arn:aws:iam::{b_account}:user/worker"

    code, _ = error_of(worker.encrypt, KeyId=key_arn, Plaintext=b"x")
    assert code == "AccessDeniedException"
    grant = kms_a.create_grant(KeyId=key_arn, GranteePrincipal=worker_arn,
                               Operations=["Encrypt", "Decrypt", "RetireGrant"])
    # Neither A's key policy nor any IAM policy of B allows the worker.
    ct = worker.encrypt(KeyId=key_arn, Plaintext=b"shared",
                        GrantTokens=[grant["GrantToken"]])["CiphertextBlob"]
    assert worker.decrypt(CiphertextBlob=ct)["Plaintext"] == b"shared"
    # The grantee retires its own grant (RetireGrant is in the grant).
    worker.retire_grant(KeyId=key_arn, GrantId=grant["GrantId"])
    code, _ = error_of(worker.decrypt, CiphertextBlob=ct)
    assert code == "AccessDeniedException"


def test_explicit_deny_beats_a_grant(setup):
    server = setup
    kms = server.client("kms")
    iam = server.client("iam")
    name = f"denied-{uuid.uuid4().hex[:8]}"
    key, grantee_arn = new_user(iam, name)
    grantee = client(server, "kms", key)
    key_id = kms.create_key(Description="deny wins")["KeyMetadata"]["KeyId"]
    kms.create_grant(KeyId=key_id, GranteePrincipal=grantee_arn, Operations=["Encrypt"])
    grantee.encrypt(KeyId=key_id, Plaintext=b"x")
    iam.put_user_policy(UserName=name, PolicyName="no-kms", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}))
    code, msg = error_of(grantee.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "AccessDeniedException" and "explicit deny" in msg
