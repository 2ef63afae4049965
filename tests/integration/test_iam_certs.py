"""IAM server certificates and users' signing certificates with the real aws
CLI and boto3 against a real rampart server, on certificates made by the
openssl command."""
import datetime
import json
import os
import subprocess
import tempfile
import time

from iam_helpers import account_of, allow, denied, new_user, uniq
from iam_helpers import error_code as error_of


def make_cert(days=30, cn="www.example.com"):
    """A self-signed RSA certificate: (certificate PEM, unencrypted key PEM)."""
    with tempfile.TemporaryDirectory() as d:
        key, cert = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-subj", f"/CN={cn}", "-days", str(days)],
                       capture_output=True, check=True)
        with open(cert) as c, open(key) as k:
            return c.read(), k.read()


def expired_cert():
    """A certificate whose validity ended in the past (signed by openssl ca
    with explicit dates)."""
    with tempfile.TemporaryDirectory() as d:
        key, csr, cert = (os.path.join(d, n) for n in ("k.pem", "r.csr", "c.pem"))
        subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", csr, "-subj", "/CN=old.example.com"], capture_output=True,
                       check=True)
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write(f"""[ca]
default_ca = c
[c]
database = {d}/index.txt
new_certs_dir = {d}
serial = {d}/serial
default_md = sha256
policy = p
[p]
commonName = supplied
""")
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("01\n")
        subprocess.run(["openssl", "ca", "-batch", "-config", os.path.join(d, "ca.cnf"),
                        "-selfsign", "-keyfile", key, "-in", csr, "-out", cert,
                        "-startdate", "20200101000000Z", "-enddate", "20200201000000Z"],
                       capture_output=True, check=True)
        with open(cert) as c:
            text = c.read()
        return text[text.index("-----BEGIN CERTIFICATE-----"):]


def not_after(cert_pem):
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=cert_pem,
                         capture_output=True, text=True, check=True).stdout
    text = out.strip().split("=", 1)[1]
    return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(
        tzinfo=datetime.timezone.utc)


def test_server_certificate_lifecycle(server):
    iam = server.client("iam")
    acct = account_of(server)
    name = uniq("web")
    cert, key = make_cert(days=45)
    chain, _ = make_cert(cn="ca.example.com")
    before = iam.get_account_summary()["SummaryMap"]["ServerCertificates"]
    out = iam.upload_server_certificate(ServerCertificateName=name, Path="/cloudfront/",
                                        CertificateBody=cert, PrivateKey=key,
                                        CertificateChain=chain,
                                        Tags=[{"Key": "team", "Value": "web"}])
    meta = out["ServerCertificateMetadata"]
    assert meta["Arn"] == f"arn:aws:iam::{acct}:server-certificate/cloudfront/{name}"
    assert meta["ServerCertificateId"].startswith("ASCA")
    assert meta["Path"] == "/cloudfront/"
    assert meta["Expiration"] == not_after(cert)
    assert out["Tags"] == [{"Key": "team", "Value": "web"}]
    assert iam.get_account_summary()["SummaryMap"]["ServerCertificates"] == before + 1

    got = iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]
    assert got["CertificateBody"] == cert and got["CertificateChain"] == chain
    assert got["ServerCertificateMetadata"]["ServerCertificateId"] == meta["ServerCertificateId"]
    assert "PrivateKey" not in json.dumps(got, default=str)
    assert got["Tags"] == [{"Key": "team", "Value": "web"}]

    code, msg = error_of(iam.upload_server_certificate, ServerCertificateName=name.upper(),
                         CertificateBody=cert, PrivateKey=key)
    assert code == "EntityAlreadyExists" and name.upper() in msg

    new_name = uniq("renamed")
    iam.update_server_certificate(ServerCertificateName=name, NewServerCertificateName=new_name,
                                  NewPath="/elb/")
    code, _ = error_of(iam.get_server_certificate, ServerCertificateName=name)
    assert code == "NoSuchEntity"
    moved = iam.get_server_certificate(ServerCertificateName=new_name)["ServerCertificate"]
    assert moved["ServerCertificateMetadata"]["Arn"].endswith(f":server-certificate/elb/{new_name}")
    # Tags follow the certificate through the rename.
    iam.tag_server_certificate(ServerCertificateName=new_name, Tags=[{"Key": "env", "Value": "p"}])
    iam.untag_server_certificate(ServerCertificateName=new_name, TagKeys=["team"])
    assert iam.list_server_certificate_tags(ServerCertificateName=new_name)["Tags"] == [
        {"Key": "env", "Value": "p"}]

    elb = [m["ServerCertificateName"] for m in
           iam.list_server_certificates(PathPrefix="/elb/")["ServerCertificateMetadataList"]]
    assert elb == [new_name]
    assert iam.list_server_certificates(PathPrefix="/cloudfront/")[
        "ServerCertificateMetadataList"] == []

    iam.delete_server_certificate(ServerCertificateName=new_name)
    code, msg = error_of(iam.delete_server_certificate, ServerCertificateName=new_name)
    assert code == "NoSuchEntity" and new_name in msg


def test_server_certificate_checks(server):
    iam = server.client("iam")
    cert, key = make_cert()
    other_cert, other_key = make_cert()
    cases = [
        ("not a certificate", dict(CertificateBody="hello", PrivateKey=key), "MalformedCertificate"),
        ("garbled key", dict(CertificateBody=cert, PrivateKey="-----BEGIN PRIVATE KEY-----\nAAAA\n"
                             "-----END PRIVATE KEY-----\n"), "MalformedCertificate"),
        ("other key", dict(CertificateBody=cert, PrivateKey=other_key), "KeyPairMismatch"),
        ("bad chain", dict(CertificateBody=cert, PrivateKey=key,
                           CertificateChain=other_cert + "-----BEGIN CERTIFICATE-----\nZZZZ\n"
                           "-----END CERTIFICATE-----\n"), "MalformedCertificate"),
    ]
    for why, args, want in cases:
        code, msg = error_of(iam.upload_server_certificate, ServerCertificateName=uniq("bad"),
                             **args)
        assert code == want, (why, code, msg)
    # An encrypted key is refused rather than prompting for a passphrase.
    encrypted = subprocess.run(["openssl", "pkey", "-aes256", "-passout", "pass:secret"],
                               input=key, capture_output=True, text=True, check=True).stdout
    code, msg = error_of(iam.upload_server_certificate, ServerCertificateName=uniq("enc"),
                         CertificateBody=cert, PrivateKey=encrypted)
    assert code == "MalformedCertificate" and "private key" in msg
    # An EC key works as well as RSA.
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{d}/k", "-out", f"{d}/c",
                        "-days", "3", "-subj", "/CN=ec.example.com"], capture_output=True,
                       check=True)
        ec_cert, ec_key = open(f"{d}/c").read(), open(f"{d}/k").read()
    name = uniq("ec")
    iam.upload_server_certificate(ServerCertificateName=name, CertificateBody=ec_cert,
                                  PrivateKey=ec_key)
    iam.delete_server_certificate(ServerCertificateName=name)


def test_private_key_never_reaches_the_audit_trail(server):
    iam = server.client("iam")
    cert, key = make_cert()
    name = uniq("audited")
    iam.upload_server_certificate(ServerCertificateName=name, CertificateBody=cert, PrivateKey=key)
    ct = server.client("cloudtrail")
    attrs = [{"AttributeKey": "EventName", "AttributeValue": "UploadServerCertificate"}]
    deadline = time.time() + 5
    record = None
    while record is None and time.time() < deadline:
        for e in ct.lookup_events(LookupAttributes=attrs)["Events"]:
            r = json.loads(e["CloudTrailEvent"])
            if (r.get("requestParameters") or {}).get("serverCertificateName") == name:
                record = r
        time.sleep(0.1)
    assert record is not None
    assert record["requestParameters"]["privateKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert record["requestParameters"]["certificateBody"].startswith("-----BEGIN CERTIFICATE")
    key_body = "".join(key.strip().splitlines()[1:-1])
    everything = json.loads(server.aws("cloudtrail", "lookup-events").stdout)["Events"]
    assert key_body[:64] not in json.dumps(everything).replace("\\n", "")
    iam.delete_server_certificate(ServerCertificateName=name)


def test_server_certificate_pages_and_authorization(server):
    iam = server.client("iam")
    prefix = "/" + uniq("pg") + "/"
    names = sorted(uniq("c") for _ in range(3))
    for n in names:
        cert, key = make_cert()
        iam.upload_server_certificate(ServerCertificateName=n, Path=prefix, CertificateBody=cert,
                                      PrivateKey=key)
    first = iam.list_server_certificates(PathPrefix=prefix, MaxItems=2)
    assert first["IsTruncated"] and len(first["ServerCertificateMetadataList"]) == 2
    rest = iam.list_server_certificates(PathPrefix=prefix, Marker=first["Marker"])
    assert [m["ServerCertificateName"] for m in
            first["ServerCertificateMetadataList"] + rest["ServerCertificateMetadataList"]] == names
    _, reader, _ = new_user(server, [allow("iam:GetServerCertificate",
                                           f"arn:aws:iam::*:server-certificate{prefix}{names[0]}")])
    assert reader.get_server_certificate(ServerCertificateName=names[0])
    msg = denied(reader.get_server_certificate, ServerCertificateName=names[1])
    assert "iam:GetServerCertificate" in msg and names[1] in msg
    denied(reader.delete_server_certificate, ServerCertificateName=names[0])
    for n in names:
        iam.delete_server_certificate(ServerCertificateName=n)


def test_server_certificate_cli(server):
    cert, key = make_cert()
    name = uniq("cli")
    with tempfile.TemporaryDirectory() as d:
        for fn, text in (("c.pem", cert), ("k.pem", key)):
            with open(os.path.join(d, fn), "w") as f:
                f.write(text)
        r = server.aws("iam", "upload-server-certificate", "--server-certificate-name", name,
                       "--certificate-body", f"file://{d}/c.pem",
                       "--private-key", f"file://{d}/k.pem")
    meta = json.loads(r.stdout)["ServerCertificateMetadata"]
    assert meta["ServerCertificateName"] == name
    got = json.loads(server.aws("iam", "get-server-certificate", "--server-certificate-name",
                                name).stdout)
    assert got["ServerCertificate"]["CertificateBody"].strip() == cert.strip()
    server.aws("iam", "delete-server-certificate", "--server-certificate-name", name)


def test_signing_certificates(server):
    iam = server.client("iam")
    user = uniq("signer")
    iam.create_user(UserName=user)
    cert, _ = make_cert()
    up = iam.upload_signing_certificate(UserName=user, CertificateBody=cert)["Certificate"]
    cert_id = up["CertificateId"]
    assert len(cert_id) >= 24 and up["Status"] == "Active" and up["UserName"] == user
    assert up["CertificateBody"] == cert

    code, _ = error_of(iam.upload_signing_certificate, UserName=user, CertificateBody=cert)
    assert code == "DuplicateCertificate"
    code, _ = error_of(iam.upload_signing_certificate, UserName=user, CertificateBody="junk")
    assert code == "MalformedCertificate"
    code, _ = error_of(iam.upload_signing_certificate, UserName=user,
                       CertificateBody=expired_cert())
    assert code == "InvalidCertificate"
    second = iam.upload_signing_certificate(UserName=user, CertificateBody=make_cert()[0])[
        "Certificate"]["CertificateId"]
    code, msg = error_of(iam.upload_signing_certificate, UserName=user,
                         CertificateBody=make_cert()[0])
    assert code == "LimitExceeded" and "2" in msg

    iam.update_signing_certificate(UserName=user, CertificateId=cert_id, Status="Inactive")
    listed = {c["CertificateId"]: c["Status"] for c in
              iam.list_signing_certificates(UserName=user)["Certificates"]}
    assert listed == {cert_id: "Inactive", second: "Active"}
    code, msg = error_of(iam.update_signing_certificate, UserName=user,
                         CertificateId="X" * 32, Status="Active")
    assert code == "NoSuchEntity" and "X" * 32 in msg

    code, msg = error_of(iam.delete_user, UserName=user)
    assert code == "DeleteConflict" and "must delete certificates first" in msg
    iam.delete_signing_certificate(UserName=user, CertificateId=cert_id)
    iam.delete_signing_certificate(UserName=user, CertificateId=second)
    assert iam.list_signing_certificates(UserName=user)["Certificates"] == []
    iam.delete_user(UserName=user)


def test_signing_certificates_of_self_and_cli(server):
    name, me, creds = new_user(server, [allow("iam:*SigningCertificate*",
                                              "arn:aws:iam::*:user/${aws:username}")])
    cert, _ = make_cert()
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write(cert)
    try:
        r = server.aws("iam", "upload-signing-certificate", "--user-name", name,
                       "--certificate-body", f"file://{f.name}")
    finally:
        os.unlink(f.name)
    cert_id = json.loads(r.stdout)["Certificate"]["CertificateId"]
    # Without UserName the calls are about the caller.
    assert [c["CertificateId"] for c in me.list_signing_certificates()["Certificates"]] == [cert_id]
    me.delete_signing_certificate(CertificateId=cert_id)
    other = uniq("other")
    server.client("iam").create_user(UserName=other)
    denied(me.upload_signing_certificate, UserName=other, CertificateBody=cert)
