"""IAM SAML providers and users' SSH public keys with the real aws CLI and
boto3 against a real rampart server."""
import base64
import json
import os
import subprocess
import tempfile

from iam_helpers import account_of, allow, denied, new_user, uniq
from iam_helpers import error_code as error_of


def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True)


def self_signed_der(cn="idp.example.com"):
    with tempfile.TemporaryDirectory() as d:
        key, cert = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                "-days", "30", "-subj", f"/CN={cn}")
        return openssl("x509", "-in", cert, "-outform", "DER").stdout


def metadata(cert_der=None, valid_until="2031-05-06T07:08:09Z", use="signing", idp=True):
    cert = base64.b64encode(cert_der or self_signed_der()).decode()
    # Wrapped as metadata usually is: the base64 text spans lines.
    cert = "\n".join(cert[i:i + 64] for i in range(0, len(cert), 64))
    until = f' validUntil="{valid_until}"' if valid_until else ""
    use_attr = f' use="{use}"' if use else ""
    descriptor = "IDPSSODescriptor" if idp else "SPSSODescriptor"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- identity provider metadata -->
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.com/saml"{until}>
  <md:{descriptor} protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor{use_attr}>
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>
{cert}
      </ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://idp.example.com/sso?a=1&amp;b=2"/>
  </md:{descriptor}>
</md:EntityDescriptor>
"""


def test_saml_provider_lifecycle(server):
    iam = server.client("iam")
    acct = account_of(server)
    name = uniq("okta")
    doc = metadata()
    before = iam.get_account_summary()["SummaryMap"]["Providers"]
    out = iam.create_saml_provider(Name=name, SAMLMetadataDocument=doc,
                                   Tags=[{"Key": "team", "Value": "sso"}])
    arn = out["SAMLProviderArn"]
    assert iam.get_account_summary()["SummaryMap"]["Providers"] == before + 1
    assert arn == f"arn:aws:iam::{acct}:saml-provider/{name}"
    assert out["Tags"] == [{"Key": "team", "Value": "sso"}]

    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == doc
    assert got["ValidUntil"].isoformat() == "2031-05-06T07:08:09+00:00"
    assert got["Tags"] == [{"Key": "team", "Value": "sso"}]
    listed = {p["Arn"]: p for p in iam.list_saml_providers()["SAMLProviderList"]}
    assert listed[arn]["ValidUntil"].year == 2031

    code, msg = error_of(iam.create_saml_provider, Name=name.upper(), SAMLMetadataDocument=doc)
    assert code == "EntityAlreadyExists" and name.upper() in msg

    newer = metadata(valid_until="2032-01-01T00:00:00.500Z")
    assert iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=newer)[
        "SAMLProviderArn"] == arn
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == newer and got["ValidUntil"].year == 2032

    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    iam.untag_saml_provider(SAMLProviderArn=arn, TagKeys=["team"])
    assert iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"] == [
        {"Key": "env", "Value": "prod"}]

    iam.delete_saml_provider(SAMLProviderArn=arn)
    code, msg = error_of(iam.get_saml_provider, SAMLProviderArn=arn)
    assert code == "NoSuchEntity" and arn in msg
    code, _ = error_of(iam.delete_saml_provider, SAMLProviderArn=arn)
    assert code == "NoSuchEntity"
    assert arn not in [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]]


def test_saml_metadata_is_checked(server):
    iam = server.client("iam")
    good = metadata()
    bad_documents = {
        "not closed": good.replace("</md:EntityDescriptor>", ""),
        "mismatched": good.replace("</md:KeyDescriptor>", "</md:KeyDescriptorX>"),
        "dtd": good.replace("<!-- identity provider metadata -->",
                            '<!DOCTYPE x [<!ENTITY e "boom">]>'),
        "entity": good.replace("a=1&amp;b=2", "a=1&e;b=2"),
        "no idp": metadata(idp=False),
        "encryption key only": metadata(use="encryption"),
        "bad cert": metadata(cert_der=b"\x30\x03\x02\x01\x01" * 200),
        "bad date": metadata(valid_until="next tuesday"),
    }
    for why, doc in bad_documents.items():
        code, msg = error_of(iam.create_saml_provider, Name=uniq("bad"), SAMLMetadataDocument=doc)
        assert code == "InvalidInput", (why, code, msg)
        assert "Could not parse metadata" in msg, (why, msg)
    # A KeyDescriptor without use= serves for signing too, and validUntil
    # may be absent.
    arn = iam.create_saml_provider(Name=uniq("nouse"),
                                   SAMLMetadataDocument=metadata(use=None, valid_until=None))[
        "SAMLProviderArn"]
    assert "ValidUntil" not in iam.get_saml_provider(SAMLProviderArn=arn)
    iam.delete_saml_provider(SAMLProviderArn=arn)


def test_saml_provider_authorization(server):
    iam = server.client("iam")
    arn = iam.create_saml_provider(Name=uniq("authz"), SAMLMetadataDocument=metadata())[
        "SAMLProviderArn"]
    _, reader, _ = new_user(server, [allow(["iam:GetSAMLProvider", "iam:ListSAMLProviders"], arn)])
    assert reader.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"]
    msg = denied(reader.delete_saml_provider, SAMLProviderArn=arn)
    assert "iam:DeleteSAMLProvider" in msg and arn in msg
    iam.delete_saml_provider(SAMLProviderArn=arn)


def test_saml_cli(server):
    name = uniq("cli")
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(metadata())
    try:
        r = server.aws("iam", "create-saml-provider", "--name", name,
                       "--saml-metadata-document", f"file://{f.name}")
        arn = json.loads(r.stdout)["SAMLProviderArn"]
        assert arn.endswith(f":saml-provider/{name}")
        listed = json.loads(server.aws("iam", "list-saml-providers").stdout)["SAMLProviderList"]
        assert arn in [p["Arn"] for p in listed]
        server.aws("iam", "delete-saml-provider", "--saml-provider-arn", arn)
        r = server.aws("iam", "get-saml-provider", "--saml-provider-arn", arn, check=False)
        assert r.returncode != 0 and "NoSuchEntity" in r.stderr
    finally:
        os.unlink(f.name)


def ssh_keypair(bits=2048):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "id")
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", str(bits), "-N", "", "-C",
                        "someone@example", "-f", path], check=True)
        with open(path + ".pub") as f:
            line = f.read().strip()
        fp = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", path + ".pub"],
                            capture_output=True, text=True, check=True).stdout.split()[1]
        pem = subprocess.run(["ssh-keygen", "-e", "-m", "PKCS8", "-f", path + ".pub"],
                             capture_output=True, text=True, check=True).stdout
    return line, fp.removeprefix("MD5:"), pem


def test_ssh_key_lifecycle(server):
    iam = server.client("iam")
    user = uniq("git")
    iam.create_user(UserName=user)
    line, fingerprint, pem = ssh_keypair()
    key = iam.upload_ssh_public_key(UserName=user, SSHPublicKeyBody=line)["SSHPublicKey"]
    key_id = key["SSHPublicKeyId"]
    assert key_id.startswith("APKA") and len(key_id) == 20
    assert key["Fingerprint"] == fingerprint
    assert key["Status"] == "Active" and key["UserName"] == user
    # The comment is not part of the key.
    assert key["SSHPublicKeyBody"] == " ".join(line.split()[:2])

    got = iam.get_ssh_public_key(UserName=user, SSHPublicKeyId=key_id, Encoding="PEM")
    assert got["SSHPublicKey"]["SSHPublicKeyBody"].strip() == pem.strip()
    got = iam.get_ssh_public_key(UserName=user, SSHPublicKeyId=key_id, Encoding="SSH")
    assert got["SSHPublicKey"]["SSHPublicKeyBody"] == key["SSHPublicKeyBody"]

    # The same key again, even as PEM, is a duplicate.
    code, _ = error_of(iam.upload_ssh_public_key, UserName=user, SSHPublicKeyBody=pem)
    assert code == "DuplicateSSHPublicKey"

    iam.update_ssh_public_key(UserName=user, SSHPublicKeyId=key_id, Status="Inactive")
    listed = iam.list_ssh_public_keys(UserName=user)["SSHPublicKeys"]
    assert [(k["SSHPublicKeyId"], k["Status"]) for k in listed] == [(key_id, "Inactive")]

    # A user with a key cannot be deleted.
    code, msg = error_of(iam.delete_user, UserName=user)
    assert code == "DeleteConflict" and "referenced objects" in msg

    iam.delete_ssh_public_key(UserName=user, SSHPublicKeyId=key_id)
    code, msg = error_of(iam.get_ssh_public_key, UserName=user, SSHPublicKeyId=key_id,
                         Encoding="SSH")
    assert code == "NoSuchEntity" and key_id in msg
    assert iam.list_ssh_public_keys(UserName=user)["SSHPublicKeys"] == []
    iam.delete_user(UserName=user)


def test_ssh_key_checks_and_limit(server):
    iam = server.client("iam")
    user = uniq("git")
    iam.create_user(UserName=user)
    small, _, _ = ssh_keypair(bits=1024)
    code, msg = error_of(iam.upload_ssh_public_key, UserName=user, SSHPublicKeyBody=small)
    assert code == "InvalidPublicKey" and "2048" in msg
    code, _ = error_of(iam.upload_ssh_public_key, UserName=user,
                       SSHPublicKeyBody="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== x")
    assert code == "UnrecognizedPublicKeyEncoding"
    code, _ = error_of(iam.upload_ssh_public_key, UserName=user,
                       SSHPublicKeyBody="ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB")
    assert code == "InvalidPublicKey"
    code, _ = error_of(iam.upload_ssh_public_key, UserName=uniq("nobody"),
                       SSHPublicKeyBody=ssh_keypair()[0])
    assert code == "NoSuchEntity"

    ids = [iam.upload_ssh_public_key(UserName=user, SSHPublicKeyBody=ssh_keypair()[0])[
        "SSHPublicKey"]["SSHPublicKeyId"] for _ in range(5)]
    code, msg = error_of(iam.upload_ssh_public_key, UserName=user,
                         SSHPublicKeyBody=ssh_keypair()[0])
    assert code == "LimitExceeded" and "5" in msg
    page = iam.list_ssh_public_keys(UserName=user, MaxItems=3)
    assert page["IsTruncated"] and len(page["SSHPublicKeys"]) == 3
    rest = iam.list_ssh_public_keys(UserName=user, Marker=page["Marker"])
    assert sorted(k["SSHPublicKeyId"] for k in page["SSHPublicKeys"] + rest["SSHPublicKeys"]) \
        == sorted(ids)


def test_ssh_keys_of_self_and_cli(server):
    iam = server.client("iam")
    name, me, creds = new_user(server, [allow(["iam:*SSHPublicKey*"],
                                              "arn:aws:iam::*:user/${aws:username}")])
    line, fingerprint, _ = ssh_keypair()
    r = server.aws("iam", "upload-ssh-public-key", "--user-name", name,
                   "--ssh-public-key-body", line)
    key = json.loads(r.stdout)["SSHPublicKey"]
    assert key["Fingerprint"] == fingerprint
    # Without UserName, ListSSHPublicKeys lists the caller's own keys.
    assert [k["SSHPublicKeyId"] for k in me.list_ssh_public_keys()["SSHPublicKeys"]] == [
        key["SSHPublicKeyId"]]
    other = uniq("other")
    iam.create_user(UserName=other)
    denied(me.upload_ssh_public_key, UserName=other, SSHPublicKeyBody=line)
    me.delete_ssh_public_key(UserName=name, SSHPublicKeyId=key["SSHPublicKeyId"])
