"""The README's "Using it from a script" shell example runs as written, with only curl and python3.

Its commands are taken from the README itself, so an edit that breaks them (or brings back a
tool such as ``jq`` that the README does not list) fails here. Only the server's address and the
placeholder password are replaced; the shell runs with a ``PATH`` holding nothing but ``curl``
and ``python3``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from importer.models import ImportJob
from tests.support.processes import ROOT, running_daphne

README = ROOT / "README.md"
EXAMPLE_ADDRESS = "http://127.0.0.1:8000"
PASSWORD = "script-example-4242"


def script_example() -> list[str]:
    """The commands of the first ``sh`` block under "## Using it from a script", comments dropped."""
    text = README.read_text()
    section = text.split("## Using it from a script", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands, current = [], ""
    for line in block.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line + "\n"
        if not line.endswith("\\"):
            commands.append(current)
            current = ""
    return commands


def only_curl_and_python(bin_dir: Path) -> str:
    bin_dir.mkdir()
    (bin_dir / "curl").symlink_to(shutil.which("curl"))
    (bin_dir / "python3").symlink_to(sys.executable)
    return str(bin_dir)


@pytest.mark.e2e
@pytest.mark.slow
def test_the_readme_token_example_works_verbatim_without_jq(
    transactional_db, process_logs, tmp_path, django_user_model, settings
):
    # The server checks the password with the project's real hashers, not the fast one these
    # tests use in process (tests/api/conftest.py).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    alice = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    token, upload = script_example()[:2]
    assert "TOKEN=$(" in token and "jq" not in token
    assert "-F file=@products.csv" in upload
    (tmp_path / "products.csv").write_bytes(b"sku,name\nA-1,One\n")
    with running_daphne(process_logs) as (_, url):
        script = (
            token.replace(EXAMPLE_ADDRESS, url).replace('"password":"…"', f'"password":"{PASSWORD}"')
            + 'echo "token=$TOKEN"\n'
            + upload.replace(EXAMPLE_ADDRESS, url)
        )
        completed = subprocess.run(
            ["/bin/bash", "-e", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": only_curl_and_python(tmp_path / "bin"), "HOME": str(tmp_path)},
        )
    assert completed.returncode == 0, completed.stderr
    assert f"token={Token.objects.get(user=alice).key}\n" in completed.stdout
    assert ImportJob.objects.filter(owner=alice, filename="products.csv").count() == 1
