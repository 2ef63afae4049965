// The SAML metadata check and its XML scanner (iam_saml_providers.cc):
// well-formedness, the IdP descriptor and signing certificate, validUntil,
// and hostile documents.
#include <gtest/gtest.h>

#include "iam/iam_internal.h"

namespace rampart::iam::internal {
namespace {

// DER of a self-signed P-256 certificate (openssl req -x509), base64 over
// several lines as metadata carries it.
constexpr std::string_view kCertBase64 = R"(
MIIBhDCCASmgAwIBAgIUAl3hJYhRboUy42K/4yqExbz/K38wCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLaWRwLmZpeHR1cmUwIBcNMjYxMTI5MTAxMjE4WhgPMjEyNjEx
MDUxMDEyMThaMBYxFDASBgNVBAMMC2lkcC5maXh0dXJlMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEv8ADjUu0jMuHFisVoJ8sGKDELNd0TuwqQ/LSmlnMAgHSRDQC
eShHZOxL5kW+v2pORc9i/0hsyYYq3WVOStdVwqNTMFEwHQYDVR0OBBYEFMk+bKzg
n3cqjxi/KPoRRExoZHsGMB8GA1UdIwQYMBaAFMk+bKzgn3cqjxi/KPoRRExoZHsG
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAM4VurOu7urNSC1W
uIXe3+Z1pys76hDcfMUvyDw93FeGAiEAqDK2qT2Fm6ZvUeHevv0hCXTM8xhDI+VV
ZRTtRbCdals=
)";

struct Doc {
  std::string root_attrs = R"( validUntil="2031-05-06T07:08:09Z")";
  std::string descriptor = "IDPSSODescriptor";
  std::string key_use = R"( use="signing")";
  std::string cert = std::string(kCertBase64);
  std::string before_root = "<?xml version=\"1.0\"?>\n<!-- metadata -->\n";
  std::string extra;  // inside the descriptor

  std::string Text() const {
    return before_root +
           "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
           "xmlns:ds='http://www.w3.org/2000/09/xmldsig#' entityID=\"x\"" +
           root_attrs + ">\n  <md:" + descriptor + ">\n    <md:KeyDescriptor" + key_use +
           "><ds:KeyInfo><ds:X509Data><ds:X509Certificate>" + cert +
           "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n" + extra +
           "    <md:SingleSignOnService Location=\"https://idp/?a=1&amp;b=&#x32;\"/>\n  </md:" +
           descriptor + ">\n</md:EntityDescriptor>\n";
  }
};

void ExpectInvalid(const std::string& doc, std::string_view why) {
  auto r = CheckSamlMetadata(doc);
  ASSERT_FALSE(r.ok()) << why;
  EXPECT_EQ(r.status().modeled(), "InvalidInputException") << why;
  EXPECT_NE(r.status().message().find("Could not parse metadata"), std::string::npos) << why;
}

TEST(SamlMetadata, AcceptsAnIdentityProviderWithASigningCertificate) {
  auto r = CheckSamlMetadata(Doc{}.Text());
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->valid_until.has_value());
  EXPECT_EQ(*r->valid_until, 1935817689);  // 2031-05-06T07:08:09Z
}

TEST(SamlMetadata, KeyWithoutUseSignsAndValidUntilIsOptional) {
  Doc d;
  d.key_use = "";
  d.root_attrs = "";
  auto r = CheckSamlMetadata(d.Text());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->valid_until.has_value());
}

TEST(SamlMetadata, TheEarlierValidUntilWins) {
  Doc d;
  d.descriptor = "IDPSSODescriptor";
  d.extra = "";
  std::string text = d.Text();
  text.replace(text.find("<md:IDPSSODescriptor>"), 21,
               "<md:IDPSSODescriptor validUntil=\"2030-01-01T00:00:00.25Z\">");
  auto r = CheckSamlMetadata(text);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r->valid_until, 1893456000);  // 2030-01-01T00:00:00Z
}

TEST(SamlMetadata, RefusesMissingPieces) {
  Doc sp;
  sp.descriptor = "SPSSODescriptor";
  ExpectInvalid(sp.Text(), "no IdP descriptor");
  Doc enc;
  enc.key_use = R"( use="encryption")";
  ExpectInvalid(enc.Text(), "encryption key only");
  Doc bad_cert;
  bad_cert.cert = "MIIBhDCCASmgAwIBAgIU";
  ExpectInvalid(bad_cert.Text(), "truncated certificate");
  Doc not_b64;
  not_b64.cert = "%%%";
  ExpectInvalid(not_b64.Text(), "certificate not base64");
  Doc bad_date;
  bad_date.root_attrs = R"( validUntil="2031-13-01T00:00:00Z")";
  ExpectInvalid(bad_date.Text(), "month 13");
  Doc two;
  two.extra = "</md:IDPSSODescriptor><md:IDPSSODescriptor>";
  ExpectInvalid(two.Text(), "two IdP descriptors");
}

TEST(SamlMetadata, RefusesMalformedXml) {
  const std::string good = Doc{}.Text();
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string s = good;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  ExpectInvalid(good.substr(0, good.size() - 26), "root not closed");
  ExpectInvalid(replaced("</md:KeyDescriptor>", "</md:KeyDescriptorX>"), "mismatched end tag");
  ExpectInvalid(replaced("<!-- metadata -->", "<!DOCTYPE x [<!ENTITY e 'boom'>]>"), "DTD");
  ExpectInvalid(replaced("&amp;", "&e;"), "undeclared entity");
  ExpectInvalid(replaced("&amp;", "&"), "bare ampersand");
  ExpectInvalid(replaced("entityID=\"x\"", "entityID=x"), "unquoted attribute");
  ExpectInvalid(replaced("entityID=\"x\"", "entityID=\"x\" entityID=\"y\""), "repeated attribute");
  ExpectInvalid(replaced("entityID=\"x\"", "entityID=\"<x\""), "< in attribute");
  ExpectInvalid(good + "<second/>", "second root");
  ExpectInvalid(good + "trailing text", "text after the root");
  ExpectInvalid(replaced("<!-- metadata -->", "<!-- not closed"), "open comment");
  ExpectInvalid("", "empty");
  Doc wrong_root;
  std::string other_root = wrong_root.Text();
  while (other_root.find("EntityDescriptor") != std::string::npos) {
    other_root.replace(other_root.find("EntityDescriptor"), 16, "EntitiesDescriptor");
  }
  ExpectInvalid(other_root, "wrong root element");
}

TEST(SamlMetadata, DeepNestingIsRefusedNotFatal) {
  std::string deep = "<md:EntityDescriptor>";
  for (int i = 0; i < 100000; ++i) deep += "<a>";
  ExpectInvalid(deep, "100000 levels");
}

TEST(SamlMetadata, ManyAttributesAreRefusedNotSlow) {
  std::string doc = "<md:EntityDescriptor";
  for (int i = 0; i < 100000; ++i) doc += " a" + std::to_string(i) + "=\"v\"";
  ExpectInvalid(doc + "/>", "100000 attributes");
}

TEST(SamlMetadata, CdataTextCountsAsCertificateText) {
  Doc d;
  d.cert = "<![CDATA[" + std::string(kCertBase64) + "]]>";
  EXPECT_TRUE(CheckSamlMetadata(d.Text()).ok());
}

TEST(ParseXmlDateTime, UtcFormsOnly) {
  EXPECT_EQ(ParseXmlDateTime("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseXmlDateTime("2000-02-29T12:00:00+00:00"), 951825600);
  EXPECT_EQ(ParseXmlDateTime("2000-02-29T12:00:00.123456Z"), 951825600);
  for (std::string_view bad :
       {"2001-02-29T00:00:00Z", "2000-01-01T00:00:00", "2000-01-01", "2000-01-01T00:00:00+01:00",
        "2000-01-01T24:00:00Z", "", "x", "2000-01-01T-1:00:00Z", " 2000-01-01T00:00:00Z",
        "+200-01-01T00:00:00Z"}) {
    EXPECT_FALSE(ParseXmlDateTime(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace rampart::iam::internal
