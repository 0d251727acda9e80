from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone
from django.utils.crypto import get_random_string

from accounts import audit
from accounts.models import Account, User
from accounts.roles import ROLE_PERMISSIONS, Perm
from apikeys import invalidation, keys
from core.audit import AuditContext
from webhooks import events as webhook_events

# An account without any plan (no default plan in the catalog) may hold this many live keys.
DEFAULT_MAX_LIVE_KEYS = 2
# Sandbox keys are never billed, so the plan does not cap them; this only stops runaway scripts.
MAX_TEST_KEYS = 25

GRACE_PERIODS: dict[str, timedelta] = {
    "none": timedelta(0),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
# How long a new personal access token lives, in days (0: until revoked); the tokens page and
# the API offer exactly these.
TOKEN_LIFETIMES: dict[int, str] = {30: "30 days", 90: "90 days", 365: "1 year", 0: "Never"}
RESTRICTION_FIELDS = (
    "allowed_products",
    "allowed_path_prefixes",
    "allowed_methods",
    "allowed_ips",
)


class KeyActionError(Exception):
    """A key action the rules refuse; `code` is stable and shown to API clients."""

    code = "invalid"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class KeyLimitReached(KeyActionError):
    code = "key_limit_reached"


class KeyNotActive(KeyActionError):
    code = "key_not_active"


PUBLIC_ID_LENGTH = 16  # base62 characters after "key_" or "pat_" (apikeys/converters.py)


def new_public_id() -> str:
    return "key_" + get_random_string(PUBLIC_ID_LENGTH, keys.BASE62)


def new_token_id() -> str:
    return "pat_" + get_random_string(PUBLIC_ID_LENGTH, keys.BASE62)


class Environment(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test (sandbox, never billed)"


KEY_MANAGING_ROLES = [role for role, perms in ROLE_PERMISSIONS.items() if Perm.MANAGE_KEYS in perms]


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self, now: datetime | None = None) -> ApiKeyQuerySet:
        """Keys that work now, including old keys still inside their grace window."""
        now = now or timezone.now()
        return self.filter(
            Q(revoked_at__isnull=True),
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            Q(grace_ends_at__isnull=True) | Q(grace_ends_at__gt=now),
        )

    def counted(self, now: datetime | None = None) -> ApiKeyQuerySet:
        """Active keys that count towards the plan's cap: a rotated-out key is on its way out."""
        return self.active(now).filter(grace_ends_at__isnull=True)

    def for_manager(self, user: User) -> ApiKeyQuerySet:
        """Keys of open accounts where `user` holds a role that may manage keys."""
        return self.filter(
            account__closed_at__isnull=True,
            account__memberships__user=user,
            account__memberships__role__in=KEY_MANAGING_ROLES,
        )

    def working_created_by(self, user: User, account: Account) -> ApiKeyQuerySet:
        """The keys of `account` that `user` created and that still work (a retiring one too):
        what leaving the account would leave in their hands."""
        return self.active().filter(account=account, created_by=user).order_by("created_at", "id")


class ApiKeyManager(models.Manager["ApiKey"]):
    def get_queryset(self) -> ApiKeyQuerySet:
        return ApiKeyQuerySet(self.model, using=self._db)

    def active(self, now: datetime | None = None) -> ApiKeyQuerySet:
        return self.get_queryset().active(now)

    def for_manager(self, user: User) -> ApiKeyQuerySet:
        return self.get_queryset().for_manager(user)

    def working_created_by(self, user: User, account: Account) -> ApiKeyQuerySet:
        return self.get_queryset().working_created_by(user, account)

    def for_raw_key(self, raw: str) -> ApiKey | None:
        """The key a raw key belongs to, or None; malformed keys never reach the database."""
        if not keys.is_well_formed(raw):
            return None
        return self.filter(key_hash=keys.hash_key(raw)).first()

    def issue(
        self,
        account: Account,
        *,
        name: str,
        environment: str = Environment.LIVE,
        created_by: User | None = None,
        expires_at: datetime | None = None,
        restrictions: Mapping[str, list[str]] | None = None,
        audit_context: AuditContext | None = None,
        enforce_limit: bool = True,
    ) -> tuple[ApiKey, str]:
        """Create a key; returns it with the raw key, which exists only in this return value."""
        with transaction.atomic():
            # Lock the account row so two simultaneous creates cannot both pass the cap check.
            account = Account.objects.select_for_update().get(pk=account.pk)
            if created_by is not None:
                check_may_still_manage_keys(account, created_by)
            if enforce_limit:
                check_room_for_key(account, environment)
            raw = keys.generate(environment)
            key = self.create(
                account=account,
                name=name,
                environment=environment,
                prefix=keys.display_prefix(raw),
                last4=raw[-4:],
                key_hash=keys.hash_key(raw),
                created_by=created_by,
                expires_at=expires_at,
                **dict(restrictions or {}),
            )
            audit.record(
                account,
                "key.created",
                actor=created_by,
                target=key.public_id,
                audit_context=audit_context,
                data={"name": name, "environment": environment},
            )
            key.announce("key.created")
        return key, raw

    def record_last_used(self, usage: Mapping[str, tuple[datetime, str | None]]) -> int:
        """Bulk-update last use from the usage flush: {public_id: (when, ip)}, one query.

        Never moves last_used_at backwards, so batches flushed out of order are harmless.
        Returns the number of keys updated.
        """
        if not usage:
            return 0
        ids = list(usage)
        ip_field = models.GenericIPAddressField()
        newer = Q()
        for public_id, (when, _) in usage.items():
            newer |= Q(public_id=public_id) & (
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=when)
            )
        return (
            self.filter(public_id__in=ids)
            .filter(newer)
            .update(
                last_used_at=Case(
                    *[When(public_id=pid, then=Value(when)) for pid, (when, _) in usage.items()],
                    default=models.F("last_used_at"),
                    output_field=models.DateTimeField(),
                ),
                last_used_ip=Case(
                    # Value(): a bare string in then= would be read as a field name.
                    *[
                        When(public_id=pid, then=Value(ip, output_field=ip_field))
                        for pid, (_, ip) in usage.items()
                    ],
                    default=models.F("last_used_ip"),
                    output_field=ip_field,
                ),
            )
        )

    def revoke_all_of(self, account: Account, *, actor: User | None = None) -> int:
        """Revoke every working key of an account (it is being closed). Returns how many."""
        now = timezone.now()
        with transaction.atomic():
            doomed = list(self.filter(account=account, revoked_at__isnull=True))
            self.filter(pk__in=[k.pk for k in doomed]).update(revoked_at=now)
            for key in doomed:
                audit.record(
                    account,
                    "key.revoked",
                    actor=actor,
                    target=key.public_id,
                    data={"reason": "account_closed"},
                )
                key.revoked_at = now
                key.announce("key.revoked", reason="account_closed")
            invalidation.publish_on_commit([k.key_hash for k in doomed])
        return len(doomed)


def max_keys(account: Account, environment: str) -> int:
    if environment == Environment.TEST:
        return MAX_TEST_KEYS
    plan = account.effective_plan()
    return plan.max_live_keys if plan is not None else DEFAULT_MAX_LIVE_KEYS


def check_room_for_key(account: Account, environment: str) -> None:
    limit = max_keys(account, environment)
    existing = ApiKey.objects.get_queryset().filter(account=account, environment=environment)
    count = existing.counted().count()
    if count >= limit:
        kind = "live" if environment == Environment.LIVE else "test"
        raise KeyLimitReached(
            f"This account may have {limit} working {kind} key{'s' if limit != 1 else ''}; "
            "revoke one before creating another."
        )


def check_may_still_manage_keys(account: Account, person: User) -> None:
    """Checked under the account's lock, which removing a member takes too: a key created while
    its creator was being removed would escape the revocation of their keys."""
    if not account.memberships.filter(user=person, role__in=KEY_MANAGING_ROLES).exists():
        raise KeyActionError(
            f"You are no longer a member of {account.name} with a role that may manage its "
            "keys, so the key was not created.",
            "not_a_member",
        )


class ApiKey(models.Model):
    """An API key of an account. The raw key is never stored: only its peppered HMAC."""

    public_id = models.CharField(max_length=24, unique=True, default=new_public_id, editable=False)
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    environment = models.CharField(max_length=4, choices=Environment)
    prefix = models.CharField(max_length=40, help_text="Shown to tell keys apart")
    last4 = models.CharField(max_length=4)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When the creator deleted their profile (created_by is empty then): the keys page tells such
    # a key, kept by their choice, from one the provider issued with no creator.
    creator_deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Set on the old key when it is rotated: it keeps working until then.
    grace_ends_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    # Restrictions; an empty list means "no restriction of this kind".
    allowed_products = models.JSONField(default=list, blank=True)  # product slugs
    allowed_path_prefixes = models.JSONField(default=list, blank=True)
    allowed_methods = models.JSONField(default=list, blank=True)
    allowed_ips = models.JSONField(default=list, blank=True)  # IPs or CIDRs
    expiry_reminder_sent_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "environment", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…{self.last4})"

    @property
    def masked(self) -> str:
        return f"{self.prefix}…{self.last4}"

    def is_usable(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return self.grace_ends_at is None or self.grace_ends_at > now

    def status(self, now: datetime | None = None) -> str:
        """One word for people and API clients: active, retiring, expired or revoked."""
        now = now or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if self.grace_ends_at is not None:
            return "retiring" if self.grace_ends_at > now else "revoked"
        return "active"

    def announce(self, event_type: str, *, once_per: str = "", **extra: str) -> None:
        """The customer's webhooks hear of it (call in the change's transaction); a key is
        created, rotated and revoked once, so its id (and `once_per`) names the occurrence."""
        data = {
            "id": self.public_id,
            "name": self.name,
            "environment": self.environment,
            "masked": self.masked,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "grace_ends_at": self.grace_ends_at.isoformat() if self.grace_ends_at else None,
            **extra,
        }
        occurrence = f"{event_type}:{self.public_id}{once_per}"
        webhook_events.emit(self.account, event_type, occurrence, {"key": data})

    def restrictions(self) -> dict[str, list[str]]:
        return {field: list(getattr(self, field)) for field in RESTRICTION_FIELDS}

    def _locked(self) -> ApiKey:
        return ApiKey.objects.select_for_update().get(pk=self.pk)

    def rotate(
        self,
        grace: timedelta,
        *,
        actor: User | None = None,
        audit_context: AuditContext | None = None,
    ) -> tuple[ApiKey, str]:
        """Replace this key with a new one; this one keeps working for `grace` (0: stops now).
        A key this one had replaced stops now, even inside its own grace: a chain of rotations
        keeps at most one retiring key beside its working one, so the live keys that work never
        exceed the plan's cap plus one retiring key per key.

        Returns the new key and its raw value, shown once.
        """
        if grace < timedelta(0):
            raise KeyActionError("The grace window cannot be negative.", "invalid_grace")
        with transaction.atomic():
            old = self._locked()  # a double click must not mint two successors
            now = timezone.now()
            if not old.is_usable(now) or old.grace_ends_at is not None:
                raise KeyNotActive(
                    "Only a working key that has not been rotated already can be rotated."
                )
            ended = old.end_predecessor_grace(now, actor=actor, audit_context=audit_context)
            new, raw = ApiKey.objects.issue(
                old.account,
                name=old.name,
                environment=old.environment,
                created_by=actor,
                expires_at=old.expires_at,
                restrictions=old.restrictions(),
                audit_context=audit_context,
                enforce_limit=False,  # the old key stops counting as it starts retiring
            )
            old.replaced_by = new
            if grace:
                old.grace_ends_at = now + grace
            else:
                old.revoked_at = now
            old.save(update_fields=["replaced_by", "grace_ends_at", "revoked_at"])
            audit.record(
                old.account,
                "key.rotated",
                actor=actor,
                target=old.public_id,
                audit_context=audit_context,
                data={"replaced_by": new.public_id, "grace_seconds": int(grace.total_seconds())},
            )
            old.announce("key.rotated", replaced_by=new.public_id)
            invalidation.publish_on_commit([old.key_hash, *ended])
        self.refresh_from_db()
        return new, raw

    def end_predecessor_grace(
        self, now: datetime, *, actor: User | None, audit_context: AuditContext | None
    ) -> list[str]:
        """Revoke the retiring key this one replaced, if it still works; its hash, to invalidate."""
        retiring = (
            ApiKey.objects.select_for_update()
            .filter(replaced_by=self, revoked_at__isnull=True, grace_ends_at__gt=now)
            .first()
        )
        if retiring is None:
            return []
        retiring._mark_revoked(
            now,
            "successor_rotated",
            actor=actor,
            audit_context=audit_context,
            data={"reason": "successor_rotated", "successor": self.public_id},
        )
        return [retiring.key_hash]

    def _mark_revoked(
        self,
        now: datetime,
        reason: str,
        *,
        actor: User | None,
        audit_context: AuditContext | None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Revoke this locked key: the row, its audit entry and its event, in the caller's
        transaction (the caller publishes the invalidation on commit)."""
        self.revoked_at = now
        self.save(update_fields=["revoked_at"])
        audit.record(
            self.account,
            "key.revoked",
            actor=actor,
            target=self.public_id,
            audit_context=audit_context,
            data=data,
        )
        self.announce("key.revoked", reason=reason)

    def revoke(
        self,
        *,
        actor: User | None = None,
        audit_context: AuditContext | None = None,
        reason: str = "revoked",
    ) -> bool:
        """Stop this key at once (also ends a grace window). False if it was already revoked.
        `reason` goes to the webhook event and, if it is not a plain revocation (e.g.
        "member_removed"), to the audit event."""
        with transaction.atomic():
            key = self._locked()
            if key.revoked_at is not None:
                return False
            key._mark_revoked(
                timezone.now(),
                reason,
                actor=actor,
                audit_context=audit_context,
                data={"reason": reason} if reason != "revoked" else None,
            )
            invalidation.publish_on_commit([key.key_hash])
        self.refresh_from_db()
        return True

    def update_details(
        self,
        changes: Mapping[str, Any],
        *,
        actor: User | None = None,
        audit_context: AuditContext | None = None,
    ) -> list[str]:
        """Change the name and/or restrictions (already validated). Returns the changed fields."""
        allowed = {"name", *RESTRICTION_FIELDS}
        unknown = set(changes) - allowed
        if unknown:
            raise KeyActionError(f"Cannot change {', '.join(sorted(unknown))}.", "invalid")
        with transaction.atomic():
            key = self._locked()
            if key.revoked_at is not None:
                raise KeyNotActive("A revoked key cannot be edited.")
            changed = [f for f, value in changes.items() if getattr(key, f) != value]
            if not changed:
                return []
            for field in changed:
                setattr(key, field, changes[field])
            key.save(update_fields=changed)
            audit.record(
                key.account,
                "key.updated",
                actor=actor,
                target=key.public_id,
                audit_context=audit_context,
                data={field: changes[field] for field in changed},
            )
            invalidation.publish_on_commit([key.key_hash])
        self.refresh_from_db()
        return changed


class PersonalAccessTokenQuerySet(models.QuerySet["PersonalAccessToken"]):
    def active(self, now: datetime | None = None) -> PersonalAccessTokenQuerySet:
        now = now or timezone.now()
        return self.filter(
            Q(revoked_at__isnull=True), Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class PersonalAccessTokenManager(models.Manager["PersonalAccessToken"]):
    def get_queryset(self) -> PersonalAccessTokenQuerySet:
        return PersonalAccessTokenQuerySet(self.model, using=self._db)

    def active(self) -> PersonalAccessTokenQuerySet:
        return self.get_queryset().active()

    def for_raw_token(self, raw: str) -> PersonalAccessToken | None:
        """The working token a raw `tg_pat_…` value belongs to; malformed ones cost no query."""
        if not keys.is_well_formed_token(raw):
            return None
        return (
            self.active()
            .select_related("user")
            .filter(token_hash=keys.hash_key(raw), user__is_active=True)
            .first()
        )

    def issue(
        self,
        user: User,
        *,
        name: str,
        expires_at: datetime | None = None,
        audit_context: AuditContext | None = None,
    ) -> tuple[PersonalAccessToken, str]:
        raw = keys.generate_token()
        with transaction.atomic():
            token = self.create(
                user=user,
                name=name,
                prefix=keys.display_prefix(raw),
                last4=raw[-4:],
                token_hash=keys.hash_key(raw),
                expires_at=expires_at,
            )
            _audit_token(token, "token.created", audit_context)
        return token, raw


def token_expiry(days: int) -> datetime | None:
    """When a token made now for `days` (one of TOKEN_LIFETIMES) expires; None for never."""
    return timezone.now() + timedelta(days=days) if days else None


def _audit_token(
    token: PersonalAccessToken, action: str, audit_context: AuditContext | None
) -> None:
    # A token belongs to a person, not a team: its events go to the person's own account.
    account = (
        Account.objects.filter(
            memberships__user=token.user, memberships__role="owner", is_personal=True
        )
        .order_by("id")
        .first()
    )
    if account is not None:
        audit.record(
            account,
            action,
            actor=token.user,
            target=token.public_id,
            audit_context=audit_context,
            data={"name": token.name},
        )


class PersonalAccessToken(models.Model):
    """A person's token for the portal's REST API (``tg_pat_…``), hashed like API keys."""

    public_id = models.CharField(max_length=24, unique=True, default=new_token_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=40)
    last4 = models.CharField(max_length=4)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = PersonalAccessTokenManager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…{self.last4})"

    @property
    def masked(self) -> str:
        return f"{self.prefix}…{self.last4}"

    def revoke(self, *, audit_context: AuditContext | None = None) -> bool:
        with transaction.atomic():
            updated = PersonalAccessToken.objects.filter(
                pk=self.pk, revoked_at__isnull=True
            ).update(revoked_at=timezone.now())
            if updated:
                _audit_token(self, "token.revoked", audit_context)
        self.refresh_from_db()
        return bool(updated)

    def touch(self, now: datetime | None = None) -> None:
        """Record use at most once a minute, so a busy script does not write on every call."""
        now = now or timezone.now()
        if self.last_used_at is None or now - self.last_used_at > timedelta(minutes=1):
            PersonalAccessToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


def emails_to_remind(key: ApiKey) -> list[str]:
    """The account's owners and the key's creator while still a member, each once: a team
    that kept a departed member's key does not write to them about it."""
    recipients: Iterable[str] = [u.email for u in key.account.owners()]
    creator = key.created_by
    if creator is not None and creator.is_active and is_member(creator, key.account):
        recipients = [*recipients, creator.email]
    return sorted(set(recipients))


def is_member(person: User, account: Account) -> bool:
    return account.memberships.filter(user=person).exists()


def keys_of_former_members(account: Account, keys: Iterable[ApiKey]) -> set[str]:
    """The public ids of those `keys` whose creator is no longer a member of `account` (removed,
    left, or deleted their profile): the keys page marks them for the team to review."""
    members = set(account.memberships.values_list("user_id", flat=True))
    return {
        key.public_id
        for key in keys
        if key.creator_deleted_at is not None
        or (key.created_by_id is not None and key.created_by_id not in members)
    }
