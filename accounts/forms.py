from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Account, Membership, User
from accounts.roles import Role


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.DEVELOPER)

    def __init__(self, *args: Any, membership: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Offer only what this member may grant; the model refuses the rest anyway.
        role = self.fields["role"]
        assert isinstance(role, forms.ChoiceField)
        role.choices = membership.grantable_roles()


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TeamForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, strip=True)


class MemberChoiceField(forms.ModelChoiceField[Membership]):
    def label_from_instance(self, obj: Membership) -> str:
        return f"{obj.user.email} ({obj.get_role_display()})"


class TransferForm(forms.Form):
    member = MemberChoiceField(queryset=Membership.objects.none(), label="New owner")

    def __init__(self, *args: Any, membership: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["member"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = membership.account.memberships.exclude(pk=membership.pk).select_related(
            "user"
        )


class ConfirmNameForm(forms.Form):
    """Type the account's name to close it: a slip of the mouse must not close an account."""

    confirm = forms.CharField(label="Type the account's name to confirm", max_length=100)

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account

    def clean_confirm(self) -> str:
        value: str = self.cleaned_data["confirm"].strip()
        if value != self.account.name:
            raise forms.ValidationError(f"Type “{self.account.name}” exactly to close it.")
        return value


class DeleteProfileForm(forms.Form):
    confirm = forms.CharField(label="Type your email address to confirm", max_length=254)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_confirm(self) -> str:
        value: str = self.cleaned_data["confirm"].strip()
        if value.lower() != self.user.email.lower():
            raise forms.ValidationError("That is not your email address.")
        return value


class ProfileForm(forms.ModelForm[User]):
    class Meta:
        model = User
        fields = ["first_name", "last_name"]


class ActivityFilterForm(forms.Form):
    action = forms.ChoiceField(required=False, label="Action")

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["action"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "All actions"), *((a, a) for a in actions)]
