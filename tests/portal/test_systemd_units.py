"""The systemd units as docs/operations.md uses them: `systemctl reload tollgate-nginx` is how
nginx's config is re-rendered in production, and every unit's command line is filled from the
environment files it loads."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT
from tests.portal.env_files import systemd_reading

UNITS = sorted((ROOT / "deploy" / "systemd").glob("tollgate-*.service"))


def directives(unit, name: str) -> list[str]:
    return re.findall(rf"^{name}=(.*)$", unit.read_text(), flags=re.MULTILINE)


def test_reloading_nginx_renders_as_its_start_does_then_signals_that_nginx():
    unit = ROOT / "deploy" / "systemd" / "tollgate-nginx.service"
    (render,) = directives(unit, "ExecStartPre")
    assert " manage.py gateway_config --run-dir ${NGINX_RUN_DIR} " in render
    assert directives(unit, "ExecReload") == [render, "/bin/kill -HUP $MAINPID"]
    (start,) = directives(unit, "ExecStart")
    assert start.startswith("/usr/sbin/nginx -p ${NGINX_RUN_DIR} -c ${NGINX_RUN_DIR}/nginx.conf")


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_every_variable_a_command_line_uses_is_in_the_units_examples(unit):
    loaded = {}
    for path in directives(unit, "EnvironmentFile"):
        example = ROOT / "deploy" / "systemd" / (path.rsplit("/", 1)[-1] + ".example")
        loaded.update(systemd_reading(example))
    for line in directives(unit, "Exec[A-Za-z]*"):
        for name in re.findall(r"\$\{(\w+)\}", line):
            assert name in loaded, f"{unit.name} uses ${{{name}}}, which its examples do not set"
