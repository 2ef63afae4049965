#include "rampart/protocol/model.h"

#include <gtest/gtest.h>

#include "rampart/protocol/internal.h"

namespace rampart::protocol {
namespace {

const MemberModel* FindMember(const ServiceModel& s, const ShapeModel& shape, std::string_view n) {
  for (const MemberModel& m : s.members_of(shape)) {
    if (m.name == n) return &m;
  }
  return nullptr;
}

TEST(ModelTest, AllTenServicesAreFound) {
  for (std::string_view name : {"iam", "sts", "organizations", "kms", "cloudtrail", "acm-pca",
                                "secretsmanager", "securityhub", "events", "access-analyzer"}) {
    const ServiceModel* s = FindService(name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_EQ(ServiceName(*s), name);
    EXPECT_FALSE(s->operations.empty()) << name;
  }
  EXPECT_EQ(AllServices().size(), 10u);
  EXPECT_EQ(FindService("s3"), nullptr);
  EXPECT_EQ(ServiceEndpointPrefix(*FindService("access-analyzer")), "access-analyzer");
}

TEST(ModelTest, ProtocolsAndMetadata) {
  EXPECT_EQ(ServiceProtocol(*FindService("iam")), Protocol::kQuery);
  EXPECT_EQ(ServiceProtocol(*FindService("kms")), Protocol::kJson);
  EXPECT_EQ(ServiceProtocol(*FindService("securityhub")), Protocol::kRestJson);
  const ServiceModel& sts = *FindService("sts");
  EXPECT_EQ(sts.xml_namespace, "https://sts.amazonaws.com/doc/2011-06-15/");
  EXPECT_EQ(sts.api_version, "2011-06-15");
  EXPECT_EQ(FindService("events")->api_version, "2015-10-07");  // the latest of two
  EXPECT_EQ(FindService("kms")->target_prefix, "TrentService");
  EXPECT_EQ(FindService("kms")->json_version, "1.1");
}

TEST(ModelTest, KmsEncrypt) {
  const ServiceModel& kms = *FindService("kms");
  const OperationModel* op = FindOperation(kms, "Encrypt");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(OperationName(*op), "Encrypt");
  EXPECT_EQ(std::string(kms.target_prefix) + "." + std::string(op->name), "TrentService.Encrypt");
  const ShapeModel& input = kms.shape(op->input);
  const MemberModel* plaintext = FindMember(kms, input, "Plaintext");
  ASSERT_NE(plaintext, nullptr);
  EXPECT_TRUE(plaintext->required());
  const ShapeModel& blob = kms.shape(plaintext->shape);
  EXPECT_EQ(blob.type, ShapeType::kBlob);
  EXPECT_TRUE(blob.has(kShapeSensitive));
  EXPECT_EQ(blob.max, 4096);
  EXPECT_EQ(FindOperation(kms, "NoSuchThing"), nullptr);
}

TEST(ModelTest, IamCreateUserRequiresUserNameWithPattern) {
  const ServiceModel& iam = *FindService("iam");
  const OperationModel* op = FindOperation(iam, "CreateUser");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->result_wrapper, "CreateUserResult");
  const MemberModel* user = FindMember(iam, iam.shape(op->input), "UserName");
  ASSERT_NE(user, nullptr);
  EXPECT_TRUE(user->required());
  const ShapeModel& type = iam.shape(user->shape);
  ASSERT_GE(type.pattern, 0);
  EXPECT_EQ(gen::Patterns()[type.pattern], "[\\w+=,.@-]+");
  EXPECT_EQ(type.min, 1);
  EXPECT_EQ(type.max, 64);
}

TEST(ModelTest, IamErrorShapes) {
  const ShapeModel* e = FindService("iam")->FindShape("NoSuchEntityException");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->error_code, "NoSuchEntity");
  EXPECT_EQ(e->error_status, 404);
  EXPECT_TRUE(e->has(kShapeSenderFault));
  EXPECT_TRUE(e->has(kShapeException));
}

TEST(ModelTest, SecurityHubGetFindingsIsPostFindings) {
  const ServiceModel& hub = *FindService("securityhub");
  const OperationModel* op = FindOperation(hub, "GetFindings");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->method, "POST");
  EXPECT_EQ(op->request_uri, "/findings");
}

TEST(ModelTest, TablesAreSortedAndIndicesInRange) {
  for (const ServiceModel* s : AllServices()) {
    for (size_t i = 1; i < s->operations.size(); ++i) {
      EXPECT_LT(s->operations[i - 1].name, s->operations[i].name);
    }
    for (size_t i = 1; i < s->shapes.size(); ++i) {
      EXPECT_LT(s->shapes[i - 1].name, s->shapes[i].name);
    }
    for (const MemberModel& m : s->members) EXPECT_LT(m.shape, s->shapes.size());
    for (const ShapeModel& sh : s->shapes) {
      EXPECT_LE(sh.members_begin + sh.members_count, s->members.size());
      EXPECT_LE(sh.enum_begin + sh.enum_count, s->enums.size());
      if (sh.type == ShapeType::kList) {
        EXPECT_EQ(sh.members_count, 1u);
      }
      if (sh.type == ShapeType::kMap) {
        EXPECT_EQ(sh.members_count, 2u);
      }
      EXPECT_LT(sh.pattern, static_cast<int32_t>(gen::Patterns().size()));
    }
  }
}

TEST(ModelTest, PatternsCompileOrAreCounted) {
  internal::PatternStats stats = internal::CompileAllPatterns();
  EXPECT_GT(stats.total, 100u);
  std::printf("patterns: %zu total, %zu skipped (RE2 cannot compile)\n", stats.total,
              stats.skipped);
  for (size_t i = 0; i < gen::Patterns().size(); ++i) {
    if (internal::IsPatternSkipped(static_cast<int32_t>(i))) {
      std::printf("  skipped: %s\n", std::string(gen::Patterns()[i]).c_str());
    }
  }
  EXPECT_LT(stats.skipped, stats.total / 10);
}

}  // namespace
}  // namespace rampart::protocol
