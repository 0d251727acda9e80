"""Environment files read two ways: as systemd's EnvironmentFile= reads them, and as bash does
after `set -a; . FILE` (docs/operations.md). The examples must read alike both ways."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")
# Where systemd's rules and a shell's part ways (expansion, escapes, command substitution), or
# where this reader does not model systemd's: an example file has no business using them.
UNMODELLED = re.compile(r"[$`\\]")


class Unreadable(ValueError):
    pass


def systemd_reading(path: Path) -> dict[str, str]:
    """What systemd.exec(5) says EnvironmentFile= makes of the file, for the plain subset an
    example may use: `#`/`;` comments and blank lines skipped, surrounding whitespace dropped,
    a value wholly in "…" or '…' unquoted, any other value taken verbatim (interior spaces and
    `#` included). Anything outside that subset raises Unreadable, naming the line."""
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        match = ASSIGNMENT.fullmatch(stripped)
        if match is None or UNMODELLED.search(match[2]):
            raise Unreadable(f"{path.name}:{number}: {line!r}")
        values[match[1]] = unquoted(match[2].strip(), f"{path.name}:{number}")
    return values


def unquoted(value: str, where: str) -> str:
    if value[:1] in ("'", '"'):
        if len(value) < 2 or value[-1] != value[0] or value[0] in value[1:-1]:
            raise Unreadable(f"{where}: unbalanced quotes in {value!r}")
        return value[1:-1]
    return value


def bash_reading(path: Path, names: list[str]) -> tuple[dict[str, str], str]:
    """`set -a; . FILE; set +a` in a clean bash, then each of `names` as bash holds it (an unset
    one is missing), and what bash said on stderr."""
    script = (
        'set -a; . "$1"; set +a; shift; '
        'for n; do [ -n "${!n+x}" ] && printf "%s\\0%s\\0" "$n" "${!n}"; done'
    )
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", script, "bash", str(path), *names],
        env={"PATH": "/usr/bin:/bin"}, capture_output=True, check=False, cwd=path.parent,
    )  # fmt: skip
    fields = result.stdout.decode().split("\0")[:-1]
    return dict(zip(fields[::2], fields[1::2], strict=True)), result.stderr.decode()
