"""Every shipped environment file reads the same to systemd (EnvironmentFile=), to bash (`set -a;
. FILE`, as docs/operations.md loads it for manage.py) and, for compose.env, to compose."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT
from tests.portal.env_files import Unreadable, bash_reading, systemd_reading

EXAMPLES = sorted((ROOT / "deploy").glob("**/*.env.example"))


def test_there_are_examples_to_check():
    names = {path.name for path in EXAMPLES}
    assert {"compose.env.example", "tollgate.env.example", "nginx.env.example"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_bash_and_systemd_read_each_example_alike(path):
    expected = systemd_reading(path)
    assert expected, f"{path.name} sets nothing"
    sourced, complaints = bash_reading(path, list(expected))
    assert complaints == ""
    assert sourced == expected


def test_compose_env_needs_no_quotes():
    """compose implementations unquote env_file values differently (podman-compose's older
    readers keep the quotes): its example uses values that need none."""
    for name, value in systemd_reading(ROOT / "deploy" / "compose.env.example").items():
        assert value.strip() == value and " " not in value and "#" not in value, name
        assert not value.startswith(("'", '"')), name


def test_the_checks_catch_the_unquoted_value_that_broke_sourcing(tmp_path):
    broken = tmp_path / "broken.env"
    broken.write_text("DEFAULT_FROM_EMAIL=Tollgate <noreply@example.com>\n")
    sourced, complaints = bash_reading(broken, ["DEFAULT_FROM_EMAIL"])
    assert complaints and sourced != systemd_reading(broken)
    commented = tmp_path / "comment.env"
    commented.write_text("BROKER=/etc/broker_url   # unset: REDIS_URL\n")
    assert bash_reading(commented, ["BROKER"])[0] != systemd_reading(commented)
    expanded = tmp_path / "expanded.env"
    expanded.write_text("TOKEN=a$b\n")
    with pytest.raises(Unreadable, match=r"expanded\.env:1"):
        systemd_reading(expanded)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_each_commented_out_setting_reads_alike_once_uncommented(path, tmp_path):
    lines = [line.removeprefix("#").strip() for line in path.read_text().splitlines()]
    assignments = [line for line in lines if re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S.*", line)]
    uncommented = tmp_path / path.name
    uncommented.write_text("\n".join(assignments) + "\n")
    expected = systemd_reading(uncommented)
    sourced, complaints = bash_reading(uncommented, list(expected))
    assert (sourced, complaints) == (expected, "")
