"""The IAM policy simulator (SimulateCustomPolicy and friends) on the real
engine, with boto3 and the aws CLI. Includes the Example Corporation ABAC
rules for EC2 actions that Rampart does not serve, checked with context
entries."""
import json

from test_roles import account_of, error_of, uniq


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def ctx(name, values, kind="string"):
    values = values if isinstance(values, list) else [values]
    return {"ContextKeyName": name, "ContextKeyValues": values, "ContextKeyType": kind}


# Example Corporation: create resources only with the caller's own project
# and application tags, never with composite values, and always with an
# application tag.
EXAMPLE_CORP = doc(
    {"Sid": "CreateWithOwnTags", "Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*",
     "Condition": {
         "StringEquals": {
             "aws:RequestTag/access-project": "${aws:PrincipalTag/access-project}",
             "aws:RequestTag/access-application": "${aws:PrincipalTag/access-application}"},
         "Null": {"aws:RequestTag/access-application": "false"}}},
    {"Sid": "NoCompositeValues", "Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*",
     "Condition": {"StringLike": {"aws:RequestTag/access-project": ["*-*", "*/*"]}}},
    {"Sid": "NamedTopics", "Effect": "Allow", "Action": "sns:Publish",
     "Resource": "arn:aws:sns:*:*:peg-reporting-*"})

PRINCIPAL_TAGS = [ctx("aws:PrincipalTag/access-project", "peg"),
                  ctx("aws:PrincipalTag/access-application", "reporting")]


def simulate(iam, actions, resources=None, context=(), **kw):
    args = dict(PolicyInputList=[EXAMPLE_CORP], ActionNames=actions, ContextEntries=list(context))
    if resources:
        args["ResourceArns"] = resources
    args.update(kw)
    return iam.simulate_custom_policy(**args)["EvaluationResults"]


def test_example_corporation_tag_rules(server):
    iam = server.client("iam")
    ok = simulate(iam, ["ec2:RunInstances"], context=PRINCIPAL_TAGS + [
        ctx("aws:RequestTag/access-project", "peg"),
        ctx("aws:RequestTag/access-application", "reporting")])[0]
    assert ok["EvalDecision"] == "allowed"
    assert ok["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"

    other_project = simulate(iam, ["ec2:RunInstances"], context=PRINCIPAL_TAGS + [
        ctx("aws:RequestTag/access-project", "other"),
        ctx("aws:RequestTag/access-application", "reporting")])[0]
    assert other_project["EvalDecision"] == "implicitDeny"
    assert other_project["MatchedStatements"] == []

    composite = simulate(iam, ["ec2:RunInstances"], context=[
        ctx("aws:PrincipalTag/access-project", "peg-x"),
        ctx("aws:PrincipalTag/access-application", "reporting"),
        ctx("aws:RequestTag/access-project", "peg-x"),
        ctx("aws:RequestTag/access-application", "reporting")])[0]
    assert composite["EvalDecision"] == "explicitDeny"

    no_app = simulate(iam, ["ec2:RunInstances"], context=PRINCIPAL_TAGS + [
        ctx("aws:RequestTag/access-project", "peg")])[0]
    assert no_app["EvalDecision"] == "implicitDeny"
    assert "aws:RequestTag/access-application" in no_app["MissingContextValues"]


def test_naming_convention_with_arn_wildcards(server):
    iam = server.client("iam")
    acct = account_of(server)
    results = simulate(iam, ["sns:Publish"], resources=[
        f"arn:aws:sns:us-east-1:{acct}:peg-reporting-prod-alerts",
        f"arn:aws:sns:us-east-1:{acct}:other-reporting-prod-alerts",
        # Another account's topic needs that account's resource policy too.
        "arn:aws:sns:us-east-1:111122223333:peg-reporting-prod-alerts"])
    assert [r["EvalDecision"] for r in results] == ["allowed", "implicitDeny", "implicitDeny"]


def test_boundary_and_resource_policy(server):
    iam = server.client("iam")
    acct = account_of(server)
    admin = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    boundary = doc({"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"})
    out = iam.simulate_custom_policy(PolicyInputList=[admin],
                                     PermissionsBoundaryPolicyInputList=[boundary],
                                     ActionNames=["iam:GetUser", "iam:DeleteUser"])
    by_action = {r["EvalActionName"]: r for r in out["EvaluationResults"]}
    assert by_action["iam:GetUser"]["EvalDecision"] == "allowed"
    assert by_action["iam:GetUser"]["PermissionsBoundaryDecisionDetail"] == {
        "AllowedByPermissionsBoundary": True}
    assert by_action["iam:DeleteUser"]["EvalDecision"] == "implicitDeny"
    assert by_action["iam:DeleteUser"]["PermissionsBoundaryDecisionDetail"] == {
        "AllowedByPermissionsBoundary": False}

    caller = f"arn:aws:iam::{acct}:user/alice"
    bucket = "arn:aws:s3:::reports"
    resource_policy = doc({"Effect": "Allow", "Principal": {"AWS": caller},
                           "Action": "s3:GetObject", "Resource": bucket})
    nothing = doc({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})
    code, _ = error_of(iam.simulate_custom_policy, PolicyInputList=[nothing],
                       ActionNames=["s3:GetObject"], ResourceArns=[bucket],
                       ResourcePolicy=resource_policy)
    assert code == "InvalidInput"
    r = iam.simulate_custom_policy(PolicyInputList=[nothing], ActionNames=["s3:GetObject"],
                                   ResourceArns=[bucket], ResourcePolicy=resource_policy,
                                   ResourceOwner=f"arn:aws:iam::{acct}:root",
                                   CallerArn=caller)["EvaluationResults"][0]
    assert r["EvalDecision"] == "allowed"
    assert r["MatchedStatements"] == [{"SourcePolicyId": "ResourcePolicy",
                                       "SourcePolicyType": "resource"}]


def test_pagination_and_errors(server):
    iam = server.client("iam")
    page = iam.simulate_custom_policy(PolicyInputList=[EXAMPLE_CORP], MaxItems=1,
                                      ActionNames=["sns:Publish", "ec2:RunInstances"])
    assert page["IsTruncated"] and len(page["EvaluationResults"]) == 1
    rest = iam.simulate_custom_policy(PolicyInputList=[EXAMPLE_CORP], Marker=page["Marker"],
                                      ActionNames=["sns:Publish", "ec2:RunInstances"])
    assert not rest["IsTruncated"]
    assert rest["EvaluationResults"][0]["EvalActionName"] == "ec2:RunInstances"
    code, _ = error_of(iam.simulate_custom_policy, PolicyInputList=["{bad"],
                       ActionNames=["iam:GetUser"])
    assert code == "InvalidInput"
    code, _ = error_of(iam.simulate_custom_policy, PolicyInputList=[EXAMPLE_CORP],
                       ActionNames=["nocolon"])
    assert code == "InvalidInput"


def test_context_keys_and_cli(server, tmp_path):
    iam = server.client("iam")
    keys = iam.get_context_keys_for_custom_policy(PolicyInputList=[EXAMPLE_CORP])["ContextKeyNames"]
    assert sorted(k.lower() for k in keys) == [
        "aws:requesttag/access-application", "aws:requesttag/access-project"]
    # The CLI takes a list of documents as a JSON array of strings.
    policy_file = tmp_path / "p.json"
    policy_file.write_text(json.dumps([EXAMPLE_CORP]))
    r = server.aws("iam", "simulate-custom-policy", "--policy-input-list", f"file://{policy_file}",
                   "--action-names", "sns:Publish", "--resource-arns",
                   f"arn:aws:sns:us-east-1:{account_of(server)}:peg-reporting-x")
    assert json.loads(r.stdout)["EvaluationResults"][0]["EvalDecision"] == "allowed"


def test_simulation_is_authorized(server):
    iam = server.client("iam")
    user = uniq("u")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = server.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    code, msg = error_of(as_user.simulate_custom_policy, PolicyInputList=[EXAMPLE_CORP],
                         ActionNames=["sns:Publish"])
    assert code == "AccessDenied" and "iam:SimulateCustomPolicy" in msg


def test_simulate_principal_policy_uses_stored_policies(server):
    iam = server.client("iam")
    acct = account_of(server)
    user = uniq("simu")
    group = uniq("simg")
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="own", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))
    iam.put_group_policy(GroupName=group, PolicyName="team", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}))
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    user_arn = f"arn:aws:iam::{acct}:user/{user}"
    results = iam.simulate_principal_policy(
        PolicySourceArn=user_arn,
        ActionNames=["iam:GetUser", "iam:ListRoles", "iam:ListGroups", "iam:DeleteUser"])
    by_action = {r["EvalActionName"]: r for r in results["EvaluationResults"]}
    assert by_action["iam:DeleteUser"]["EvalDecision"] == "implicitDeny"
    get_user = {(s["SourcePolicyId"], s["SourcePolicyType"])
                for s in by_action["iam:GetUser"]["MatchedStatements"]}
    assert ("own", "user") in get_user
    assert ("arn:aws:iam::aws:policy/IAMReadOnlyAccess", "aws-managed") in get_user
    list_roles = {(s["SourcePolicyId"], s["SourcePolicyType"])
                  for s in by_action["iam:ListRoles"]["MatchedStatements"]}
    assert ("team", "group") in list_roles
    assert by_action["iam:ListGroups"]["EvalDecision"] == "allowed"

    # A boundary on the user caps the simulation as it caps real calls.
    boundary = iam.create_policy(PolicyName=uniq("simb"), PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))["Policy"]["Arn"]
    iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=boundary)
    capped = iam.simulate_principal_policy(PolicySourceArn=user_arn,
                                           ActionNames=["iam:GetUser", "iam:ListRoles"])
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in capped["EvaluationResults"]}
    assert decisions == {"iam:GetUser": "allowed", "iam:ListRoles": "implicitDeny"}
    keys = iam.get_context_keys_for_principal_policy(PolicySourceArn=user_arn)["ContextKeyNames"]
    assert keys == []

    code, _ = error_of(iam.simulate_principal_policy,
                       PolicySourceArn=f"arn:aws:iam::{acct}:user/{uniq('ghost')}",
                       ActionNames=["iam:GetUser"])
    assert code == "NoSuchEntity"


def test_simulate_role_and_group_sources(server):
    iam = server.client("iam")
    acct = account_of(server)
    role = iam.create_role(RoleName=uniq("simr"), AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
         "Action": "sts:AssumeRole"}))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="r", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}))
    iam.tag_role(RoleName=role["RoleName"], Tags=[{"Key": "team", "Value": "blue"}])
    r = iam.simulate_principal_policy(PolicySourceArn=role["Arn"],
                                      ActionNames=["kms:Encrypt"])["EvaluationResults"][0]
    assert r["EvalDecision"] == "allowed"
    assert r["MatchedStatements"] == [{"SourcePolicyId": "r", "SourcePolicyType": "role"}]
    group = uniq("simg2")
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="g", PolicyDocument=doc(
        {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}))
    g = iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{acct}:group/{group}",
                                      ActionNames=["iam:GetUser"])["EvaluationResults"][0]
    assert g["EvalDecision"] == "explicitDeny"
    assert g["MatchedStatements"] == [{"SourcePolicyId": "g", "SourcePolicyType": "group"}]
