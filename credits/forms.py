from __future__ import annotations

from typing import Any

from django import forms

from catalog.models import CreditPack
from credits.models import CreditWallet

MAX_UNITS = 10**12


class TopUpForm(forms.Form):
    auto_topup = forms.BooleanField(required=False, label="Top up automatically")
    topup_pack = forms.ModelChoiceField(
        queryset=CreditPack.objects.filter(is_retired=False).exclude(stripe_price_id=""),
        required=False,
        label="Pack to buy",
        to_field_name="slug",
    )
    topup_below = forms.IntegerField(min_value=0, max_value=MAX_UNITS, label="When fewer than")
    low_balance_below = forms.IntegerField(min_value=0, max_value=MAX_UNITS, label="Email me below")

    def __init__(self, *args: Any, wallet: CreditWallet, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "auto_topup": wallet.auto_topup,
                "topup_pack": wallet.topup_pack,
                "topup_below": wallet.topup_below,
                "low_balance_below": wallet.low_balance_below,
            },
        )
        super().__init__(*args, **kwargs)
        self.wallet = wallet

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("auto_topup") and not data.get("topup_pack"):
            raise forms.ValidationError("Choose the pack automatic top-up buys.")
        if data.get("auto_topup") and not self.wallet.stripe_payment_method_id:
            raise forms.ValidationError("No saved card yet: buy a pack first.")
        return data

    def save(self) -> None:
        data = self.cleaned_data
        CreditWallet.objects.filter(pk=self.wallet.pk).update(
            auto_topup=data["auto_topup"],
            topup_pack=data["topup_pack"],
            topup_below=data["topup_below"],
            low_balance_below=data["low_balance_below"],
        )
