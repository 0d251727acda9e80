"""The signature scheme, and the snippets docs/webhooks.md gives receivers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest

from tests.helpers import ROOT
from webhooks import signing

DOC = (ROOT / "docs" / "webhooks.md").read_text()
SECRET = "whsec_test"
BODY = b'{"id":"evt_1","type":"webhook.test"}'


def snippet(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", DOC, re.S)
    assert found, language
    return found.group(1)


def python_verify():
    namespace: dict = {}
    exec(snippet("python"), namespace)
    return namespace["verify"]


@pytest.mark.parametrize("verify", [python_verify(), None])
def test_valid_stale_and_forged_signatures(verify):
    verify = verify or (lambda s, h, b: signing.verify(s, h, b, int(time.time())))
    now = int(time.time())
    assert verify(SECRET, signing.header_value([SECRET], now, BODY), BODY)
    assert verify(SECRET, signing.header_value(["whsec_new", SECRET], now, BODY), BODY)
    assert not verify(SECRET, signing.header_value(["whsec_other"], now, BODY), BODY)
    assert not verify(SECRET, signing.header_value([SECRET], now, BODY), BODY + b" ")
    stale = now - signing.TOLERANCE_SECONDS - 5
    assert not verify(SECRET, signing.header_value([SECRET], stale, BODY), BODY)
    assert not verify(SECRET, "v1=abc", BODY)
    assert not verify(SECRET, f"t={now},t={now},v1=x", BODY)


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")
def test_the_javascript_snippet_agrees():
    now = int(time.time())
    cases = [
        (signing.header_value([SECRET], now, BODY), BODY, True),
        (signing.header_value(["whsec_other"], now, BODY), BODY, False),
        (signing.header_value([SECRET], now - 400, BODY), BODY, False),
    ]
    script = snippet("js") + "\n".join(
        f"console.log(verify({json.dumps(SECRET)}, {json.dumps(h)}, "
        f"Buffer.from({json.dumps(b.decode())})));"
        for h, b, _ in cases
    )
    output = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    assert output.stdout.split() == [str(ok).lower() for _, _, ok in cases]
