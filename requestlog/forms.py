from __future__ import annotations

from typing import Any

from django import forms

from requestlog.reasons import REASON_WORDS

OUTCOMES = [("", "All calls"), ("ok", "Answered"), ("refused", "Refused")]
OUTCOMES += [(reason, words) for reason, words in REASON_WORDS.items()]


class RequestFilterForm(forms.Form):
    """The request log's filters; an invalid value is dropped, never a 500."""

    key = forms.ChoiceField(label="Key", required=False)
    outcome = forms.ChoiceField(label="Outcome", choices=OUTCOMES, required=False)
    status = forms.IntegerField(label="Status", required=False, min_value=100, max_value=599)
    path = forms.CharField(label="Path contains", required=False, max_length=200)

    def __init__(self, *args: Any, keys: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = [("", "All keys"), *keys]  # type: ignore[attr-defined]  # django-stubs: Field has no choices
