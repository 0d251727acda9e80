from __future__ import annotations

from django import forms

from webhooks import targets
from webhooks.models import SUBSCRIBABLE


class EndpointForm(forms.Form):
    url = forms.URLField(max_length=2000, label="Endpoint URL", assume_scheme="https")
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        choices=[(t.value, f"{t.value} — {t.label}") for t in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
        label="Events",
    )

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        validate_target(url)
        return url


def validate_target(url: str) -> None:
    try:
        targets.check(url)
    except targets.UnsafeTarget as exc:
        raise forms.ValidationError(str(exc), code=exc.code) from exc
