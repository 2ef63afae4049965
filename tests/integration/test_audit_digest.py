"""CloudTrail log file integrity validation: a trail with
EnableLogFileValidation gets signed, chained digest files beside its log
files; `aws cloudtrail list-public-keys` returns the signing keys;
openssl and the aws CLI's own validator code accept a digest's signature;
and `rampart audit validate` reports tampered trail directories precisely
(modified and deleted log files, a moved digest, a truncated chain)."""
import base64
import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import RAMPART_BIN, REGION, Rampart
from iam_helpers import error_code, uniq

DIGEST_SECONDS = 3


@pytest.fixture(scope="module")
def srv(workdir):
    s = Rampart(os.path.join(workdir, "digests"),
                config={"audit": {"delivery_interval_seconds": 1,
                                  "digest_interval_seconds": DIGEST_SECONDS}}).start()
    yield s
    s.stop()


def digests_under(bucket_dir):
    """Digest keys (paths under the bucket directory), oldest first."""
    paths = glob.glob(os.path.join(bucket_dir, "**", "*_CloudTrail-Digest_*.json.gz"),
                      recursive=True)
    return sorted(os.path.relpath(p, bucket_dir) for p in paths)


def read_digest(bucket_dir, key):
    with open(os.path.join(bucket_dir, key), "rb") as f:
        raw = gzip.decompress(f.read())
    return raw, json.loads(raw)


@pytest.fixture(scope="module")
def trail(srv, workdir):
    """A validating trail that logged a dozen calls over several digest
    periods and then stopped; returns (bucket name, bucket dir, keys file)."""
    acct = srv.client("sts").get_caller_identity()["Account"]
    name, bucket = uniq("dtrail"), uniq("dlogs").lower()
    out = json.loads(srv.aws("cloudtrail", "create-trail", "--name", name, "--s3-bucket-name",
                             bucket, "--enable-log-file-validation").stdout)
    assert out["LogFileValidationEnabled"] is True
    got = json.loads(srv.aws("cloudtrail", "get-trail", "--name", name).stdout)["Trail"]
    assert got["LogFileValidationEnabled"] is True
    srv.aws("cloudtrail", "start-logging", "--name", name)
    iam = srv.client("iam")
    bucket_dir = os.path.join(srv.data_dir, "trails", bucket)
    deadline = time.time() + 40
    while time.time() < deadline:
        iam.create_user(UserName=uniq("du"))
        time.sleep(0.5)
        with_logs = [k for k in digests_under(bucket_dir)
                     if read_digest(bucket_dir, k)[1]["logFiles"]]
        if len(with_logs) >= 4:
            break
    status = srv.client("cloudtrail").get_trail_status(Name=name)
    assert status["IsLogging"] and "LatestDigestDeliveryTime" in status
    srv.aws("cloudtrail", "stop-logging", "--name", name)
    time.sleep(2.5)  # the final digest after the stop
    keys = json.loads(srv.aws("cloudtrail", "list-public-keys").stdout)
    keys_file = os.path.join(workdir, "digest-keys.json")
    with open(keys_file, "w") as f:
        json.dump(keys, f)
    assert acct in digests_under(bucket_dir)[0]
    return bucket, bucket_dir, keys_file


def validate(bucket_dir, keys_file, *extra):
    r = subprocess.run([RAMPART_BIN, "audit", "validate", "--trail-dir", bucket_dir,
                        "--public-keys", keys_file, "--verbose", *extra],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout.splitlines(), r.stderr


def tampered_copy(bucket_dir, workdir, label):
    """A copy of the bucket directory, under the same bucket name."""
    dest = os.path.join(workdir, "tamper-" + label, os.path.basename(bucket_dir))
    shutil.rmtree(os.path.dirname(dest), ignore_errors=True)
    shutil.copytree(bucket_dir, dest)
    return dest


def test_digest_files_follow_cloudtrail(srv, trail):
    bucket, bucket_dir, _ = trail
    acct = srv.client("sts").get_caller_identity()["Account"]
    keys = digests_under(bucket_dir)
    assert len(keys) >= 5
    pattern = re.compile(
        rf"AWSLogs/{acct}/CloudTrail-Digest/{REGION}/\d{{4}}/\d\d/\d\d/"
        rf"{acct}_CloudTrail-Digest_{REGION}_dtrail[^/]*_{REGION}_\d{{8}}T\d{{6}}Z\.json\.gz$")
    previous = None
    for key in keys:
        assert pattern.match(key), key
        raw, d = read_digest(bucket_dir, key)
        assert d["awsAccountId"] == acct and d["digestS3Bucket"] == bucket
        assert d["digestS3Object"] == key
        assert d["digestSignatureAlgorithm"] == "SHA256withRSA"
        assert re.fullmatch(r"[0-9a-f]{32}", d["digestPublicKeyFingerprint"])
        if previous is None:
            assert d["previousDigestSignature"] is None and d["previousDigestS3Object"] is None
        else:
            prev_key, prev_raw = previous
            assert d["previousDigestS3Bucket"] == bucket
            assert d["previousDigestS3Object"] == prev_key
            assert d["previousDigestHashValue"] == hashlib.sha256(prev_raw).hexdigest()
            assert d["previousDigestHashAlgorithm"] == "SHA-256"
            with open(os.path.join(bucket_dir, prev_key + ".sig")) as f:
                assert d["previousDigestSignature"] == f.read().strip()
        for log in d["logFiles"]:
            with gzip.open(os.path.join(bucket_dir, log["s3Object"]), "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == log["hashValue"]
            assert log["hashAlgorithm"] == "SHA-256" and log["s3Bucket"] == bucket
            assert log["oldestEventTime"] <= log["newestEventTime"]
        previous = (key, raw)


def public_key_der(srv, fingerprint):
    """The DER of the key with fingerprint, as boto3 returns it (the Value
    blob holds base64 text of the PKCS#1 DER, as CloudTrail's does)."""
    keys = srv.client("cloudtrail").list_public_keys()["PublicKeyList"]
    match = [k for k in keys if k["Fingerprint"] == fingerprint]
    assert len(match) == 1
    value = match[0]["Value"]
    der = base64.b64decode(value)
    assert der[0] == 0x30
    assert hashlib.md5(der).hexdigest() == fingerprint
    return value, der


def test_openssl_verifies_a_digest_signature(srv, trail, workdir):
    bucket, bucket_dir, _ = trail
    key = digests_under(bucket_dir)[1]
    raw, d = read_digest(bucket_dir, key)
    _, der = public_key_der(srv, d["digestPublicKeyFingerprint"])
    tmp = os.path.join(workdir, "openssl-digest")
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "pub.der"), "wb") as f:
        f.write(der)
    subprocess.run(["openssl", "rsa", "-RSAPublicKey_in", "-inform", "DER", "-in",
                    os.path.join(tmp, "pub.der"), "-pubout", "-out", os.path.join(tmp, "pub.pem")],
                   check=True, capture_output=True)
    to_sign = "%s\n%s/%s\n%s\n%s" % (d["digestEndTime"], bucket, key,
                                     hashlib.sha256(raw).hexdigest(),
                                     d["previousDigestSignature"] or "null")
    with open(os.path.join(tmp, "data"), "w") as f:
        f.write(to_sign)
    with open(os.path.join(bucket_dir, key + ".sig")) as f:
        sig = bytes.fromhex(f.read().strip())
    with open(os.path.join(tmp, "sig.bin"), "wb") as f:
        f.write(sig)
    r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", os.path.join(tmp, "pub.pem"),
                        "-signature", os.path.join(tmp, "sig.bin"), os.path.join(tmp, "data")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "Verified OK" in r.stdout
    # One changed byte of the signed data fails.
    with open(os.path.join(tmp, "data"), "w") as f:
        f.write(to_sign.replace("\n", "\n ", 1))
    r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", os.path.join(tmp, "pub.pem"),
                        "-signature", os.path.join(tmp, "sig.bin"), os.path.join(tmp, "data")],
                       capture_output=True, text=True)
    assert r.returncode != 0


def test_aws_cli_validator_accepts_our_digests(srv, trail):
    """The aws CLI's own SHA256withRSA validator, fed our files the way its
    S3 digest provider would (signature from the object metadata)."""
    from awscli.customizations.cloudtrail.validation import (DigestSignatureError,
                                                             Sha256RSADigestValidator)
    bucket, bucket_dir, _ = trail
    validator = Sha256RSADigestValidator()
    for key in digests_under(bucket_dir):
        raw, d = read_digest(bucket_dir, key)
        value, _ = public_key_der(srv, d["digestPublicKeyFingerprint"])
        with open(os.path.join(bucket_dir, key + ".sig")) as f:
            d["_signature"] = f.read().strip()
        d["_signature_algorithm"] = "SHA256withRSA"
        validator.validate(bucket, key, value, d, raw)  # raises when invalid
    d["digestEndTime"] = "2001-01-01T00:00:00Z"
    with pytest.raises(DigestSignatureError):
        validator.validate(bucket, key, value, d, raw)


def test_list_public_keys(srv, multi_region_server):
    ct = srv.client("cloudtrail")
    keys = ct.list_public_keys()["PublicKeyList"]
    assert len(keys) == 1
    k = keys[0]
    assert k["ValidityStartTime"] <= k["ValidityEndTime"]
    assert re.fullmatch(r"[0-9a-f]{32}", k["Fingerprint"])
    now = time.time()
    ranged = ct.list_public_keys(StartTime=now - 3600, EndTime=now)["PublicKeyList"]
    assert [x["Fingerprint"] for x in ranged] == [k["Fingerprint"]]
    # Before the key existed: none.
    assert ct.list_public_keys(StartTime=1000000000, EndTime=1000003600)["PublicKeyList"] == []
    code, _ = error_code(ct.list_public_keys, StartTime=now, EndTime=now - 60)
    assert code == "InvalidTimeRangeException"
    code, _ = error_code(ct.list_public_keys, NextToken="bm90LWEtdG9rZW4=")
    assert code == "InvalidTokenException"
    # Another region has its own key.
    mr = multi_region_server
    us = mr.client("cloudtrail").list_public_keys()["PublicKeyList"]
    eu = mr.client("cloudtrail", region="eu-west-1").list_public_keys()["PublicKeyList"]
    assert len(us) == 1 and len(eu) == 1 and eu[0]["Fingerprint"] != us[0]["Fingerprint"]


def test_validate_untouched_trail(trail):
    bucket, bucket_dir, keys_file = trail
    code, lines, err = validate(bucket_dir, keys_file)
    assert code == 0, "\n".join(lines) + err
    digests = digests_under(bucket_dir)
    for key in digests:
        assert f"Digest file\ts3://{bucket}/{key}\tvalid" in lines
    assert f"{len(digests)}/{len(digests)} digest files valid" in lines
    assert not [l for l in lines if "INVALID" in l or "\tmodified" in l]


def middle_digest_with_logs(bucket_dir):
    keys = digests_under(bucket_dir)
    for key in keys[1:-1]:
        if read_digest(bucket_dir, key)[1]["logFiles"]:
            return key
    raise AssertionError("no middle digest with log files")


def test_validate_reports_a_modified_log_file(trail, workdir):
    bucket, bucket_dir, keys_file = trail
    copy = tampered_copy(bucket_dir, workdir, "modified")
    log = read_digest(copy, middle_digest_with_logs(copy))[1]["logFiles"][0]["s3Object"]
    path = os.path.join(copy, log)
    with gzip.open(path, "rb") as f:
        doc = json.loads(f.read())
    doc["Records"][0]["eventName"] = "Nothing"
    with gzip.open(path, "wb") as f:
        f.write(json.dumps(doc).encode())
    code, lines, _ = validate(copy, keys_file)
    assert code == 1
    assert f"Log file\ts3://{bucket}/{log}\tmodified: hash value doesn't match" in lines
    assert [l for l in lines if "\tmodified" in l or "\tdeleted" in l or "\tmissing" in l
            or "\tmoved" in l] == [f"Log file\ts3://{bucket}/{log}\tmodified: hash value doesn't match"]
    assert any(re.fullmatch(r"\d+/\d+ log files valid, 1/\d+ log files INVALID", l) for l in lines)


def test_validate_reports_a_deleted_log_file(trail, workdir):
    bucket, bucket_dir, keys_file = trail
    copy = tampered_copy(bucket_dir, workdir, "deleted")
    log = read_digest(copy, middle_digest_with_logs(copy))[1]["logFiles"][0]["s3Object"]
    os.remove(os.path.join(copy, log))
    code, lines, _ = validate(copy, keys_file)
    assert code == 1
    assert f"Log file\ts3://{bucket}/{log}\tdeleted: not found" in lines


def test_validate_reports_a_moved_digest(trail, workdir):
    bucket, bucket_dir, keys_file = trail
    copy = tampered_copy(bucket_dir, workdir, "moved")
    key = middle_digest_with_logs(copy)
    moved = os.path.join(os.path.dirname(os.path.dirname(key)), "01", os.path.basename(key))
    os.makedirs(os.path.join(copy, os.path.dirname(moved)), exist_ok=True)
    for suffix in ("", ".sig"):
        os.rename(os.path.join(copy, key + suffix), os.path.join(copy, moved + suffix))
    code, lines, _ = validate(copy, keys_file)
    assert code == 1
    assert f"Digest file\ts3://{bucket}/{moved}\tmoved: written at s3://{bucket}/{key}" in lines
    # The chain continues through the moved digest: nothing is missing.
    assert not [l for l in lines if "\tmissing" in l]
    total = len(digests_under(copy))
    assert f"{total - 1}/{total} digest files valid, 1/{total} digest files INVALID" in lines


def test_validate_reports_a_truncated_chain(trail, workdir):
    bucket, bucket_dir, keys_file = trail
    copy = tampered_copy(bucket_dir, workdir, "truncated")
    keys = digests_under(copy)
    for key in keys[:2]:  # cut the chain's first two digests off
        os.remove(os.path.join(copy, key))
        os.remove(os.path.join(copy, key + ".sig"))
    code, lines, _ = validate(copy, keys_file)
    assert code == 1
    assert (f"Digest file\ts3://{bucket}/{keys[1]}\tmissing: not found: the chain has a gap "
            "here (digest deleted)") in lines
    bad = [l for l in lines if "\tmissing" in l or "\tmoved" in l or "\tmodified" in l]
    assert len(bad) == 1
    # A digest deleted in the middle is a gap too, and the walk goes on.
    copy = tampered_copy(bucket_dir, workdir, "gap")
    os.remove(os.path.join(copy, keys[2]))
    code, lines, _ = validate(copy, keys_file)
    assert code == 1
    assert (f"Digest file\ts3://{bucket}/{keys[2]}\tmissing: not found: the chain has a gap "
            "here (digest deleted)") in lines
    assert f"Digest file\ts3://{bucket}/{keys[1]}\tvalid" in lines


def test_validate_rejects_a_forged_digest_and_bad_arguments(trail, workdir):
    bucket, bucket_dir, keys_file = trail
    copy = tampered_copy(bucket_dir, workdir, "forged")
    key = middle_digest_with_logs(copy)
    raw, d = read_digest(copy, key)
    d["logFiles"] = []
    with open(os.path.join(copy, key), "wb") as f:
        f.write(gzip.compress(json.dumps(d).encode()))
    code, lines, _ = validate(copy, keys_file)
    assert code == 1
    assert f"Digest file\ts3://{bucket}/{key}\tmodified: signature verification failed" in lines

    # Keys that are not the server's: nothing validates.
    other = os.path.join(workdir, "other-keys.json")
    with open(keys_file) as f:
        doc = json.load(f)
    for k in doc["PublicKeyList"]:
        k["Fingerprint"] = "0" * 32
    with open(other, "w") as f:
        json.dump(doc, f)
    code, lines, err = validate(bucket_dir, other)
    assert code == 2 and "does not match its fingerprint" in err

    code, _, err = validate(bucket_dir, keys_file, "--start-time", "2030-01-01T00:00:00Z",
                            "--end-time", "2029-01-01T00:00:00Z")
    assert code == 2
    code, lines, _ = validate(bucket_dir, keys_file, "--end-time", "2001-01-01T00:00:00Z")
    assert code == 1 and "No digest files found" in lines
