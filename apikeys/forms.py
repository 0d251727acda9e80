from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from apikeys import restrictions
from apikeys.models import GRACE_PERIODS, TOKEN_LIFETIMES, Environment

GRACE_LABELS = {
    "none": "None: the old key stops now",
    "1h": "1 hour",
    "24h": "24 hours",
    "7d": "7 days",
}
# Built from the model's table, so the form can never offer a window the model does not know.
GRACE_CHOICES = [(value, GRACE_LABELS.get(value, value)) for value in GRACE_PERIODS]


def product_choices() -> list[tuple[str, str]]:
    from catalog.models import ApiProduct

    return [(p.slug, p.name) for p in ApiProduct.objects.exclude(visibility="private")]


class RestrictionsForm(forms.Form):
    name = forms.CharField(max_length=100)
    allowed_products = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every product your plan includes.",
    )
    allowed_methods = forms.MultipleChoiceField(
        required=False,
        choices=[(m, m) for m in restrictions.METHODS],
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every method.",
    )
    allowed_path_prefixes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "/v1/orders/"}),
        help_text="One per line. Empty: every path.",
    )
    allowed_ips = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "203.0.113.0/24"}),
        help_text="IP addresses or CIDR ranges, one per line. Empty: from anywhere.",
    )

    def __init__(
        self, *args: Any, products: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = product_choices() if products is None else products
        field = self.fields["allowed_products"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = choices

    def clean_allowed_products(self) -> list[str]:
        return restrictions.clean_products(self.cleaned_data["allowed_products"])

    def clean_allowed_methods(self) -> list[str]:
        return restrictions.clean_methods(self.cleaned_data["allowed_methods"])

    def clean_allowed_path_prefixes(self) -> list[str]:
        text = self.cleaned_data["allowed_path_prefixes"]
        return restrictions.clean_path_prefixes(restrictions.split_lines(text))

    def clean_allowed_ips(self) -> list[str]:
        return restrictions.clean_ips(restrictions.split_lines(self.cleaned_data["allowed_ips"]))

    @classmethod
    def initial_for(cls, key: Any) -> dict[str, Any]:
        return {
            "name": key.name,
            "allowed_products": key.allowed_products,
            "allowed_methods": key.allowed_methods,
            "allowed_path_prefixes": "\n".join(key.allowed_path_prefixes),
            "allowed_ips": "\n".join(key.allowed_ips),
        }

    def restriction_values(self) -> dict[str, list[str]]:
        return {k: v for k, v in self.cleaned_data.items() if k.startswith("allowed_")}


class CreateKeyForm(RestrictionsForm):
    environment = forms.ChoiceField(choices=Environment.choices, initial=Environment.LIVE)
    expires_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Optional (UTC). We email a reminder 7 days before.",
    )

    field_order = ["name", "environment", "expires_at"]

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("Pick a time in the future.")
        return expires_at


class RotateForm(forms.Form):
    grace = forms.ChoiceField(choices=GRACE_CHOICES, initial="24h", label="Old key keeps working")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “CI deploy script”.")
    expires_in_days = forms.TypedChoiceField(
        coerce=int,
        choices=list(TOKEN_LIFETIMES.items()),
        initial=90,
        label="Expires in",
    )
