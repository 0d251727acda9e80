"""Typed readers for environment variables.

Every reader raises ImproperlyConfigured naming the variable when a value is present but
malformed, so a typo in production fails at start-up instead of silently using a default.
A secret can also be given as a file (``NAME_FILE=/run/secrets/name``), the way container
orchestrators mount them.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def env_str(name: str, default: str = "", environ: Mapping[str, str] = os.environ) -> str:
    return environ.get(name, default)


def env_bool(name: str, default: bool, environ: Mapping[str, str] = os.environ) -> bool:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, not {raw!r}")


def env_int(
    name: str,
    default: int,
    environ: Mapping[str, str] = os.environ,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {value}")
    return value


def env_list(name: str, default: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(
    name: str, default: str, choices: tuple[str, ...], environ: Mapping[str, str] = os.environ
) -> str:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return value


def env_colour(name: str, default: str, environ: Mapping[str, str] = os.environ) -> str:
    """A CSS colour as #rgb or #rrggbb: it is written into a stylesheet, so nothing else."""
    raw = (environ.get(name) or default).strip()
    if not re.fullmatch(r"#(?:[0-9a-fA-F]{3}){1,2}", raw):
        raise ImproperlyConfigured(f"{name} must be a colour such as #3b5bdb, not {raw!r}")
    return raw.lower()


def env_dir(name: str, environ: Mapping[str, str] = os.environ) -> str:
    """An existing directory, or "" when unset."""
    raw = (environ.get(name) or "").strip()
    if raw and not os.path.isdir(raw):
        raise ImproperlyConfigured(f"{name} must be an existing directory, not {raw!r}")
    return raw


DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def env_dotted_path(name: str, environ: Mapping[str, str] = os.environ) -> str:
    """A class named by its import path (package.module.Class), whose module exists; "" when
    unset. The module is found, not imported: settings load before any app."""
    raw = (environ.get(name) or "").strip()
    if not raw:
        return ""
    module = raw.rpartition(".")[0]
    try:
        found = DOTTED_PATH.fullmatch(raw) is not None and (
            importlib.util.find_spec(module) is not None
        )
    except ImportError:
        found = False
    if not found:
        raise ImproperlyConfigured(
            f"{name} must be the import path of a class, such as "
            f"django.core.mail.backends.smtp.EmailBackend, not {raw!r}"
        )
    return raw


def env_secret(name: str, environ: Mapping[str, str] = os.environ) -> str:
    """The secret from NAME, or from the file named by NAME_FILE; empty when neither is set."""
    path = environ.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as error:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {error}") from None
    return environ.get(name, "")


def env_url(name: str, default: str, environ: Mapping[str, str] = os.environ) -> str:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    if "://" not in raw:
        raise ImproperlyConfigured(f"{name} must be a URL such as scheme://host/..., not {raw!r}")
    return raw.strip()


def env_secret_url(name: str, default: str, environ: Mapping[str, str] = os.environ) -> str:
    """A URL that may carry a password: from NAME or from the file NAME_FILE names."""
    raw = env_secret(name, environ)
    return env_url(name, default, {name: raw}) if raw else default


def env_network(name: str, value: str) -> str:
    """One network of a list setting (10.0.0.0/8, 192.0.2.7, 2001:db8::/32), normalised."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ImproperlyConfigured(f"{name}: {value!r} is not an IP network") from None


# What would end a word, a directive or a string in nginx's config, or start a variable or a
# comment there: never in a value gateway_config writes into it (as a regex character class).
NGINX_UNSAFE_CHARACTERS = r"\s;{}'\"$#\\"
# A unix socket's address, as nginx spells it: an absolute path nginx's config reads as one word,
# within the kernel's 107 bytes.
UNIX_ADDRESS = re.compile(f"unix:(/[^{NGINX_UNSAFE_CHARACTERS}]{{1,106}})")


def env_address(
    name: str, default: str, environ: Mapping[str, str] = os.environ, unix: bool = False
) -> str:
    """A ``host:port`` to listen on or connect to (``[::1]:8002`` for IPv6); with `unix`, also
    ``unix:/absolute/path`` for a unix socket."""
    raw = (environ.get(name) or default).strip()
    if unix and raw.startswith("unix:"):
        if not UNIX_ADDRESS.fullmatch(raw):
            raise ImproperlyConfigured(
                f"{name} must be host:port or unix:/absolute/path (at most 106 bytes), not {raw!r}"
            )
        return raw
    try:
        port = urlsplit(f"//{raw}").port
    except ValueError:
        port = None
    if not port or not urlsplit(f"//{raw}").hostname or "/" in raw:
        raise ImproperlyConfigured(f"{name} must be host:port, such as 127.0.0.1:8002, not {raw!r}")
    return raw


def kombu_redis_url(url: str) -> str:
    """Celery's (kombu's) spelling of a redis-py URL: unix sockets differ."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url
