"""One spelling for every email address a person types into Tollgate.

Mail servers read `"victim"@example.com`, `"v\\ictim"@example.com`, `Victim@example.com` and
victim@example.com with a full-width e (U+FF45) in the domain as one mailbox, and Django's SMTP
backend sends all of them to victim@example.com. A limit, a uniqueness check or a hash keyed on
the typed text would count each spelling apart: every address is therefore brought to its
canonical form before it is stored, compared, rate-limited or hashed, or refused when it has
none.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.mail.message import sanitize_address
from django.core.validators import validate_email
from django.utils.encoding import punycode

MAX_LENGTH = 254  # the EmailFields' (RFC 5321's path limit)

# Nobody needs these to receive mail, and each gives one mailbox many spellings.
NOT_PLAIN_CHARACTERS = ('"', "\\", "[", "]")
NOT_PLAIN = "Enter a plain address like name@example.com, without quotation marks or backslashes."


def canonical_email(typed: str) -> str:
    """`typed` as Tollgate keeps it: lower-cased (allauth and the product compare addresses
    without case), the domain in the ASCII form mail is sent to, and nothing that mail would
    read differently. ValidationError if no such form exists."""
    address = typed.strip().lower()
    if any(character in address for character in NOT_PLAIN_CHARACTERS):
        raise ValidationError(NOT_PLAIN, code="not_plain_email")
    validate_email(address)
    local_part, _, domain = address.rpartition("@")
    try:
        address = f"{local_part}@{punycode(domain)}"
        sent_to = sanitize_address(address, "utf-8")
    except (UnicodeError, ValueError):
        raise ValidationError(NOT_PLAIN, code="not_plain_email") from None
    if sent_to != address:  # mail would go to another spelling: that one is the address
        raise ValidationError(NOT_PLAIN, code="not_plain_email")
    if len(address) > MAX_LENGTH:
        raise ValidationError("This address is too long.", code="max_length")
    return address


def validate_canonical_email(value: str) -> None:
    """For model fields (the admin's forms): only the canonical spelling is stored."""
    canonical = canonical_email(value)
    if value != canonical:
        raise ValidationError(f"Enter this address as {canonical}.", code="not_canonical_email")
