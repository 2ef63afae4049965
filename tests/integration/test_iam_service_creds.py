"""IAM service-specific credentials and service-linked roles with the real
aws CLI and boto3 against a real rampart server."""
import base64
import json
import time

from iam_helpers import account_of, allow, denied, new_user, uniq
from iam_helpers import error_code as error_of

CODECOMMIT = "codecommit.amazonaws.com"
KEYSPACES = "cassandra.amazonaws.com"


def test_service_specific_credential_lifecycle(server):
    iam = server.client("iam")
    acct = account_of(server)
    user = uniq("dev")
    iam.create_user(UserName=user)
    cred = iam.create_service_specific_credential(UserName=user, ServiceName=CODECOMMIT)[
        "ServiceSpecificCredential"]
    cred_id = cred["ServiceSpecificCredentialId"]
    assert cred_id.startswith("ACCA") and len(cred_id) == 20
    assert cred["ServiceUserName"] == f"{user}-at-{acct}"
    assert cred["ServiceName"] == CODECOMMIT and cred["Status"] == "Active"
    assert len(base64.b64decode(cred["ServicePassword"])) == 32

    second = iam.create_service_specific_credential(UserName=user, ServiceName=CODECOMMIT)[
        "ServiceSpecificCredential"]
    assert second["ServiceUserName"] == f"{user}+1-at-{acct}"
    assert second["ServicePassword"] != cred["ServicePassword"]
    code, msg = error_of(iam.create_service_specific_credential, UserName=user,
                         ServiceName=CODECOMMIT)
    assert code == "LimitExceeded" and "2" in msg
    # The quota is per service.
    keyspaces = iam.create_service_specific_credential(UserName=user, ServiceName=KEYSPACES)[
        "ServiceSpecificCredential"]

    listed = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    assert {c["ServiceSpecificCredentialId"] for c in listed} == {
        cred_id, second["ServiceSpecificCredentialId"], keyspaces["ServiceSpecificCredentialId"]}
    assert all("ServicePassword" not in c for c in listed)
    only = iam.list_service_specific_credentials(UserName=user, ServiceName=KEYSPACES)[
        "ServiceSpecificCredentials"]
    assert [c["ServiceSpecificCredentialId"] for c in only] == [
        keyspaces["ServiceSpecificCredentialId"]]

    reset = iam.reset_service_specific_credential(UserName=user,
                                                  ServiceSpecificCredentialId=cred_id)[
        "ServiceSpecificCredential"]
    assert reset["ServicePassword"] != cred["ServicePassword"]
    assert reset["ServiceUserName"] == cred["ServiceUserName"]

    iam.update_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cred_id,
                                           Status="Inactive")
    statuses = {c["ServiceSpecificCredentialId"]: c["Status"] for c in
                iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]}
    assert statuses[cred_id] == "Inactive"

    code, msg = error_of(iam.delete_user, UserName=user)
    assert code == "DeleteConflict" and "referenced objects" in msg
    for c in (cred_id, second["ServiceSpecificCredentialId"],
              keyspaces["ServiceSpecificCredentialId"]):
        iam.delete_service_specific_credential(UserName=user, ServiceSpecificCredentialId=c)
    code, msg = error_of(iam.delete_service_specific_credential, UserName=user,
                         ServiceSpecificCredentialId=cred_id)
    assert code == "NoSuchEntity" and cred_id in msg
    iam.delete_user(UserName=user)


def test_service_specific_credential_checks(server):
    iam = server.client("iam")
    user = uniq("dev")
    iam.create_user(UserName=user)
    code, msg = error_of(iam.create_service_specific_credential, UserName=user,
                         ServiceName="s3.amazonaws.com")
    assert code == "NotSupportedService" and "s3.amazonaws.com" in msg
    code, _ = error_of(iam.create_service_specific_credential, UserName=uniq("ghost"),
                       ServiceName=CODECOMMIT)
    assert code == "NoSuchEntity"
    code, _ = error_of(iam.reset_service_specific_credential, UserName=user,
                       ServiceSpecificCredentialId="ACCA" + "A" * 16)
    assert code == "NoSuchEntity"


def test_service_specific_credentials_self_service_and_cli(server):
    name, me, creds = new_user(server, [allow("iam:*ServiceSpecificCredential*",
                                              "arn:aws:iam::*:user/${aws:username}")])
    r = server.aws("iam", "create-service-specific-credential", "--user-name", name,
                   "--service-name", CODECOMMIT)
    cred = json.loads(r.stdout)["ServiceSpecificCredential"]
    assert cred["UserName"] == name and cred["ServicePassword"]
    # Without UserName the calls are about the caller.
    mine = me.list_service_specific_credentials()["ServiceSpecificCredentials"]
    assert [c["ServiceSpecificCredentialId"] for c in mine] == [cred["ServiceSpecificCredentialId"]]
    other = uniq("other")
    server.client("iam").create_user(UserName=other)
    denied(me.create_service_specific_credential, UserName=other, ServiceName=CODECOMMIT)
    me.delete_service_specific_credential(
        ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"])


def test_passwords_never_reach_the_audit_trail(server):
    iam = server.client("iam")
    user = uniq("dev")
    iam.create_user(UserName=user)
    cred = iam.create_service_specific_credential(UserName=user, ServiceName=KEYSPACES)[
        "ServiceSpecificCredential"]
    reset = iam.reset_service_specific_credential(
        UserName=user, ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"])[
        "ServiceSpecificCredential"]
    time.sleep(1.2)  # reads and writes are both stored by now
    everything = server.aws("cloudtrail", "lookup-events", "--max-results", "50").stdout
    assert "CreateServiceSpecificCredential" in everything
    assert cred["ServicePassword"] not in everything
    assert reset["ServicePassword"] not in everything


def test_service_linked_role_lifecycle(server):
    iam = server.client("iam")
    acct = account_of(server)
    role = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com",
                                          CustomSuffix=uniq("fleet"),
                                          Description="scaling")["Role"]
    name = role["RoleName"]
    assert name.startswith("AWSServiceRoleForAutoScaling_fleet-")
    assert role["Path"] == "/aws-service-role/autoscaling.amazonaws.com/"
    assert role["Arn"] == (f"arn:aws:iam::{acct}:role/aws-service-role/"
                           f"autoscaling.amazonaws.com/{name}")
    got = iam.get_role(RoleName=name)["Role"]
    trust = got["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(trust)
    assert trust["Statement"][0]["Principal"] == {"Service": ["autoscaling.amazonaws.com"]}
    assert trust["Statement"][0]["Action"] == ["sts:AssumeRole"]
    assert got["Description"] == "scaling"

    suffix = name.split("_", 1)[1]
    code, msg = error_of(iam.create_service_linked_role, AWSServiceName="autoscaling.amazonaws.com",
                         CustomSuffix=suffix)
    assert code == "InvalidInput" and "has been taken" in msg

    code, msg = error_of(iam.delete_role, RoleName=name)
    assert code == "UnmodifiableEntity" and name in msg

    task = iam.delete_service_linked_role(RoleName=name)["DeletionTaskId"]
    assert task.startswith(f"task/aws-service-role/autoscaling.amazonaws.com/{name}/")
    status = iam.get_service_linked_role_deletion_status(DeletionTaskId=task)
    assert status["Status"] == "SUCCEEDED"
    code, _ = error_of(iam.get_role, RoleName=name)
    assert code == "NoSuchEntity"
    code, _ = error_of(iam.get_service_linked_role_deletion_status,
                       DeletionTaskId=task[:-4] + "0000")
    assert code == "NoSuchEntity"
    code, _ = error_of(iam.get_service_linked_role_deletion_status, DeletionTaskId="nonsense")
    assert code == "InvalidInput"


def test_service_linked_role_rules(server):
    iam = server.client("iam")
    code, msg = error_of(iam.create_service_linked_role, AWSServiceName="ecs.amazonaws.com",
                         CustomSuffix="x")
    assert code == "InvalidInput" and "suffix" in msg.lower()
    code, _ = error_of(iam.create_service_linked_role, AWSServiceName="example.com")
    assert code == "InvalidInput"
    code, _ = error_of(iam.create_service_linked_role, AWSServiceName="autoscaling.amazonaws.com",
                       CustomSuffix="s" * 64)
    assert code == "InvalidInput"
    # An ordinary role is not deleted through DeleteServiceLinkedRole.
    plain = uniq("plain")
    iam.create_role(RoleName=plain, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    code, _ = error_of(iam.delete_service_linked_role, RoleName=plain)
    assert code == "InvalidInput"
    iam.delete_role(RoleName=plain)
    code, _ = error_of(iam.delete_service_linked_role, RoleName=uniq("none"))
    assert code == "NoSuchEntity"


def test_service_linked_role_in_use_fails_to_delete(server):
    iam = server.client("iam")
    name = iam.create_service_linked_role(AWSServiceName="elasticbeanstalk.amazonaws.com",
                                          CustomSuffix=uniq("s"))["Role"]["RoleName"]
    profile = uniq("ip")
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=name)
    task = iam.delete_service_linked_role(RoleName=name)["DeletionTaskId"]
    status = iam.get_service_linked_role_deletion_status(DeletionTaskId=task)
    assert status["Status"] == "FAILED" and "instance profile" in status["Reason"]["Reason"]
    assert iam.get_role(RoleName=name)["Role"]["RoleName"] == name
    iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=name)
    iam.delete_instance_profile(InstanceProfileName=profile)
    task = iam.delete_service_linked_role(RoleName=name)["DeletionTaskId"]
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"


def test_service_linked_role_authorization_and_cli(server):
    service = "my-custom-svc.amazonaws.com"
    _, limited, creds = new_user(server, [allow("iam:CreateServiceLinkedRole", "*", {
        "StringEquals": {"iam:AWSServiceName": "autoscaling.amazonaws.com"}})])
    msg = denied(limited.create_service_linked_role, AWSServiceName=service)
    assert "iam:CreateServiceLinkedRole" in msg
    # The condition key names the service: the allowed one goes through.
    allowed = limited.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com",
                                                 CustomSuffix=uniq("ok"))["Role"]["RoleName"]
    server.client("iam").delete_service_linked_role(RoleName=allowed)
    r = server.aws("iam", "create-service-linked-role", "--aws-service-name", service)
    role = json.loads(r.stdout)["Role"]
    assert role["RoleName"] == "AWSServiceRoleForMyCustomSvc"
    r = server.aws("iam", "delete-service-linked-role", "--role-name", role["RoleName"])
    task = json.loads(r.stdout)["DeletionTaskId"]
    r = server.aws("iam", "get-service-linked-role-deletion-status", "--deletion-task-id", task)
    assert json.loads(r.stdout)["Status"] == "SUCCEEDED"


def test_service_linked_role_permissions_are_the_services(server):
    iam = server.client("iam")
    name = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com",
                                          CustomSuffix=uniq("guard"))["Role"]["RoleName"]
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    for call, kwargs in [
            (iam.put_role_policy, {"PolicyName": "extra", "PolicyDocument": doc}),
            (iam.attach_role_policy, {"PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            (iam.update_assume_role_policy, {"PolicyDocument": json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                       "Principal": {"AWS": "*"}}]})}),
            (iam.put_role_permissions_boundary,
             {"PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess"})]:
        code, _ = error_of(call, RoleName=name, **kwargs)
        assert code == "UnmodifiableEntity", call
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == []
    # Reading it is fine, and only CreateServiceLinkedRole makes such a path.
    assert iam.get_role(RoleName=name)["Role"]["Path"].startswith("/aws-service-role/")
    code, _ = error_of(iam.create_role, RoleName=uniq("fake"), Path="/aws-service-role/x/",
                       AssumeRolePolicyDocument=doc)
    assert code == "InvalidInput"
    iam.delete_service_linked_role(RoleName=name)
