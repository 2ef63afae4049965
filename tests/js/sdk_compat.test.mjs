// The AWS SDK for JavaScript v3 against a real rampart server: its own
// serializers and parsers (query/XML for IAM and STS, JSON 1.1 for KMS and
// CloudTrail), its own SigV4 signer and its own error mapping, none of
// which botocore shares. Run by tests/integration/test_js_sdk.py, which
// starts the server and passes RAMPART_ENDPOINT, AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { test } from "node:test";

import {
  CloudTrailClient, CreateTrailCommand, DeleteTrailCommand, DescribeTrailsCommand,
  GetEventSelectorsCommand, GetTrailStatusCommand, LookupEventsCommand, PutEventSelectorsCommand,
  StartLoggingCommand, TrailNotFoundException,
} from "@aws-sdk/client-cloudtrail";
import {
  AttachUserPolicyCommand, CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand,
  GetUserCommand, IAMClient, ListUserTagsCommand, ListUsersCommand, PutUserPolicyCommand,
  TagUserCommand,
} from "@aws-sdk/client-iam";
import {
  CreateAliasCommand, CreateGrantCommand, CreateKeyCommand, DecryptCommand, DescribeKeyCommand,
  EncryptCommand, ListGrantsCommand, RevokeGrantCommand,
  GenerateDataKeyCommand, GenerateMacCommand, GetPublicKeyCommand, KMSClient, ListAliasesCommand,
  SignCommand, paginateListKeys,
} from "@aws-sdk/client-kms";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";

const endpoint = process.env.RAMPART_ENDPOINT;
const rootCredentials = {
  accessKeyId: process.env.AWS_ACCESS_KEY_ID,
  secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
};
const region = "us-east-1";
// A suffix so that reruns against the same server do not collide.
const run = crypto.randomBytes(4).toString("hex");

function client(Kind, credentials = rootCredentials) {
  return new Kind({ endpoint, region, credentials, maxAttempts: 1 });
}

const sts = client(STSClient);
const iam = client(IAMClient);
const kms = client(KMSClient);
const cloudtrail = client(CloudTrailClient);

// Runs `send` and returns the error it throws; fails when it succeeds.
async function rejection(send) {
  try {
    await send();
  } catch (err) {
    return err;
  }
  assert.fail("the call succeeded but was expected to fail");
}

test("sts get-caller-identity names the root of the server's account", async () => {
  const id = await sts.send(new GetCallerIdentityCommand({}));
  assert.match(id.Account, /^\d{12}$/);
  assert.equal(id.Arn, `arn:aws:iam::${id.Account}:root`);
  assert.equal(id.UserId, id.Account);
});

test("a wrong secret key is refused with SignatureDoesNotMatch", async () => {
  const bad = client(STSClient, { ...rootCredentials, secretAccessKey: "x".repeat(40) });
  const err = await rejection(() => bad.send(new GetCallerIdentityCommand({})));
  assert.equal(err.name, "SignatureDoesNotMatch");
  assert.equal(err.$metadata.httpStatusCode, 403);
});

test("an unknown access key is refused with InvalidClientTokenId", async () => {
  const bad = client(STSClient, { accessKeyId: "AKIAZZZZZZZZZZZZZZZZ", secretAccessKey: "x".repeat(40) });
  const err = await rejection(() => bad.send(new GetCallerIdentityCommand({})));
  assert.equal(err.name, "InvalidClientTokenId");
  assert.equal(err.$metadata.httpStatusCode, 403);
});

test("iam users: create, tag, page through, sign as the new user", async () => {
  const names = [`js-a-${run}`, `js-b-${run}`];
  for (const UserName of names) {
    const made = await iam.send(new CreateUserCommand({ UserName, Path: "/js/" }));
    assert.equal(made.User.UserName, UserName);
    assert.ok(made.User.CreateDate instanceof Date, "CreateDate parsed as a timestamp");
  }
  await iam.send(new TagUserCommand({ UserName: names[0], Tags: [{ Key: "team", Value: "a b+c=d@e:f/g-ü" }] }));
  const tags = await iam.send(new ListUserTagsCommand({ UserName: names[0] }));
  assert.deepEqual(tags.Tags, [{ Key: "team", Value: "a b+c=d@e:f/g-ü" }]);

  // Page one user at a time under the path prefix.
  const seen = [];
  let Marker;
  do {
    const page = await iam.send(new ListUsersCommand({ PathPrefix: "/js/", MaxItems: 1, Marker }));
    assert.ok(page.Users.length <= 1);
    seen.push(...page.Users.map((u) => u.UserName));
    Marker = page.IsTruncated ? page.Marker : undefined;
  } while (Marker);
  for (const n of names) assert.ok(seen.includes(n), `${n} listed`);

  await iam.send(new PutUserPolicyCommand({
    UserName: names[0], PolicyName: "who",
    PolicyDocument: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "iam:GetUser", Resource: "*" }],
    }),
  }));
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: names[0] }))).AccessKey;
  const asUser = { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
  const me = await client(STSClient, asUser).send(new GetCallerIdentityCommand({}));
  assert.equal(me.Arn, made_arn(me.Account, names[0]));

  // The inline policy allows iam:GetUser and nothing else.
  const userIam = client(IAMClient, asUser);
  const got = await userIam.send(new GetUserCommand({ UserName: names[1] }));
  assert.equal(got.User.UserName, names[1]);
  const denied = await rejection(() => userIam.send(new ListUsersCommand({})));
  assert.equal(denied.name, "AccessDenied");
  assert.equal(denied.$metadata.httpStatusCode, 403);
  assert.match(denied.message, /iam:ListUsers/);
});

function made_arn(account, user) {
  return `arn:aws:iam::${account}:user/js/${user}`;
}

test("iam errors map to the SDK's modeled exceptions", async () => {
  const missing = await rejection(() => iam.send(new GetUserCommand({ UserName: `nobody-${run}` })));
  assert.equal(missing.name, "NoSuchEntityException");
  assert.equal(missing.$metadata.httpStatusCode, 404);
  assert.ok(missing.$metadata.requestId, "request id parsed from the error body");

  await iam.send(new CreateUserCommand({ UserName: `twice-${run}` }));
  const dup = await rejection(() => iam.send(new CreateUserCommand({ UserName: `twice-${run}` })));
  assert.equal(dup.name, "EntityAlreadyExistsException");
  assert.equal(dup.$metadata.httpStatusCode, 409);
});

test("kms symmetric: encrypt and decrypt binary data with an encryption context", async () => {
  const key = (await kms.send(new CreateKeyCommand({ Description: "js sdk" }))).KeyMetadata;
  assert.equal(key.KeySpec, "SYMMETRIC_DEFAULT");
  assert.ok(key.CreationDate instanceof Date, "CreationDate parsed as a timestamp");
  const alias = `alias/js-${run}`;
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.KeyId }));

  const plaintext = crypto.randomBytes(300);
  plaintext[0] = 0; // a leading zero byte must survive base64 both ways
  const context = { purpose: "js-test", "odd key": "ü ✓" };
  const enc = await kms.send(new EncryptCommand({ KeyId: alias, Plaintext: plaintext, EncryptionContext: context }));
  assert.equal(enc.KeyId, key.Arn);
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context }));
  assert.deepEqual(Buffer.from(dec.Plaintext), plaintext);
  assert.equal(dec.KeyId, key.Arn);

  const wrongContext = await rejection(() => kms.send(new DecryptCommand({
    CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { purpose: "other" },
  })));
  assert.equal(wrongContext.name, "InvalidCiphertextException");
  assert.equal(wrongContext.$metadata.httpStatusCode, 400);

  const tampered = Buffer.from(enc.CiphertextBlob);
  tampered[tampered.length - 1] ^= 1;
  const bad = await rejection(() => kms.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: context })));
  assert.equal(bad.name, "InvalidCiphertextException");

  const aliases = await kms.send(new ListAliasesCommand({ KeyId: key.KeyId }));
  assert.deepEqual(aliases.Aliases.map((a) => a.AliasName), [alias]);
});

test("kms data key encrypts locally and the wrapped copy decrypts to the same key", async () => {
  const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata;
  const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyId, KeySpec: "AES_256" }));
  assert.equal(dk.Plaintext.length, 32);
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv("aes-256-gcm", dk.Plaintext, iv);
  const sealed = Buffer.concat([cipher.update("local payload"), cipher.final()]);
  const tag = cipher.getAuthTag();

  const unwrapped = await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob }));
  const decipher = crypto.createDecipheriv("aes-256-gcm", unwrapped.Plaintext, iv);
  decipher.setAuthTag(tag);
  assert.equal(Buffer.concat([decipher.update(sealed), decipher.final()]).toString(), "local payload");
});

test("kms ecc sign: node's crypto verifies the signature with the public key", async () => {
  const key = (await kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }))).KeyMetadata;
  assert.deepEqual(key.SigningAlgorithms, ["ECDSA_SHA_256"]);
  const message = Buffer.from("signed by rampart, checked by node");
  const sig = await kms.send(new SignCommand({
    KeyId: key.KeyId, Message: message, MessageType: "RAW", SigningAlgorithm: "ECDSA_SHA_256",
  }));
  const pub = await kms.send(new GetPublicKeyCommand({ KeyId: key.KeyId }));
  const publicKey = crypto.createPublicKey({ key: Buffer.from(pub.PublicKey), format: "der", type: "spki" });
  assert.ok(crypto.verify("sha256", message, publicKey, Buffer.from(sig.Signature)), "signature verifies");
  assert.ok(!crypto.verify("sha256", Buffer.from("another message"), publicKey, Buffer.from(sig.Signature)));
});

test("kms hmac: one message gives one MAC, another message another", async () => {
  // The key never leaves the server, so node cannot recompute the MAC:
  // compare MACs of equal and different messages, and their size.
  const key = (await kms.send(new CreateKeyCommand({ KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC" }))).KeyMetadata;
  const mac = (m) => kms.send(new GenerateMacCommand({ KeyId: key.KeyId, Message: Buffer.from(m), MacAlgorithm: "HMAC_SHA_256" }));
  const a = await mac("one");
  const b = await mac("one");
  const c = await mac("two");
  assert.equal(a.Mac.length, 32);
  assert.deepEqual(Buffer.from(a.Mac), Buffer.from(b.Mac));
  assert.notDeepEqual(Buffer.from(a.Mac), Buffer.from(c.Mac));
});

test("kms errors: a missing key is NotFoundException, bad input is ValidationException", async () => {
  const missing = await rejection(() => kms.send(new DescribeKeyCommand({ KeyId: crypto.randomUUID() })));
  assert.equal(missing.name, "NotFoundException");
  assert.equal(missing.$metadata.httpStatusCode, 400);

  const tooLong = await rejection(() => kms.send(new EncryptCommand({
    KeyId: "alias/whatever", Plaintext: Buffer.alloc(4097),
  })));
  assert.equal(tooLong.name, "ValidationException");
  assert.match(tooLong.message, /1 validation error detected/);
});

test("kms list-keys paginator follows every page", async () => {
  for (let i = 0; i < 3; i++) await kms.send(new CreateKeyCommand({ Description: `page ${i}` }));
  let pages = 0;
  const ids = new Set();
  for await (const page of paginateListKeys({ client: kms, pageSize: 2 }, {})) {
    pages += 1;
    assert.ok(page.Keys.length <= 2);
    for (const k of page.Keys) ids.add(k.KeyId);
  }
  assert.ok(ids.size >= 3, `at least 3 keys, saw ${ids.size}`);
  assert.ok(pages >= 2, `more than one page, saw ${pages}`);
});

test("cloudtrail lookup-events finds the SDK's own CreateUser call", async () => {
  const UserName = `js-trail-${run}`;
  await iam.send(new CreateUserCommand({ UserName }));
  let found;
  // Mutations are recorded in their own transaction, so one lookup should
  // do; poll briefly anyway so a slow machine does not flake.
  for (let i = 0; i < 20 && !found; i++) {
    const page = await cloudtrail.send(new LookupEventsCommand({
      LookupAttributes: [{ AttributeKey: "ResourceName", AttributeValue: UserName }],
    }));
    found = page.Events.find((e) => e.EventName === "CreateUser");
    if (!found) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(found, "CreateUser event found");
  assert.ok(found.EventTime instanceof Date, "EventTime parsed as a timestamp");
  const record = JSON.parse(found.CloudTrailEvent);
  assert.equal(record.eventSource, "iam.amazonaws.com");
  assert.equal(record.requestParameters.userName, UserName);
  assert.match(record.userAgent, /aws-sdk-js/);
});

test("sts assume-role: the SDK signs with the session token and the session is the role", async () => {
  // AWS refuses AssumeRole to an account's root, so an administrator does it.
  const admin = `js-admin-${run}`;
  await iam.send(new CreateUserCommand({ UserName: admin }));
  await iam.send(new AttachUserPolicyCommand({
    UserName: admin, PolicyArn: "arn:aws:iam::aws:policy/AdministratorAccess",
  }));
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: admin }))).AccessKey;
  const account = (await sts.send(new GetCallerIdentityCommand({}))).Account;
  const role = (await iam.send(new CreateRoleCommand({
    RoleName: `js-role-${run}`,
    AssumeRolePolicyDocument: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: "sts:AssumeRole" }],
    }),
  }))).Role;

  const adminSts = client(STSClient, { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey });
  const assumed = await adminSts.send(new AssumeRoleCommand({ RoleArn: role.Arn, RoleSessionName: "js-session" }));
  const c = assumed.Credentials;
  assert.ok(c.Expiration instanceof Date && c.Expiration > new Date(), "Expiration in the future");
  assert.equal(assumed.AssumedRoleUser.Arn, `arn:aws:sts::${account}:assumed-role/js-role-${run}/js-session`);

  const session = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
  const me = await client(STSClient, session).send(new GetCallerIdentityCommand({}));
  assert.equal(me.Arn, assumed.AssumedRoleUser.Arn);

  const forged = { ...session, sessionToken: c.SessionToken.slice(0, -4) + "AAAA" };
  const err = await rejection(() => client(STSClient, forged).send(new GetCallerIdentityCommand({})));
  assert.equal(err.$metadata.httpStatusCode, 403);
  assert.match(err.name, /^(InvalidClientTokenId|SignatureDoesNotMatch)$/);
});

test("cloudtrail trails: create, select events, start logging, status, delete", async () => {
  const Name = `js-trail-${run}`;
  const made = await cloudtrail.send(new CreateTrailCommand({
    Name, S3BucketName: `js-bucket-${run}`, EnableLogFileValidation: true,
  }));
  assert.equal(made.Name, Name);
  assert.equal(made.LogFileValidationEnabled, true);
  assert.match(made.TrailARN, new RegExp(`^arn:aws:cloudtrail:us-east-1:\\d{12}:trail/${Name}$`));

  await cloudtrail.send(new PutEventSelectorsCommand({
    TrailName: Name,
    EventSelectors: [{ ReadWriteType: "WriteOnly", IncludeManagementEvents: true }],
  }));
  const selectors = await cloudtrail.send(new GetEventSelectorsCommand({ TrailName: Name }));
  assert.equal(selectors.EventSelectors[0].ReadWriteType, "WriteOnly");
  assert.equal(selectors.EventSelectors[0].IncludeManagementEvents, true);

  await cloudtrail.send(new StartLoggingCommand({ Name }));
  const status = await cloudtrail.send(new GetTrailStatusCommand({ Name }));
  assert.equal(status.IsLogging, true);
  assert.ok(status.StartLoggingTime instanceof Date, "StartLoggingTime parsed as a timestamp");

  const listed = await cloudtrail.send(new DescribeTrailsCommand({ trailNameList: [Name] }));
  assert.deepEqual(listed.trailList.map((t) => t.Name), [Name]);

  await cloudtrail.send(new DeleteTrailCommand({ Name }));
  const gone = await rejection(() => cloudtrail.send(new GetTrailStatusCommand({ Name })));
  assert.ok(gone instanceof TrailNotFoundException, `${gone.name} is TrailNotFoundException`);
});

test("kms grants: a grant token lets a user decrypt at once, revoking ends it", async () => {
  const UserName = `js-grantee-${run}`;
  const user = (await iam.send(new CreateUserCommand({ UserName }))).User;
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName }))).AccessKey;
  const grantee = client(KMSClient, { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey });

  const kmsKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata;
  const context = { tenant: "js" };
  const enc = await kms.send(new EncryptCommand({ KeyId: kmsKey.KeyId, Plaintext: Buffer.from("granted"), EncryptionContext: context }));

  const denied = await rejection(() => grantee.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context })));
  assert.equal(denied.name, "AccessDeniedException");

  const grant = await kms.send(new CreateGrantCommand({
    KeyId: kmsKey.KeyId, GranteePrincipal: user.Arn, Operations: ["Decrypt"],
    Constraints: { EncryptionContextEquals: context },
  }));
  const dec = await grantee.send(new DecryptCommand({
    CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context, GrantTokens: [grant.GrantToken],
  }));
  assert.equal(Buffer.from(dec.Plaintext).toString(), "granted");

  const grants = await kms.send(new ListGrantsCommand({ KeyId: kmsKey.KeyId }));
  assert.deepEqual(grants.Grants.map((g) => g.GrantId), [grant.GrantId]);
  assert.deepEqual(grants.Grants[0].Constraints.EncryptionContextEquals, context);

  await kms.send(new RevokeGrantCommand({ KeyId: kmsKey.KeyId, GrantId: grant.GrantId }));
  const revoked = await rejection(() => grantee.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context })));
  assert.equal(revoked.name, "AccessDeniedException");
});
