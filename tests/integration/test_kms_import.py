"""Importing key material (Origin EXTERNAL) with boto3, the aws CLI and
openssl: the material is wrapped with `openssl pkeyutl` under the public
key from GetParametersForImport, imported, used, deleted and reimported."""
import base64
import json
import os
import subprocess
import time

import botocore.exceptions
import pytest


def error_of(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def wrap(tmp_path, public_der, material, digest):
    """RSAES-OAEP with digest (sha1 or sha256) for both hashes, by openssl."""
    pub = tmp_path / "wrapping.der"
    pub.write_bytes(public_der)
    plain = tmp_path / "material.bin"
    plain.write_bytes(material)
    out = tmp_path / "wrapped.bin"
    subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey",
                    str(pub), "-in", str(plain), "-out", str(out),
                    "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{digest}",
                    "-pkeyopt", f"rsa_mgf1_md:{digest}"], check=True, capture_output=True)
    return out.read_bytes()


def test_import_use_delete_reimport(server, tmp_path):
    kms = server.client("kms")
    meta = kms.create_key(Origin="EXTERNAL", Description="byok")["KeyMetadata"]
    key_id = meta["KeyId"]
    assert meta["Origin"] == "EXTERNAL" and meta["KeyState"] == "PendingImport"
    assert meta["Enabled"] is False
    code, msg = error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "KMSInvalidStateException" and "pending import" in msg
    code, _ = error_of(kms.enable_key, KeyId=key_id)
    assert code == "KMSInvalidStateException"

    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    assert params["KeyId"] == meta["Arn"]
    valid = params["ParametersValidTo"].timestamp() - time.time()
    assert 23 * 3600 < valid <= 24 * 3600 + 60
    material = os.urandom(32)
    wrapped = wrap(tmp_path, params["PublicKey"], material, "sha256")
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrapped,
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled"
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in meta
    ct = kms.encrypt(KeyId=key_id, Plaintext=b"bring your own key")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"bring your own key"
    # A used token does not import again.
    code, _ = error_of(kms.import_key_material, KeyId=key_id, ImportToken=params["ImportToken"],
                       EncryptedKeyMaterial=wrapped,
                       ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "ExpiredImportTokenException"
    # Automatic rotation does not apply to imported material.
    code, _ = error_of(kms.enable_key_rotation, KeyId=key_id)
    assert code == "UnsupportedOperationException"

    kms.delete_imported_key_material(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    code, _ = error_of(kms.decrypt, CiphertextBlob=ct)
    assert code == "KMSInvalidStateException"

    # Reimport: other material is refused, the same material (wrapped with
    # SHA-1 OAEP this time) brings the key and its old ciphertexts back.
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_1",
                                           WrappingKeySpec="RSA_2048")
    code, _ = error_of(kms.import_key_material, KeyId=key_id, ImportToken=params["ImportToken"],
                       EncryptedKeyMaterial=wrap(tmp_path, params["PublicKey"], os.urandom(32),
                                                 "sha1"),
                       ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "IncorrectKeyMaterialException"
    valid_to = int(time.time()) + 7 * 86400
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(tmp_path, params["PublicKey"], material,
                                                      "sha1"),
                            ValidTo=valid_to)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert int(meta["ValidTo"].timestamp()) == valid_to
    assert kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"bring your own key"


def test_import_with_the_cli_and_errors(server, tmp_path):
    kms = server.client("kms")
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    other = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    r = server.aws("kms", "get-parameters-for-import", "--key-id", key_id,
                   "--wrapping-algorithm", "RSAES_OAEP_SHA_1", "--wrapping-key-spec", "RSA_2048")
    params = json.loads(r.stdout)
    public = base64.b64decode(params["PublicKey"])
    token = tmp_path / "token.bin"
    token.write_bytes(base64.b64decode(params["ImportToken"]))
    wrapped = wrap(tmp_path, public, os.urandom(32), "sha1")
    # The token belongs to key_id only.
    code, _ = error_of(kms.import_key_material, KeyId=other, ImportToken=token.read_bytes(),
                       EncryptedKeyMaterial=wrapped,
                       ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "InvalidImportTokenException"
    # ValidTo is required by default and refused without expiry.
    code, _ = error_of(kms.import_key_material, KeyId=key_id, ImportToken=token.read_bytes(),
                       EncryptedKeyMaterial=wrapped)
    assert code == "ValidationException"
    code, _ = error_of(kms.import_key_material, KeyId=key_id, ImportToken=token.read_bytes(),
                       EncryptedKeyMaterial=wrapped, ValidTo=int(time.time()) + 400 * 86400)
    assert code == "ValidationException"
    # Garbage instead of wrapped material; material of the wrong size.
    code, _ = error_of(kms.import_key_material, KeyId=key_id, ImportToken=token.read_bytes(),
                       EncryptedKeyMaterial=b"\x00" * 256,
                       ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "InvalidCiphertextException"
    code, _ = error_of(kms.import_key_material, KeyId=key_id, ImportToken=token.read_bytes(),
                       EncryptedKeyMaterial=wrap(tmp_path, public, os.urandom(16), "sha1"),
                       ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "IncorrectKeyMaterialException"
    (tmp_path / "wrapped.bin").write_bytes(wrapped)
    server.aws("kms", "import-key-material", "--key-id", key_id,
               "--encrypted-key-material", f"fileb://{tmp_path / 'wrapped.bin'}",
               "--import-token", f"fileb://{token}",
               "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    # Import operations need an EXTERNAL key.
    plain = kms.create_key()["KeyMetadata"]["KeyId"]
    code, _ = error_of(kms.get_parameters_for_import, KeyId=plain,
                       WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_2048")
    assert code == "UnsupportedOperationException"
    code, _ = error_of(kms.delete_imported_key_material, KeyId=plain)
    assert code == "UnsupportedOperationException"
    code, _ = error_of(kms.create_key, Origin="EXTERNAL", KeySpec="ECC_NIST_P256",
                       KeyUsage="SIGN_VERIFY")
    assert code == "UnsupportedOperationException"
