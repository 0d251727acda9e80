from __future__ import annotations

from django import template

from requestlog.reasons import reason_words as words

register = template.Library()


@register.filter
def reason_words(reason: str) -> str:
    return words(reason)


@register.filter
def get_item(mapping: dict[str, str], key: str) -> str | None:
    return mapping.get(key)
