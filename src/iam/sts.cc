#include "rampart/iam/sts.h"

namespace rampart::iam {
namespace {

// GetCallerIdentity needs no permission: AWS answers it even when every
// action is denied to the caller.
Result<json::Value> GetCallerIdentity(server::RequestContext& ctx, const json::Value&) {
  const server::Principal& p = ctx.principal();
  json::Value out = json::Value::MakeObject();
  out.set("UserId", p.principal_id);
  out.set("Account", p.account_id);
  out.set("Arn", p.arn);
  return out;
}

}  // namespace

void RegisterSts(server::Registry& registry) {
  registry.Add("sts", "GetCallerIdentity", GetCallerIdentity);
}

}  // namespace rampart::iam
