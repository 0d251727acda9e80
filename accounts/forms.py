from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.account.models import EmailAddress
from allauth.core import ratelimit
from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.addresses import canonical_email
from accounts.models import Account, Membership, User
from accounts.roles import Role


def unverified_claims(email: str) -> QuerySet[EmailAddress]:
    """Secondary addresses someone typed into their profile and never confirmed. Anyone can
    type anyone's address; only a confirmation proves it, so such a claim never blocks the
    address's owner."""
    return EmailAddress.objects.filter(email__iexact=email, verified=False, primary=False)


def is_claimed_only_unverified(email: str) -> bool:
    """Nobody holds `email` but by such claims: no login address, no confirmed address."""
    held = EmailAddress.objects.filter(email__iexact=email).exclude(pk__in=unverified_claims(email))
    return not held.exists() and not User.objects.filter(email__iexact=email).exists()


class SignupForm(AllauthSignupForm):
    """allauth's sign-up, with two changes (ACCOUNT_FORMS):

    - an address only claimed unverified by others is free: the claims give way and the owner
      signs up as anyone else would (allauth would send "account exists" and create nothing);
    - the answer for an address that has an account costs what a new account costs (the
      password is hashed on both paths), so its timing does not tell who has an account.
    """

    def validate_unique_email(self, value: str) -> str:
        if is_claimed_only_unverified(value):
            self.account_already_exists = False
            return str(get_adapter().validate_unique_email(value))
        return str(super().validate_unique_email(value))

    def try_save(self, request: HttpRequest) -> tuple[AbstractBaseUser | None, Any]:
        if self.account_already_exists:
            # The work a new account does (PBKDF2, ~0.2 s), for nothing but the timing.
            make_password(self.cleaned_data.get("password1"))
        return super().try_save(request)  # type: ignore[no-any-return]

    def save(self, request: HttpRequest) -> AbstractBaseUser:
        email = self.cleaned_data["email"]
        with transaction.atomic():
            gave_way, _ = unverified_claims(email).delete()
            if gave_way:
                # The claimant's verification mail to this address must not use up the one
                # allauth allows per address every few minutes: the owner gets theirs now.
                ratelimit.clear(request, action="confirm_email", key=email.lower())
            return super().save(request)


class CanonicalEmailField(forms.EmailField):
    """An email field whose value is the address's one spelling (accounts.addresses)."""

    def clean(self, value: Any) -> str:
        address: str = super().clean(value)
        return canonical_email(address) if address else address


class InviteForm(forms.Form):
    email = CanonicalEmailField(label="Email address", max_length=254)
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


def keys_choice(whose: str) -> forms.ChoiceField:
    """What becomes of the keys a departing member created; left out, they are revoked."""
    return forms.ChoiceField(
        label=f"The keys {whose} created",
        choices=[
            ("revoke", "Revoke them now (recommended): anything using them stops within a second"),
            (
                "keep",
                "Keep them working: the account goes on paying for them, and its keys page "
                "marks them for review",
            ),
        ],
        initial="revoke",
        required=False,
        widget=forms.RadioSelect,
    )


class KeysChoiceMixin:
    cleaned_data: dict[str, Any]

    @property
    def keeps_keys(self) -> bool:
        return self.cleaned_data.get("keys") == "keep"


class DepartureForm(KeysChoiceMixin, forms.Form):
    """Removing a member, or leaving: confirms, and says what becomes of their keys."""

    def __init__(self, *args: Any, whose: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["keys"] = keys_choice(whose)


class DeleteProfileForm(KeysChoiceMixin, forms.Form):
    confirm = forms.CharField(label="Type your email address to confirm", max_length=254)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["keys"] = keys_choice("you")

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
