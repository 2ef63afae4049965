// The universe of AWS service namespaces that access advisor reports on,
// and which of them a set of policies allows.
//
// ServiceNames() is generated at build time from botocore's service models
// (tools/gen_service_names.py): the IAM action prefix of every service with
// its full name. A CloudTrail event source "<prefix>.amazonaws.com" maps to
// a namespace through the same table (plus aliases where the endpoint prefix
// is not the IAM prefix, e.g. monitoring -> cloudwatch).
//
// Thread-safety: free functions over immutable tables; safe from any thread.
#pragma once

#include <set>
#include <span>
#include <string>
#include <string_view>

#include "rampart/iam/policy_ast.h"

namespace rampart::audit {

struct ServiceName {
  std::string_view ns;    // "iam"
  std::string_view name;  // "AWS Identity and Access Management"
};
struct EventSourceAlias {
  std::string_view prefix;  // "monitoring"
  std::string_view ns;      // "cloudwatch"
};

// Sorted by namespace. Generated.
std::span<const ServiceName> ServiceNames();
// Sorted by prefix. Generated.
std::span<const EventSourceAlias> EventSourceAliases();

// The entry for a namespace (exact, lower case), or nullptr.
const ServiceName* FindServiceName(std::string_view ns);

// The namespace of a CloudTrail eventSource ("kms.amazonaws.com" -> "kms");
// empty when the text is not "<prefix>.amazonaws.com" or the prefix is not
// a known service.
std::string NamespaceOfEventSource(std::string_view event_source);

using NamespaceSet = std::set<std::string, std::less<>>;

// The namespaces the policies allow, with permissions-policy logic only
// (the access advisor's rule): a namespace is allowed when an Allow
// statement's Action names one of its actions (or NotAction leaves one
// out), and not when an unconditional Deny on every resource covers all of
// its actions ("svc:*", "*"). Conditions and resources of Allow statements
// are not considered. Documents that do not parse are skipped.
NamespaceSet AllowedNamespaces(std::span<const std::string> documents, iam::PolicyKind kind);

// The namespaces an organization path allows: a namespace must be allowed
// at every level (each level's SCPs, by AllowedNamespaces).
NamespaceSet IntersectLevels(std::span<const NamespaceSet> levels);

}  // namespace rampart::audit
