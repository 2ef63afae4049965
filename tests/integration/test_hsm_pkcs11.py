"""The pkcs11 room against a real SoftHSM2 token, driven through the
`rampart hsm` CLI and inspected with OpenSC's pkcs11-tool: the token is
initialised with `rampart hsm init-token`, `rampart hsm selftest --keep`
generates and uses one key of each algorithm, and pkcs11-tool checks that
those keys live in the token, are private, sensitive and never extractable,
and carry only the usages asked for. `rampart hsm keys` lists them from a
server config's hsm section."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import RAMPART_BIN

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "2468-user"
SO_PIN = "1357-so"
LABEL = "rampart-it"

EXPECTED = {
    # label: (pkcs11-tool object heading, usage of the private/secret half)
    "selftest-aes256": ("Secret Key Object; AES length 32", "encrypt, decrypt"),
    "selftest-hmac": ("Secret Key Object; Generic secret length 32", None),
    "selftest-ec-p256": ("Private Key Object; EC", "sign"),
    "selftest-ec-p384": ("Private Key Object; EC", "sign"),
    "selftest-rsa2048": ("Private Key Object; RSA", "sign"),
}


def secret_file(path, text):
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


def rampart_hsm(env, *args):
    return subprocess.run([RAMPART_BIN, "hsm", *args], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    if not os.path.exists(SOFTHSM) or shutil.which("pkcs11-tool") is None:
        pytest.skip("softhsm2 and opensc are needed (scripts/install-deps.sh)")
    d = tmp_path_factory.mktemp("softhsm")
    (d / "tokens").mkdir()
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {d}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    pin_file = secret_file(d / "user.pin", PIN)
    so_pin_file = secret_file(d / "so.pin", SO_PIN)
    init = rampart_hsm(env, "init-token", "--module", SOFTHSM, "--slot", "0", "--label", LABEL,
                       "--so-pin-file", so_pin_file, "--pin-file", pin_file)
    assert init.returncode == 0, init.stdout + init.stderr
    assert f"token {LABEL} initialized" in init.stdout
    gen = rampart_hsm(env, "selftest", "--module", SOFTHSM, "--token-label", LABEL,
                      "--pin-file", pin_file, "--keep")
    assert gen.returncode == 0, gen.stdout + gen.stderr
    assert "5 of 5 checks passed" in gen.stdout, gen.stdout
    assert gen.stdout.count("ok   ") == 5 and "FAIL" not in gen.stdout, gen.stdout
    for out in (init, gen):  # the PINs never reach the output or the logs
        assert PIN not in out.stdout + out.stderr and SO_PIN not in out.stdout + out.stderr
    return {"env": env, "dir": d, "pin_file": pin_file}


def tool(token, *args, check=True):
    out = subprocess.run(["pkcs11-tool", "--module", SOFTHSM, "--token-label", LABEL,
                          "--login", "--pin", PIN, *args],
                         env=token["env"], capture_output=True)
    if check:
        assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out


def objects(token):
    """pkcs11-tool --list-objects parsed into a list of dicts."""
    text = tool(token, "--list-objects").stdout.decode()
    objs = []
    for line in text.splitlines():
        if line and not line.startswith(" "):
            objs.append({"heading": line.strip()})
        elif ":" in line and objs:
            key, _, value = line.strip().partition(":")
            objs[-1][key.strip()] = value.strip()
    return objs


def test_token_is_listed(token):
    out = subprocess.run(["pkcs11-tool", "--module", SOFTHSM, "--list-token-slots"],
                         env=token["env"], capture_output=True, text=True, check=True)
    assert f"token label        : {LABEL}" in out.stdout


def test_generated_keys_are_sensitive_and_never_extractable(token):
    objs = objects(token)
    keys = [o for o in objs if not o["heading"].startswith("Public Key Object")]
    assert sorted(o["label"] for o in keys) == sorted(EXPECTED)
    for o in keys:
        heading, usage = EXPECTED[o["label"]]
        assert o["heading"].startswith(heading), o
        access = [a.strip() for a in o["Access"].split(",")]
        assert "sensitive" in access and "always sensitive" in access, o
        assert "never extractable" in access and "local" in access, o
        assert "extractable" not in access, o
        if usage is not None:
            assert o["Usage"] == usage, o
        assert len(o["ID"]) == 32, o  # 16 random bytes, hex


def test_public_halves_verify_only(token):
    pubs = [o for o in objects(token) if o["heading"].startswith("Public Key Object")]
    assert sorted(o["label"] for o in pubs) == ["selftest-ec-p256", "selftest-ec-p384", "selftest-rsa2048"]
    for o in pubs:
        assert o["Usage"] == "verify", o


def test_secret_values_cannot_be_read(token):
    out_file = token["dir"] / "aes.bin"
    out = tool(token, "--read-object", "--type", "secrkey", "--label", "selftest-aes256",
               "--output-file", str(out_file), check=False)
    assert out.returncode != 0
    assert b"CKR_ATTRIBUTE_SENSITIVE" in out.stderr
    assert not out_file.exists()


def test_keys_are_invisible_without_login(token):
    out = subprocess.run(["pkcs11-tool", "--module", SOFTHSM, "--token-label", LABEL, "--list-objects"],
                         env=token["env"], capture_output=True, text=True, check=True)
    headings = [line for line in out.stdout.splitlines() if line and not line.startswith(" ")]
    assert headings and all(h.startswith("Public Key Object") for h in headings), out.stdout


def test_slots_lists_the_initialised_token(token):
    out = rampart_hsm(token["env"], "slots", "--module", SOFTHSM)
    assert out.returncode == 0, out.stderr
    assert f"token label: {LABEL}" in out.stdout
    block = out.stdout.split(f"token label: {LABEL}")[1].split("slot ")[0]
    assert "initialized: yes  user PIN set: yes" in block


def test_keys_lists_a_configured_backend(token):
    cfg = token["dir"] / "rampart.json"
    cfg.write_text(json.dumps({"hsm": {"backends": [
        {"name": "it", "module": SOFTHSM, "token_label": LABEL, "pin_file": token["pin_file"]}]}}))
    out = rampart_hsm(token["env"], "keys", "--config", str(cfg), "--backend", "it")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[1:]]
    assert sorted(r[3] for r in rows) == sorted(EXPECTED)
    assert all(r[2] == "no" for r in rows)  # EXTRACTABLE
    assert {r[1] for r in rows} == {"AES", "HMAC", "EC", "RSA"}
    missing = rampart_hsm(token["env"], "keys", "--config", str(cfg), "--backend", "other")
    assert missing.returncode != 0 and "no backend other" in missing.stderr


def test_wrong_or_exposed_pins_are_refused(token):
    wrong = secret_file(token["dir"] / "wrong.pin", "not-the-pin")
    out = rampart_hsm(token["env"], "selftest", "--module", SOFTHSM, "--token-label", LABEL,
                      "--pin-file", wrong)
    assert out.returncode == 1 and "CKR_PIN_INCORRECT" in out.stderr
    assert "not-the-pin" not in out.stdout + out.stderr
    exposed = token["dir"] / "exposed.pin"
    exposed.write_text(PIN)
    exposed.chmod(0o644)
    out = rampart_hsm(token["env"], "selftest", "--module", SOFTHSM, "--token-label", LABEL,
                      "--pin-file", str(exposed))
    assert out.returncode == 1 and "chmod 600" in out.stderr


def test_selftest_without_keep_leaves_no_keys(token, tmp_path):
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path}/tokens\nobjectstore.backend = file\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "scratch",
                    "--pin", PIN, "--so-pin", SO_PIN], env=env, check=True, capture_output=True)
    pin_file = secret_file(tmp_path / "user.pin", PIN)
    out = rampart_hsm(env, "selftest", "--module", SOFTHSM, "--token-label", "scratch", "--pin-file", pin_file)
    assert out.returncode == 0, out.stdout + out.stderr
    listed = subprocess.run(["pkcs11-tool", "--module", SOFTHSM, "--token-label", "scratch", "--login",
                             "--pin", PIN, "--list-objects"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0 and "Object" not in listed.stdout, listed.stdout
