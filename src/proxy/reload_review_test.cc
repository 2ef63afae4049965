// The reload review of a worker's tunnels inside TLS connections: it runs
// against the config running when the worker gets to it, once per config.
#include <gtest/gtest.h>

#include <memory>

#include <boost/asio/io_context.hpp>

#include "session.h"

namespace rampart::proxy {
namespace {

TEST(ReloadReview, UsesTheRunningConfigAndSkipsOneAlreadyReviewed) {
  boost::asio::io_context ioc;
  Shared shared;
  WorkerLocal local(ioc, &shared.dns);
  auto initial = std::make_shared<const Config>();
  shared.config = initial;
  EXPECT_EQ(local.ReviewTlsTunnels(shared), initial);
  EXPECT_EQ(local.ReviewTlsTunnels(shared), nullptr);  // nothing new to review

  // Reload 1 (say, a rule removed) and reload 2 (restored) both swap in
  // before the worker runs reload 1's review: that review must judge the
  // tunnels by reload 2's config, and reload 2's review has nothing left.
  auto removed = std::make_shared<const Config>();
  auto restored = std::make_shared<const Config>();
  shared.config = removed;
  shared.config = restored;
  EXPECT_EQ(local.ReviewTlsTunnels(shared), restored);
  EXPECT_EQ(local.ReviewTlsTunnels(shared), nullptr);

  // A config freed since its review: a new one is reviewed even if it
  // lands at the same address.
  removed.reset();
  shared.config = nullptr;
  restored.reset();
  auto next = std::make_shared<const Config>();
  shared.config = next;
  EXPECT_EQ(local.ReviewTlsTunnels(shared), next);
  EXPECT_TRUE(local.tls_tunnels.empty());
}

}  // namespace
}  // namespace rampart::proxy
