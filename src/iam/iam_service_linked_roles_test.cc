// Names of service-linked roles (iam_service_linked_roles.cc).
#include <gtest/gtest.h>

#include "iam/iam_internal.h"

namespace rampart::iam::internal {
namespace {

TEST(ServiceLinkedRoleName, KnownAndDerivedNames) {
  EXPECT_EQ(ServiceLinkedRoleName("autoscaling.amazonaws.com", "").value(),
            "AWSServiceRoleForAutoScaling");
  EXPECT_EQ(ServiceLinkedRoleName("autoscaling.amazonaws.com", "web").value(),
            "AWSServiceRoleForAutoScaling_web");
  EXPECT_EQ(ServiceLinkedRoleName("ecs.amazonaws.com", "").value(), "AWSServiceRoleForECS");
  EXPECT_EQ(ServiceLinkedRoleName("my-custom-svc.amazonaws.com", "").value(),
            "AWSServiceRoleForMyCustomSvc");
}

TEST(ServiceLinkedRoleName, RefusesBadServicesSuffixesAndLength) {
  for (auto [service, suffix] :
       std::initializer_list<std::pair<std::string_view, std::string_view>>{
           {"example.com", ""},
           {".amazonaws.com", ""},
           {"ecs.amazonaws.com", "x"},
           {"autoscaling.amazonaws.com",
            std::string_view("ssssssssssssssssssssssssssssssssssssssssssssssss")}}) {
    auto r = ServiceLinkedRoleName(service, suffix);
    ASSERT_FALSE(r.ok()) << service << " " << suffix;
    EXPECT_EQ(r.status().modeled(), "InvalidInputException");
  }
}

TEST(ServiceLinkedPath, OnlyTheServiceRolePath) {
  EXPECT_TRUE(IsServiceLinkedPath("/aws-service-role/ecs.amazonaws.com/"));
  EXPECT_FALSE(IsServiceLinkedPath("/"));
  EXPECT_FALSE(IsServiceLinkedPath("/team/aws-service-role/"));
  EXPECT_EQ(ProtectedRole("AWSServiceRoleForECS").modeled(), "UnmodifiableEntityException");
}

}  // namespace
}  // namespace rampart::iam::internal
