"""The AWS SDK for JavaScript v3 (npm, pinned in tests/js/package-lock.json)
against the real server: node runs tests/js/sdk_compat.test.mjs once, and
each of its tests is one test here, so a failure names the SDK call that
broke. scripts/run-tests.sh installs the packages with `npm ci`."""
import os
import re
import subprocess

import pytest

JS_DIR = os.path.join(os.path.dirname(__file__), "..", "js")
SCRIPT = "sdk_compat.test.mjs"


def js_test_names():
    with open(os.path.join(JS_DIR, SCRIPT), encoding="utf-8") as f:
        return re.findall(r'^test\("(.+?)", async', f.read(), re.M)


@pytest.fixture(scope="module")
def node_results(server):
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    assert int(version.lstrip("v").split(".")[0]) >= 20, \
        f"node {version} is older than the pinned SDK supports (>= 20); scripts/run-tests.sh installs one"
    modules = os.path.join(JS_DIR, "node_modules", "@aws-sdk")
    assert os.path.isdir(modules), "tests/js/node_modules is missing: run `npm ci` in tests/js"
    ak, sk = server.credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"RAMPART_ENDPOINT": server.endpoint, "AWS_ACCESS_KEY_ID": ak,
                "AWS_SECRET_ACCESS_KEY": sk, "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "NODE_NO_WARNINGS": "1"})
    r = subprocess.run(["node", "--test", "--test-reporter=tap", SCRIPT], cwd=JS_DIR, env=env,
                       capture_output=True, text=True, timeout=300)
    results = {}
    for m in re.finditer(r"^(not ok|ok) \d+ - (.+)$", r.stdout, re.M):
        results[m.group(2)] = m.group(1) == "ok"
    return results, r.stdout + r.stderr


def test_every_js_test_is_known():
    # Guards the parametrisation below: a renamed or new JS test must be
    # picked up, not silently dropped.
    assert len(js_test_names()) >= 15


@pytest.mark.parametrize("name", js_test_names())
def test_js_sdk(node_results, name):
    results, output = node_results
    assert name in results, f"node did not run {name!r}:\n{output[-4000:]}"
    if not results[name]:
        start = output.find(f"- {name}")
        pytest.fail(f"JavaScript SDK test failed: {name}\n{output[start:start + 3000]}")
