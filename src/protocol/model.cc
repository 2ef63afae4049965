// Lookups over the generated model tables.
#include "rampart/protocol/model.h"

#include <algorithm>

#include "rampart/protocol/protocol.h"

namespace rampart::protocol {
namespace {

// Binary search over a span sorted by `name`.
template <typename T>
const T* FindByName(std::span<const T> items, std::string_view name) {
  auto it = std::lower_bound(items.begin(), items.end(), name,
                             [](const T& item, std::string_view n) { return item.name < n; });
  return it != items.end() && it->name == name ? &*it : nullptr;
}

}  // namespace

const ShapeModel* ServiceModel::FindShape(std::string_view name) const {
  return FindByName(shapes, name);
}

const ServiceModel* FindService(std::string_view signing_name) {
  for (const ServiceModel* s : gen::Services()) {
    if (s->signing_name == signing_name) return s;
  }
  return nullptr;
}

std::span<const ServiceModel* const> AllServices() { return gen::Services(); }

std::string_view ServiceName(const ServiceModel& service) { return service.signing_name; }

std::string_view ServiceEndpointPrefix(const ServiceModel& service) {
  return service.endpoint_prefix;
}

Protocol ServiceProtocol(const ServiceModel& service) { return service.protocol; }

std::string_view OperationName(const OperationModel& op) { return op.name; }

const OperationModel* FindOperation(const ServiceModel& service, std::string_view name) {
  return FindByName(service.operations, name);
}

}  // namespace rampart::protocol
