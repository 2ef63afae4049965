#include "rampart/proxy/domain.h"

#include <gtest/gtest.h>

namespace rampart::proxy {
namespace {

std::string Norm(std::string_view s) {
  auto h = NormalizeHost(s);
  return h.ok() ? h->name : "ERR";
}

std::string Puny(std::string_view utf8) {
  auto cps = DecodeUtf8(utf8);
  if (!cps.ok()) return "ERR";
  auto p = PunycodeEncode(*cps);
  return p.ok() ? *p : "ERR";
}

// RFC 3492 section 7.1 sample strings (code points written out).
TEST(Punycode, Rfc3492Samples) {
  // (A) Arabic (Egyptian)
  std::vector<uint32_t> arabic = {0x0644, 0x064A, 0x0647, 0x0645, 0x0627, 0x0628, 0x062A, 0x0643,
                                  0x0644, 0x0645, 0x0648, 0x0634, 0x0639, 0x0631, 0x0628, 0x064A,
                                  0x061F};
  EXPECT_EQ(*PunycodeEncode(arabic), "egbpdaj6bu4bxfgehfvwxn");
  // (B) Chinese (simplified)
  std::vector<uint32_t> chinese = {0x4ED6, 0x4EEC, 0x4E3A, 0x4EC0, 0x4E48, 0x4E0D,
                                   0x8BF4, 0x4E2D, 0x6587};
  EXPECT_EQ(*PunycodeEncode(chinese), "ihqwcrb4cv8a8dqg056pqjye");
  // (L) 3<nen>B<gumi><kinpachi><sensei>
  std::vector<uint32_t> mixed = {0x0033, 0x5E74, 0x0042, 0x7D44, 0x91D1, 0x516B, 0x5148, 0x751F};
  EXPECT_EQ(*PunycodeEncode(mixed), "3B-ww4c5e180e575a65lsy2b");
  // (S) -> $1.00 <-: all basic code points.
  std::vector<uint32_t> basic;
  for (char c : std::string_view("-> $1.00 <-")) basic.push_back(static_cast<uint32_t>(c));
  EXPECT_EQ(*PunycodeEncode(basic), "-> $1.00 <--");
}

TEST(Punycode, CommonIdns) {
  EXPECT_EQ(Puny("bücher"), "bcher-kva");
  EXPECT_EQ(Puny("münchen"), "mnchen-3ya");
  EXPECT_EQ(Puny("例え"), "r8jz45g");
}

TEST(Utf8, RejectsMalformed) {
  for (std::string_view bad : {std::string_view("\xc0\xaf"), std::string_view("\xe0\x80\xaf"),
                               std::string_view("\xed\xa0\x80"), std::string_view("\xf4\x90\x80\x80"),
                               std::string_view("\xc3"), std::string_view("\x80"),
                               std::string_view("\xff")}) {
    EXPECT_FALSE(DecodeUtf8(bad).ok());
  }
  EXPECT_TRUE(DecodeUtf8("\xf0\x9f\x98\x80").ok());
}

TEST(NormalizeHost, CaseDotsAndIdn) {
  EXPECT_EQ(Norm("WWW.Example.COM."), "www.example.com");
  EXPECT_EQ(Norm("bücher.example"), "xn--bcher-kva.example");
  EXPECT_EQ(Norm("xn--bcher-kva.example"), "xn--bcher-kva.example");
  EXPECT_EQ(Norm("XN--BCHER-KVA.Example"), "xn--bcher-kva.example");
  EXPECT_EQ(Norm("_dmarc.example.com"), "_dmarc.example.com");
  EXPECT_EQ(Norm("localhost"), "localhost");
}

TEST(NormalizeHost, Uts46Mapping) {
  // Unicode case folding, NFC, fullwidth forms, ideographic full stops.
  EXPECT_EQ(Norm("BÜCHER.example"), "xn--bcher-kva.example");
  EXPECT_EQ(Norm("bu\xcc\x88" "cher.example"), "xn--bcher-kva.example");  // u + combining diaeresis
  EXPECT_EQ(Norm("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3.example"), "abc.example");  // fullwidth ABC
  EXPECT_EQ(Norm("b\xc3\xbc" "cher\xe3\x80\x82" "example"), "xn--bcher-kva.example");  // U+3002 as the dot
  EXPECT_EQ(Norm("bücher.example\xe3\x80\x82"), "xn--bcher-kva.example");
  EXPECT_EQ(Norm("fa\xc3\x9f.de"), "xn--fa-hia.de");  // non-transitional: sharp s kept
  EXPECT_EQ(Norm("_dmarc.bücher.example"), "_dmarc.xn--bcher-kva.example");
  // Fullwidth digits that map to an IPv4 number are still refused.
  EXPECT_EQ(Norm("\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97.0.0.1"), "ERR");
}

TEST(NormalizeHost, InvalidIdnsAreRefusedWithAReason) {
  auto why = [](std::string_view name) {
    auto h = NormalizeHost(name);
    return h.ok() ? std::string("ok") : h.status().message();
  };
  EXPECT_NE(why("xn--zz.example").find("invalid IDN: "), std::string::npos) << why("xn--zz.example");
  EXPECT_NE(why("\xe2\x80\x8d.example").find("invalid IDN: "), std::string::npos);  // lone ZWJ (CONTEXTJ)
  EXPECT_NE(why("\xf0\x9f\x98\x80.example").find("invalid IDN: "), std::string::npos);  // emoji: disallowed
  EXPECT_NE(why("m\xc3\xbcnchen-.de").find("invalid IDN: "), std::string::npos);
  EXPECT_NE(why("\xff.example").find("invalid IDN: "), std::string::npos);  // not UTF-8
}

TEST(NormalizeHost, IpLiterals) {
  auto v4 = NormalizeHost("127.0.0.1");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->is_ip);
  EXPECT_EQ(Norm("[::1]"), "::1");
  EXPECT_EQ(Norm("[2001:DB8::0:1]"), "2001:db8::1");
  EXPECT_EQ(Norm("[1.2.3.4]"), "ERR");
  EXPECT_EQ(Norm("[::1"), "ERR");
}

TEST(NormalizeHost, RejectsHostile) {
  for (std::string_view bad :
       {std::string_view(""), std::string_view("."), std::string_view(".."), std::string_view("a..b"),
        std::string_view(".a"), std::string_view("a.b.."), std::string_view("-a.com"),
        std::string_view("a-.com"), std::string_view("a b.com"), std::string_view("a/b.com"),
        std::string_view("a@b.com"), std::string_view("a:80"), std::string_view("a%2eb.com"),
        std::string_view("a\0b.com", 7), std::string_view("a\r\nb.com"), std::string_view("127.1"),
        std::string_view("0x7f.1"), std::string_view("1.2.3.4.5"), std::string_view("2130706433"),
        std::string_view("a.123"), std::string_view("\xff.com"),
        // A NUL after an allowed name in a name that also needs IDNA
        // processing: libidn2 would stop at the NUL and check only the
        // allowed prefix.
        std::string_view("allowed.example\0\xc3\xa9.com", 21),
        std::string_view("b\xc3\xbc" "cher\x7f.example")}) {
    EXPECT_EQ(Norm(bad), "ERR") << bad;
  }
  EXPECT_EQ(Norm(std::string(64, 'a') + ".com"), "ERR");
  EXPECT_EQ(Norm(std::string(63, 'a') + ".com"), std::string(63, 'a') + ".com");
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'a') + ".";
  EXPECT_EQ(Norm(long_name + "com"), "ERR");
  EXPECT_EQ(Norm(std::string(5000, 'a')), "ERR");
}

DomainMatcher Build(std::vector<std::string> allow, std::vector<std::string> deny = {}) {
  auto m = DomainMatcher::Build(allow, deny);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return std::move(m).value();
}

MatchResult Match(const DomainMatcher& m, std::string_view host) {
  auto h = NormalizeHost(host);
  EXPECT_TRUE(h.ok()) << host;
  return m.Match(*h);
}

TEST(DomainMatcher, ExactAndSuffix) {
  auto m = Build({"api.example.com", ".example.org", "127.0.0.1"});
  EXPECT_TRUE(Match(m, "api.example.com").allowed);
  EXPECT_EQ(Match(m, "api.example.com").rule, "api.example.com");
  EXPECT_FALSE(Match(m, "example.com").allowed);
  EXPECT_FALSE(Match(m, "x.api.example.com").allowed);
  EXPECT_TRUE(Match(m, "example.org").allowed);
  EXPECT_TRUE(Match(m, "a.b.example.org").allowed);
  EXPECT_EQ(Match(m, "a.b.example.org").rule, ".example.org");
  EXPECT_FALSE(Match(m, "badexample.org").allowed) << "suffix must sit at a label boundary";
  EXPECT_FALSE(Match(m, "example.org.evil.com").allowed);
  EXPECT_TRUE(Match(m, "127.0.0.1").allowed);
  EXPECT_EQ(Match(m, "nope.net").reason, "not in allowlist");
}

TEST(DomainMatcher, DenylistWins) {
  auto m = Build({".example.com"}, {"bad.example.com", ".ads.example.com"});
  EXPECT_TRUE(Match(m, "good.example.com").allowed);
  auto r = Match(m, "bad.example.com");
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.reason, "denylist");
  EXPECT_EQ(r.rule, "bad.example.com");
  EXPECT_FALSE(Match(m, "x.ads.example.com").allowed);
  EXPECT_TRUE(Match(m, "x.bad.example.com").allowed) << "exact deny covers only the name itself";
}

TEST(DomainMatcher, EntriesAreNormalised) {
  auto m = Build({"API.Example.COM.", ".Bücher.example"});
  EXPECT_TRUE(Match(m, "api.example.com").allowed);
  EXPECT_TRUE(Match(m, "shop.xn--bcher-kva.example").allowed);
}

TEST(DomainMatcher, RejectsBadEntriesWithIndex) {
  auto m = DomainMatcher::Build({"ok.com", "bad..com"}, {});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("allow[1]"), std::string::npos);
  EXPECT_FALSE(DomainMatcher::Build({".127.0.0.1"}, {}).ok());
  EXPECT_FALSE(DomainMatcher::Build({"."}, {}).ok());
  EXPECT_FALSE(DomainMatcher::Build({}, {"x y"}).ok());
}

TEST(DomainMatcher, LargeListsStillMatch) {
  std::vector<std::string> allow;
  for (int i = 0; i < 20000; ++i) allow.push_back((i % 2 ? "." : "") + std::string("host") + std::to_string(i) + ".example");
  auto m = Build(allow);
  EXPECT_EQ(m.size(), 20000u);
  EXPECT_TRUE(Match(m, "host0.example").allowed);
  EXPECT_TRUE(Match(m, "deep.sub.host19999.example").allowed);
  EXPECT_FALSE(Match(m, "sub.host0.example").allowed);
}

}  // namespace
}  // namespace rampart::proxy
