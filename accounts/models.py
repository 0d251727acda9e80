from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models, transaction
from django.utils.crypto import get_random_string
from django.utils.text import slugify

from accounts.roles import Perm, Role, role_allows

if TYPE_CHECKING:
    from catalog.models import Plan


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields: Any) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractUser):
    """A person. Email is the login; the billing entity is the Account they belong to."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()  # type: ignore[misc]

    def __str__(self) -> str:
        return self.email


class AccountQuerySet(models.QuerySet["Account"]):
    def for_user(self, user: User) -> AccountQuerySet:
        return self.filter(memberships__user=user, closed_at__isnull=True)

    def open(self) -> AccountQuerySet:
        return self.filter(closed_at__isnull=True)


class AccountManager(models.Manager["Account"]):
    def get_queryset(self) -> AccountQuerySet:
        return AccountQuerySet(self.model, using=self._db)

    def for_user(self, user: User) -> AccountQuerySet:
        return self.get_queryset().for_user(user)

    @transaction.atomic
    def create_with_owner(self, name: str, owner: User, *, is_personal: bool = False) -> Account:
        account = self.create(name=name, slug=unique_slug(name), is_personal=is_personal)
        Membership.objects.create(account=account, user=owner, role=Role.OWNER)
        return account

    def by_slug_or_owner_email(self, value: str) -> Account:
        """For admin commands: an account by slug, or the personal account of an owner's email."""
        if "@" in value:
            return self.get(
                memberships__user__email__iexact=value,
                memberships__role=Role.OWNER,
                is_personal=True,
            )
        return self.get(slug=value)


def unique_slug(name: str) -> str:
    base = slugify(name)[:40] or "account"
    slug = base
    while Account.objects.filter(slug=slug).exists():
        slug = f"{base}-{get_random_string(6, 'abcdefghijklmnopqrstuvwxyz0123456789')}"
    return slug


class Account(models.Model):
    """The team and billing entity: keys, usage, plan and invoices belong to an account."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    is_personal = models.BooleanField(default=False)
    # None means the catalog's default (free) plan; billing sets it from Stripe's data.
    plan = models.ForeignKey(
        "catalog.Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = AccountManager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def effective_plan(self) -> Plan | None:
        from catalog.models import Plan

        return self.plan or Plan.objects.filter(is_default=True).first()

    def owners(self) -> models.QuerySet[User]:
        return User.objects.filter(memberships__account=self, memberships__role=Role.OWNER)


class Membership(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "user"], name="accounts_membership_once")
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} as {self.role}"

    def can(self, perm: Perm | str) -> bool:
        return role_allows(self.role, Perm(perm))


class AuditEvent(models.Model):
    """Who did what to which account; written only through accounts.audit.record()."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=60, db_index=True)
    target = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"
