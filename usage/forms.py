from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms

from usage.models import UsagePreferences

MAX_EXPORT_DAYS = 400
# No usage lies anywhere near it, and the export's arithmetic (the day after `end`) must not
# run off the end of the calendar (date.max is 9999-12-31): later dates are refused.
LAST_EXPORT_DAY = date(2999, 12, 31)
TOO_LATE = f"Choose a date on or before {LAST_EXPORT_DAY.isoformat()}."


def check_exportable(day: date) -> date:
    if day > LAST_EXPORT_DAY:
        raise forms.ValidationError(TOO_LATE, code="too_late")
    return day


class ExportForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    by = forms.ChoiceField(choices=[("day", "By day"), ("hour", "By hour")], initial="day")

    def clean_start(self) -> date:
        return check_exportable(self.cleaned_data["start"])

    def clean_end(self) -> date:
        return check_exportable(self.cleaned_data["end"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError("The end date must be on or after the start date.")
            if end - start > timedelta(days=MAX_EXPORT_DAYS):
                raise forms.ValidationError(f"Export at most {MAX_EXPORT_DAYS} days at a time.")
        return data


class PreferencesForm(forms.ModelForm[UsagePreferences]):
    extra_thresholds = forms.CharField(
        required=False,
        label="Extra alert thresholds (%)",
        help_text="Comma-separated percentages of the period quota, e.g. 50, 150. "
        "Alerts at 80% and 100% are always sent.",
    )

    class Meta:
        model = UsagePreferences
        fields = ["extra_thresholds", "spend_cap"]
        labels = {"spend_cap": "Overage spend cap"}
        help_texts = {
            "spend_cap": "Stop calls once this period's overage would cost more. Empty: no cap."
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance and not self.is_bound:
            self.initial["extra_thresholds"] = ", ".join(
                str(t) for t in self.instance.extra_thresholds
            )

    def clean_extra_thresholds(self) -> list[int]:
        raw = self.cleaned_data["extra_thresholds"] or ""
        try:
            values = sorted({int(part) for part in raw.replace(" ", "").split(",") if part})
        except ValueError:
            raise forms.ValidationError(
                "Use whole numbers separated by commas, e.g. 50, 150."
            ) from None
        if any(not 1 <= value <= 1000 for value in values):
            raise forms.ValidationError("Each threshold must be between 1 and 1000 percent.")
        return values

    def clean_spend_cap(self) -> Any:
        cap = self.cleaned_data["spend_cap"]
        if cap is not None and cap < 0:
            raise forms.ValidationError("The cap cannot be negative.")
        return cap

    def audit_data(self) -> dict[str, Any]:
        cap = self.cleaned_data["spend_cap"]
        return {
            "extra_thresholds": self.cleaned_data["extra_thresholds"],
            "spend_cap": str(cap) if cap is not None else None,
        }
