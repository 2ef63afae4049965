#!/usr/bin/python3
"""Writes one day of CloudTrail log files and a signed hourly digest chain
into a bucket directory, for timing `rampart audit validate`
(bench/audit_validate.sh). Independent of Rampart's own writer: it builds
the digest JSON, the string to sign and the SHA256withRSA signature from
the format docs/audit.md describes, with Python's cryptography package,
so a clean validation run is also a cross-check of the format.

usage: audit_validate_gen.py OUT_DIR EVENTS_PER_FILE [FILES_PER_HOUR] [HOURS]
Writes OUT_DIR/<bucket>/... and OUT_DIR/keys.json (list-public-keys JSON).

With REUSE_HOURS=1 in the environment, the log files of the first hour are
compressed once and written again, byte for byte, for every later hour
(their digests still differ and still chain). The validator does the same
work for a repeated file as for a new one (it reads, inflates and hashes
every file), and writing the full day drops from over an hour to minutes;
only the event ids repeat across hours.
"""
import base64
import datetime
import gzip
import hashlib
import json
import os
import sys
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ACCOUNT = "123456789012"
REGION = "us-east-1"
TRAIL = "bench-trail"
BUCKET = "bench-logs"
DAY = datetime.datetime(2026, 11, 27, tzinfo=datetime.timezone.utc)

# A KMS Decrypt record as Rampart writes them (about 900 bytes).
TEMPLATE = (
    '{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEUSER%(u)d",'
    '"arn":"arn:aws:iam::123456789012:user/app-%(u)d","accountId":"123456789012",'
    '"accessKeyId":"AKIAEXAMPLE%(u)08d","userName":"app-%(u)d"},"eventTime":"%(t)s",'
    '"eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"us-east-1",'
    '"sourceIPAddress":"10.0.%(ip)d.%(ip2)d","userAgent":"aws-sdk-java/2.20.0 Linux/6.1 OpenJDK_64-Bit_Server_VM",'
    '"requestParameters":{"encryptionAlgorithm":"SYMMETRIC_DEFAULT","keyId":"arn:aws:kms:us-east-1:123456789012:key/%(key)s"},'
    '"responseElements":null,"requestID":"%(rid)s","eventID":"%(eid)s","readOnly":true,'
    '"resources":[{"accountId":"123456789012","type":"AWS::KMS::Key","ARN":"arn:aws:kms:us-east-1:123456789012:key/%(key)s"}],'
    '"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012",'
    '"eventCategory":"Management","tlsDetails":{"clientProvidedHostHeader":"kms.example.internal"}}')

KEY_IDS = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(50)]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def body_template(slot, seconds, count):
    """The records of one delivery slot of the hour; "@@FILE@@" in each
    event id is replaced per file, so every file's contents differ while
    formatting the records costs Python once per slot, not per file."""
    start = DAY + datetime.timedelta(seconds=slot * seconds)
    recs = []
    for i in range(count):
        t = start + datetime.timedelta(seconds=seconds * i // count)
        n = slot * count + i
        recs.append(TEMPLATE % {
            "u": n % 97, "t": iso(t), "ip": n % 250, "ip2": (n // 250) % 250,
            "key": KEY_IDS[n % 50], "rid": "%032x" % (n * 2654435761),
            "eid": "@@FILE@@-%04x-7000-8000-%012x" % (n & 0xFFFF, n)})
    return ('{"Records":[' + ",".join(recs) + "]}").encode()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    out, per_file = sys.argv[1], int(sys.argv[2])
    per_hour = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    hours = int(sys.argv[4]) if len(sys.argv) > 4 else 24
    bucket_dir = os.path.join(out, BUCKET)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.PKCS1)
    fingerprint = hashlib.md5(der).hexdigest()
    prev = None  # (key, raw json, signature hex)
    seconds = 3600 // per_hour
    templates = [body_template(f, seconds, per_file) for f in range(per_hour)]
    reuse = os.environ.get("REUSE_HOURS") == "1"
    made = {}  # slot -> (gzip bytes, hex SHA-256 of the body), when reusing
    for h in range(hours):
        hour = DAY + datetime.timedelta(hours=h)
        files = []
        for f in range(per_hour):
            start = hour + datetime.timedelta(seconds=f * seconds)
            delivered = start + datetime.timedelta(seconds=seconds)
            if f in made:
                gz, digest = made[f]
            else:
                body = templates[f].replace(b"@@FILE@@", b"%08x" % (h * per_hour + f))
                gz, digest = gzip.compress(body, compresslevel=6), hashlib.sha256(body).hexdigest()
                if reuse:
                    made[f] = (gz, digest)
            obj = "AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%016x.json.gz" % (
                ACCOUNT, REGION, start.strftime("%Y/%m/%d"), ACCOUNT, REGION,
                delivered.strftime("%Y%m%dT%H%MZ"), h * per_hour + f)
            write(os.path.join(bucket_dir, obj), gz)
            files.append({"s3Bucket": BUCKET, "s3Object": obj,
                          "hashValue": digest,
                          "hashAlgorithm": "SHA-256",
                          "newestEventTime": iso(delivered - datetime.timedelta(seconds=1)),
                          "oldestEventTime": iso(start)})
        end = hour + datetime.timedelta(hours=1)
        obj = "AWSLogs/%s/CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz" % (
            ACCOUNT, REGION, end.strftime("%Y/%m/%d"), ACCOUNT, REGION, TRAIL, REGION,
            end.strftime("%Y%m%dT%H%M%SZ"))
        digest = {
            "awsAccountId": ACCOUNT, "digestStartTime": iso(hour), "digestEndTime": iso(end),
            "digestS3Bucket": BUCKET, "digestS3Object": obj,
            "digestPublicKeyFingerprint": fingerprint, "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": files[-1]["newestEventTime"], "oldestEventTime": iso(hour),
            "previousDigestS3Bucket": BUCKET if prev else None,
            "previousDigestS3Object": prev[0] if prev else None,
            "previousDigestHashValue": hashlib.sha256(prev[1]).hexdigest() if prev else None,
            "previousDigestHashAlgorithm": "SHA-256" if prev else None,
            "previousDigestSignature": prev[2] if prev else None,
            "logFiles": files}
        raw = json.dumps(digest).encode()
        to_sign = "%s\n%s/%s\n%s\n%s" % (iso(end), BUCKET, obj, hashlib.sha256(raw).hexdigest(),
                                         prev[2] if prev else "null")
        sig = key.sign(to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
        write(os.path.join(bucket_dir, obj), gzip.compress(raw))
        write(os.path.join(bucket_dir, obj + ".sig"), sig.encode())
        prev = (obj, raw, sig)
        print("hour %02d written" % h, file=sys.stderr, flush=True)
    keys = {"PublicKeyList": [{
        "Value": base64.b64encode(base64.b64encode(der)).decode(),
        "ValidityStartTime": iso(DAY - datetime.timedelta(days=1)),
        "ValidityEndTime": iso(DAY + datetime.timedelta(days=29)),
        "Fingerprint": fingerprint}]}
    with open(os.path.join(out, "keys.json"), "w") as f:
        json.dump(keys, f)


if __name__ == "__main__":
    main()
