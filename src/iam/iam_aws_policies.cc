// The AWS managed policies Rampart serves under arn:aws:iam::aws:policy/.
// The documents are Rampart's own, written for the services Rampart
// speaks; their names and intent follow the AWS policies of the same name
// (AWS Managed Policy Reference Guide). They are compiled into the binary:
// every account sees them, none can change or delete them.
#include <array>

#include "iam/iam_internal.h"

namespace rampart::iam::internal {
namespace {

// The services whose read calls ReadOnlyAccess and SecurityAudit cover.
constexpr std::string_view kReadOnlyDocument = R"({
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "ReadEverythingRampartServes",
    "Effect": "Allow",
    "Action": [
      "access-analyzer:Get*", "access-analyzer:List*",
      "acm-pca:Describe*", "acm-pca:Get*", "acm-pca:List*",
      "cloudtrail:Describe*", "cloudtrail:Get*", "cloudtrail:List*", "cloudtrail:LookupEvents",
      "events:Describe*", "events:List*",
      "iam:Generate*", "iam:Get*", "iam:List*", "iam:Simulate*",
      "kms:Describe*", "kms:Get*", "kms:List*",
      "organizations:Describe*", "organizations:List*",
      "secretsmanager:Describe*", "secretsmanager:GetResourcePolicy", "secretsmanager:List*",
      "securityhub:Describe*", "securityhub:Get*", "securityhub:List*",
      "sts:GetCallerIdentity"
    ],
    "Resource": "*"
  }]
})";

// Configuration and metadata only: no secret values, no key material.
constexpr std::string_view kSecurityAuditDocument = R"({
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "AuditConfiguration",
    "Effect": "Allow",
    "Action": [
      "access-analyzer:Get*", "access-analyzer:List*",
      "acm-pca:Describe*", "acm-pca:GetPolicy", "acm-pca:List*",
      "cloudtrail:Describe*", "cloudtrail:GetEventSelectors", "cloudtrail:GetTrail*",
      "cloudtrail:ListTrails", "cloudtrail:ListTags", "cloudtrail:LookupEvents",
      "events:Describe*", "events:List*",
      "iam:GenerateCredentialReport", "iam:GenerateServiceLastAccessedDetails",
      "iam:Get*", "iam:List*", "iam:SimulateCustomPolicy", "iam:SimulatePrincipalPolicy",
      "kms:Describe*", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:List*",
      "organizations:Describe*", "organizations:List*",
      "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy",
      "secretsmanager:ListSecrets",
      "securityhub:Describe*", "securityhub:Get*", "securityhub:List*"
    ],
    "Resource": "*"
  }]
})";

constexpr std::array kPolicies = {
    AwsPolicy{"AdministratorAccess", "ANPARAMPARTAWSPOLICY1",
              "Full access to every action on every resource.",
              R"({
  "Version": "2012-10-17",
  "Statement": [{"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}]
})"},
    AwsPolicy{"PowerUserAccess", "ANPARAMPARTAWSPOLICY2",
              "Full access except the management of users, groups, roles and the organization.",
              R"({
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllButIdentity", "Effect": "Allow",
     "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
    {"Sid": "WhatPowerUsersStillNeed", "Effect": "Allow",
     "Action": ["iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole", "iam:ListRoles",
                "organizations:DescribeOrganization", "account:ListRegions",
                "account:GetAccountInformation"],
     "Resource": "*"}
  ]
})"},
    AwsPolicy{"ReadOnlyAccess", "ANPARAMPARTAWSPOLICY3",
              "Read access (Get, List, Describe) to the services Rampart serves.",
              kReadOnlyDocument},
    AwsPolicy{"IAMFullAccess", "ANPARAMPARTAWSPOLICY4",
              "Full access to IAM and read access to the organization.",
              R"({
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllOfIam", "Effect": "Allow", "Action": "iam:*", "Resource": "*"},
    {"Sid": "SeeTheOrganization", "Effect": "Allow",
     "Action": ["organizations:DescribeAccount", "organizations:DescribeOrganization",
                "organizations:DescribeOrganizationalUnit", "organizations:DescribePolicy",
                "organizations:ListChildren", "organizations:ListParents",
                "organizations:ListPolicies", "organizations:ListPoliciesForTarget",
                "organizations:ListRoots", "organizations:ListTargetsForPolicy"],
     "Resource": "*"}
  ]
})"},
    AwsPolicy{"IAMReadOnlyAccess", "ANPARAMPARTAWSPOLICY5",
              "Read access to IAM: Get and List calls and reports.",
              R"({
  "Version": "2012-10-17",
  "Statement": [{"Sid": "ReadIam", "Effect": "Allow",
                 "Action": ["iam:GenerateCredentialReport", "iam:GenerateServiceLastAccessedDetails",
                            "iam:Get*", "iam:List*", "iam:SimulateCustomPolicy",
                            "iam:SimulatePrincipalPolicy"],
                 "Resource": "*"}]
})"},
    AwsPolicy{"IAMAccessAdvisorReadOnly", "ANPARAMPARTAWSPOLICY6",
              "Read the service last-accessed data of IAM entities.",
              R"({
  "Version": "2012-10-17",
  "Statement": [{"Sid": "ReadAccessAdvisor", "Effect": "Allow",
                 "Action": ["iam:GenerateServiceLastAccessedDetails",
                            "iam:GetServiceLastAccessedDetails",
                            "iam:GetServiceLastAccessedDetailsWithEntities",
                            "iam:ListPoliciesGrantingServiceAccess",
                            "iam:GenerateOrganizationsAccessReport",
                            "iam:GetOrganizationsAccessReport"],
                 "Resource": "*"}]
})"},
    AwsPolicy{"SecurityAudit", "ANPARAMPARTAWSPOLICY7",
              "Read the security configuration of the account for an audit.",
              kSecurityAuditDocument},
};

// When the Rampart-written AWS managed policies first appeared (2026-01-01).
constexpr int64_t kAwsPoliciesCreated = 1767225600;

}  // namespace

bool IsAwsPolicyArn(std::string_view arn) { return arn.starts_with(kAwsPolicyPrefix); }

std::span<const AwsPolicy> AwsPolicies() { return kPolicies; }

const AwsPolicy* FindAwsPolicy(std::string_view arn) {
  if (!IsAwsPolicyArn(arn)) return nullptr;
  std::string_view name = arn.substr(kAwsPolicyPrefix.size());
  for (const AwsPolicy& p : kPolicies) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

PolicyRow AwsPolicyRow(const AwsPolicy& p) {
  PolicyRow row;
  row.name = std::string(p.name);
  row.policy_id = std::string(p.policy_id);
  row.arn = std::string(kAwsPolicyPrefix) + std::string(p.name);
  row.path = "/";
  row.description = std::string(p.description);
  row.default_version = "v1";
  row.created_at = row.updated_at = kAwsPoliciesCreated;
  row.aws_managed = true;
  return row;
}

}  // namespace rampart::iam::internal
