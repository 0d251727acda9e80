from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core import signing
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.text import slugify

from accounts.addresses import canonical_email, validate_canonical_email
from accounts.roles import Perm, Role, role_allows
from core.audit import AuditContext
from core.links import site_url
from core.signals import account_closed, membership_ended
from portal import throttle
from portal.throttle import Limit

if TYPE_CHECKING:
    from catalog.models import Plan


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields: Any) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=canonical_email(email), **fields)
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

    # Email is the login: no username field (the stubs cannot express removing a field).
    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True, validators=[validate_canonical_email])

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    # Email login needs its own manager; the stubs type AbstractUser.objects as Django's
    # username-based UserManager.
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email

    @transaction.atomic
    def delete_profile(
        self, audit_context: AuditContext | None = None, *, keep_keys: bool = False
    ) -> None:
        """Remove the person: accounts only they belong to close, they leave the others (the
        keys they created there revoked unless `keep_keys`, as when leaving). Refused
        (MembershipError) while they are the last owner of an account with others in it."""

        memberships = list(self.memberships.select_related("account").order_by("account_id"))
        accounts = [lock_account(m.account) for m in memberships]
        stuck = [
            m.account.name
            for m in memberships
            if m.is_last_owner() and m.account.memberships.exclude(user=self).exists()
        ]
        if stuck:
            raise MembershipError(
                "You are the last owner of " + ", ".join(sorted(stuck)) + ". Transfer "
                "ownership or close those accounts first."
            )
        for account in accounts:
            if account.memberships.exclude(user=self).exists():
                AuditEvent.objects.record(
                    account,
                    "member.deleted_profile",
                    actor=self,
                    target="(deleted person)",
                    data={"keys": key_decision(keep_keys)},
                )
                withdraw_invitations_of(self, account, None, actor=None, reason="inviter_left")
                membership_ended.send(
                    sender=User,
                    account=account,
                    user=self,
                    keep_keys=keep_keys,
                    reason="profile_deleted",
                    actor=self,
                    audit_context=audit_context,
                )
            elif account.closed_at is None:
                account.mark_closed(actor=None, audit_context=audit_context)
        # Personal data: the audit log keeps what happened, not who it was.
        AuditEvent.objects.filter(target__iexact=self.email).update(target="(deleted person)")
        self.delete()


class AccountQuerySet(models.QuerySet["Account"]):
    def for_user(self, user: User) -> AccountQuerySet:
        return self.filter(memberships__user=user, closed_at__isnull=True)

    def open(self) -> AccountQuerySet:
        return self.filter(closed_at__isnull=True)


# No plan set (the catalog's free default) or one that costs nothing a month: what
# FREE_ACCOUNTS_PER_OWNER counts.
ON_A_FREE_PLAN = models.Q(plan__isnull=True) | models.Q(plan__monthly_price=0)


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

    def free_owned_by(self, owner: User) -> AccountQuerySet:
        """Open accounts `owner` owns on a free plan (none set: the catalog's free default)."""
        return (
            self.get_queryset()
            .open()
            .filter(memberships__user=owner, memberships__role=Role.OWNER)
            .filter(ON_A_FREE_PLAN)
        )

    @transaction.atomic
    def create_team(self, name: str, owner: User) -> Account:
        """A new team account owned by `owner`, within FREE_ACCOUNTS_PER_OWNER: every new
        account starts free with its own quota, so one person may not multiply it at will."""
        # Two creates at once queue on the person's row, so both cannot pass the count.
        User.objects.select_for_update().filter(pk=owner.pk).first()
        allowed = settings.FREE_ACCOUNTS_PER_OWNER
        if self.free_owned_by(owner).count() >= allowed:
            raise MembershipError(
                f"You already own {allowed} accounts on the free plan, as many as one person "
                "may. Choose a paid plan for one of them, or close one, to create another."
            )
        return self.create_with_owner(name, owner)

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

    @transaction.atomic
    def invite(
        self, email: str, role: str, *, by: Membership, audit_context: AuditContext | None = None
    ) -> Invitation:
        """Invite `email` with `role`; a new invitation replaces a pending one to the same address.
        The email goes out once the transaction commits."""

        email = canonical_email(email)  # the per-recipient limit counts mailboxes, not spellings
        lock_account(self)
        by.require_may_grant(role)
        if self.memberships.filter(user__email__iexact=email).exists():
            raise MembershipError(f"{email} is already a member of {self.name}.")
        self._take_invitation_allowance(email)
        self.invitations.pending().filter(email__iexact=email).update(revoked_at=timezone.now())
        invitation = Invitation.objects.create(
            account=self, email=email, role=role, invited_by=by.user
        )
        AuditEvent.objects.record(
            self,
            "member.invited",
            actor=by.user,
            target=email,
            audit_context=audit_context,
            data={"role": role},
        )
        transaction.on_commit(invitation.send_email)
        return invitation

    def _take_invitation_allowance(self, email: str) -> None:
        per_account = Limit(
            f"invite:account:{self.pk}", settings.INVITATIONS_PER_ACCOUNT_PER_HOUR, 3600
        )
        recipient = hashlib.sha256(email.encode()).hexdigest()
        per_recipient = Limit(
            f"invite:to:{recipient}", settings.INVITATIONS_PER_RECIPIENT_PER_DAY, 86400
        )
        refused = throttle.take(per_account, per_recipient)
        if refused is per_account:
            raise InvitationLimitReached(
                f"{self.name} has sent {refused.allowed} invitations in the last hour, as many "
                "as an account may. Try again later."
            )
        if refused is per_recipient:
            raise InvitationLimitReached(
                f"{email} has received as many invitations as an address may today. "
                "Try again tomorrow."
            )

    @transaction.atomic
    def transfer_ownership(
        self, *, by: Membership, to: Membership, audit_context: AuditContext | None = None
    ) -> None:
        """`to` becomes an owner and `by` steps down to admin: the account keeps an owner."""

        lock_account(self)
        by.refresh_from_db()
        to.refresh_from_db()
        if by.role != Role.OWNER:
            raise MembershipError("Only an owner can transfer ownership.")
        if to.pk == by.pk:
            raise MembershipError("You already own this account.")
        require_room_to_own(
            to.user,
            self,
            f"{to.user.email} already owns {free_accounts_allowed()}. Choose a paid plan for "
            f"{self.name} first, or transfer it to someone else.",
        )
        to.role, by.role = Role.OWNER, Role.ADMIN
        to.save(update_fields=["role"])
        by.save(update_fields=["role"])
        AuditEvent.objects.record(
            self,
            "account.ownership_transferred",
            actor=by.user,
            target=to.user.email,
            audit_context=audit_context,
        )
        withdraw_invitations_of(
            by.user,
            self,
            by.role,
            actor=by.user,
            audit_context=audit_context,
            reason="inviter_role_changed",
        )

    @transaction.atomic
    def rename(
        self, name: str, *, by: Membership, audit_context: AuditContext | None = None
    ) -> None:

        old, self.name = self.name, name
        Account.objects.filter(pk=self.pk).update(name=name)
        AuditEvent.objects.record(
            self,
            "account.renamed",
            actor=by.user,
            target=name,
            audit_context=audit_context,
            data={"from": old},
        )

    @transaction.atomic
    def close(self, *, by: Membership, audit_context: AuditContext | None = None) -> None:
        if self.is_personal:
            raise MembershipError(
                "A personal account closes only with its person: delete your profile instead."
            )
        if by.role != Role.OWNER:
            raise MembershipError("Only an owner can close the account.")
        self.mark_closed(actor=by.user, audit_context=audit_context)

    def mark_closed(self, *, actor: User | None, audit_context: AuditContext | None = None) -> None:
        """Close inside the caller's transaction; receivers of account_closed revoke keys and
        cancel the subscription in the same transaction, so all of it happens or none."""

        account = lock_account(self)
        if account.closed_at is not None:
            return
        self.closed_at = timezone.now()
        Account.objects.filter(pk=self.pk).update(closed_at=self.closed_at)
        self.invitations.pending().update(revoked_at=self.closed_at)
        AuditEvent.objects.record(
            self, "account.closed", actor=actor, target=self.name, audit_context=audit_context
        )
        account_closed.send(sender=Account, account=self, actor=actor)


class MembershipError(Exception):
    """A change to the team that its rules refuse; the message is shown to the person."""


class InvitationLimitReached(MembershipError):
    """Too many invitations from one account, or to one address, in a window."""


class FreeAccountLimitReached(MembershipError):
    """Becoming an owner would give a person more free-plan accounts than one may own."""


def has_room_to_own(person: User, account: Account) -> bool:
    """Whether `person` may become an owner of `account` within FREE_ACCOUNTS_PER_OWNER. A paid
    (or closed) account adds nothing to their count, nor does one they already own."""
    free_and_open = Account.objects.get_queryset().open().filter(ON_A_FREE_PLAN)
    if not free_and_open.filter(pk=account.pk).exists():
        return True
    owned = Account.objects.free_owned_by(person)
    if owned.filter(pk=account.pk).exists():
        return True
    return owned.count() < settings.FREE_ACCOUNTS_PER_OWNER


def require_room_to_own(person: User, account: Account, refusal: str) -> None:
    """Refuse (FreeAccountLimitReached, saying `refusal`) to make `person` an owner of `account`
    beyond FREE_ACCOUNTS_PER_OWNER. Coming to own a free account by a transfer, a new role or an
    invitation counts as creating one would: otherwise one person creates free accounts and
    hands each to another mailbox, and runs them all as an admin. Call inside the change's
    transaction."""
    # The lock create_team takes: changes that each give the person an account queue on their
    # row, so two at once cannot both pass the count.
    User.objects.select_for_update().filter(pk=person.pk).first()
    if not has_room_to_own(person, account):
        raise FreeAccountLimitReached(refusal)


def free_accounts_allowed() -> str:
    """'2 accounts on the free plan, as many as one person may', for the refusals."""
    allowed = settings.FREE_ACCOUNTS_PER_OWNER
    plural = "s" if allowed != 1 else ""
    return f"{allowed} account{plural} on the free plan, as many as one person may"


KEEPS_AN_OWNER = "An account keeps at least one owner: transfer ownership before leaving it."


class MembershipQuerySet(models.QuerySet["Membership"]):
    def owners(self) -> MembershipQuerySet:
        return self.filter(role=Role.OWNER)


class Membership(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "user"], name="accounts_membership_once")
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} as {self.role}"

    def can(self, perm: Perm | str) -> bool:
        return role_allows(self.role, Perm(perm))

    @property
    def can_do(self) -> dict[str, bool]:
        """The role's permissions for templates: {% if membership.can_do.manage_members %}."""
        return {perm.value: self.can(perm) for perm in Perm}

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    def is_last_owner(self) -> bool:
        return self.is_owner and not self.account.memberships.owners().exclude(pk=self.pk).exists()

    def grantable_roles(self) -> list[tuple[str, str]]:
        return [
            (value, label) for value, label in Role.choices if self.is_owner or value != Role.OWNER
        ]

    def require_may_grant(self, role: str) -> None:
        if role not in Role.values:
            raise MembershipError("Choose one of the roles offered.")
        if role == Role.OWNER and not self.is_owner:
            raise MembershipError("Only an owner can make someone an owner.")

    def require_may_manage(self, other: Membership) -> None:
        if other.is_owner and not self.is_owner:
            raise MembershipError("Only an owner can change or remove another owner.")

    def require_may_be_removed_by(self, by: Membership) -> None:
        """What remove() checks, for a page to say before anyone confirms."""
        if by.pk != self.pk:
            by.require_may_manage(self)
        if self.is_last_owner():
            raise MembershipError(KEEPS_AN_OWNER)

    @transaction.atomic
    def change_role(
        self, role: str, *, by: Membership, audit_context: AuditContext | None = None
    ) -> None:

        lock_account(self.account)
        self.refresh_from_db()
        by.refresh_from_db()
        by.require_may_grant(role)
        by.require_may_manage(self)
        if role == self.role:
            return
        if role != Role.OWNER and self.is_last_owner():
            raise MembershipError(
                "An account keeps at least one owner: make someone else an owner first."
            )
        if role == Role.OWNER:
            require_room_to_own(
                self.user,
                self.account,
                f"{self.user.email} already owns {free_accounts_allowed()}, so they cannot "
                f"become an owner of {self.account.name}. Choose a paid plan for it first, or "
                "make someone else an owner.",
            )
        old, self.role = self.role, role
        self.save(update_fields=["role"])
        AuditEvent.objects.record(
            self.account,
            "member.role_changed",
            actor=by.user,
            target=self.user.email,
            audit_context=audit_context,
            data={"from": old, "to": role},
        )
        withdraw_invitations_of(
            self.user,
            self.account,
            role,
            actor=by.user,
            audit_context=audit_context,
            reason="inviter_role_changed",
        )

    @transaction.atomic
    def remove(
        self,
        *,
        by: Membership,
        keep_keys: bool = False,
        audit_context: AuditContext | None = None,
    ) -> None:
        """`by` removes this member; by == self means leaving. The keys the member created in
        the account are revoked unless `keep_keys`: they saw each one in full, and it would go
        on working for them on the account's quota and bill."""

        lock_account(self.account)
        self.refresh_from_db()
        leaving = by.pk == self.pk
        if not leaving:
            by.refresh_from_db()
        self.require_may_be_removed_by(by)
        self.delete()
        AuditEvent.objects.record(
            self.account,
            "member.left" if leaving else "member.removed",
            actor=by.user,
            target=self.user.email,
            audit_context=audit_context,
            data={"role": self.role, "keys": key_decision(keep_keys)},
        )
        withdraw_invitations_of(
            self.user,
            self.account,
            None,
            actor=by.user,
            audit_context=audit_context,
            reason="inviter_left" if leaving else "inviter_removed",
        )
        membership_ended.send(
            sender=Membership,
            account=self.account,
            user=self.user,
            keep_keys=keep_keys,
            reason="member_left" if leaving else "member_removed",
            actor=by.user,
            audit_context=audit_context,
        )


def key_decision(keep_keys: bool) -> str:
    """What became of a departing member's keys, as the audit log records it."""
    return "kept" if keep_keys else "revoked"


def withdraw_invitations_of(
    inviter: User,
    account: Account,
    role: str | None,
    *,
    actor: User | None,
    audit_context: AuditContext | None = None,
    reason: str,
) -> None:
    """Revoke the pending invitations `inviter` sent to `account` that their role now (None: no
    longer a member) could not send: an invitation carries its sender's authority only while
    they hold it. Call inside the change's transaction, with the account locked."""
    pending = account.invitations.pending().filter(invited_by=inviter)
    if role is not None and role_allows(role, Perm.MANAGE_MEMBERS):
        if role == Role.OWNER:
            return
        pending = pending.filter(role=Role.OWNER)  # only owners may invite owners
    now = timezone.now()
    for invitation in pending.select_for_update():
        invitation.revoked_at = now
        invitation.save(update_fields=["revoked_at"])
        AuditEvent.objects.record(
            account,
            "invitation.revoked",
            actor=actor,
            target=invitation.email,
            audit_context=audit_context,
            data={"reason": reason},
        )


class AuditEventManager(models.Manager["AuditEvent"]):
    def record(
        self,
        account: Account,
        action: str,
        *,
        actor: User | None = None,
        target: str = "",
        audit_context: AuditContext | None = None,
        data: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Record `action` (dotted, e.g. "key.revoked") on `account`; call inside the change's
        transaction so the event and the change commit or roll back together."""
        context = audit_context or AuditContext(actor_id=None, ip=None)
        return self.create(
            account=account,
            actor_id=actor.pk if actor is not None else context.actor_id,
            action=action,
            target=target[:200],
            ip=context.ip,
            data=data or {},
        )


class AuditEvent(models.Model):
    """Who did what to which account; written only through AuditEvent.objects.record()."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=60, db_index=True)
    target = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    data = models.JSONField(default=dict, blank=True)

    objects = AuditEventManager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"


def lock_account(account: Account) -> Account:
    """Lock the account row for the rest of the transaction: membership changes of one account
    run one at a time, so two owners demoting each other cannot leave it with none."""
    return Account.objects.select_for_update().get(pk=account.pk)


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self) -> InvitationQuerySet:
        return self.filter(
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            created_at__gt=timezone.now() - INVITATION_MAX_AGE,
        )


INVITATION_MAX_AGE = timedelta(days=7)
_INVITATION_SALT = "accounts.invitation"


class InvitationError(Exception):
    """Why an invitation link cannot be used; the message is shown on a clear page."""

    def __init__(self, message: str, status: int = 410) -> None:
        super().__init__(message)
        self.status = status


class Invitation(models.Model):
    """An email invitation to join an account with a role, accepted through a signed link."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(validators=[validate_canonical_email])
    role = models.CharField(max_length=20, choices=Role.choices)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.email} to {self.account} as {self.role}"

    @property
    def expires_at(self) -> datetime:
        return self.created_at + INVITATION_MAX_AGE

    def token(self) -> str:
        return signing.dumps(self.pk, salt=_INVITATION_SALT)

    @classmethod
    def from_token(cls, token: str) -> Invitation:
        """The invitation a link names; InvitationError if it is forged, expired or used."""
        try:
            pk = signing.loads(token, salt=_INVITATION_SALT, max_age=INVITATION_MAX_AGE)
        except signing.SignatureExpired:
            raise InvitationError("This invitation has expired. Ask for a new one.") from None
        except signing.BadSignature:
            raise InvitationError("This invitation link is not valid.", status=404) from None
        invitation = cls.objects.select_related("account", "invited_by").filter(pk=pk).first()
        if invitation is None:
            raise InvitationError("This invitation link is not valid.", status=404)
        invitation.check_usable()
        return invitation

    def check_usable(self) -> None:
        if self.accepted_at is not None:
            raise InvitationError("This invitation has already been used.")
        if self.revoked_at is not None or self.account.closed_at is not None:
            raise InvitationError("This invitation was withdrawn.")
        if self.expires_at <= timezone.now():
            raise InvitationError("This invitation has expired. Ask for a new one.")

    def is_addressed_to(self, user: User) -> bool:
        """Only a verified address counts: anyone can type someone else's address into their
        profile (or have it as an unconfirmed primary); only its owner can confirm it."""
        from allauth.account.models import EmailAddress

        return EmailAddress.objects.filter(
            user=user, email__iexact=self.email, verified=True
        ).exists()

    def awaits_verification_by(self, user: User) -> bool:
        """`user` has the invited address, but has not confirmed it yet."""
        from allauth.account.models import EmailAddress

        return user.email.lower() == self.email.lower() or (
            EmailAddress.objects.filter(user=user, email__iexact=self.email).exists()
        )

    @transaction.atomic
    def accept(self, user: User) -> Membership:
        """Join the account; safe against double clicks (the row is locked and re-checked)."""
        invitation = (
            Invitation.objects.select_for_update().select_related("account").get(pk=self.pk)
        )
        invitation.check_usable()
        if not invitation.is_addressed_to(user):
            if invitation.awaits_verification_by(user):
                raise InvitationError(
                    f"This invitation was sent to {invitation.email}, which you have not "
                    "verified yet. Confirm it with the link we emailed to it (or send a new "
                    "one from your email addresses page), then accept.",
                    status=403,
                )
            raise InvitationError(
                f"This invitation was sent to {invitation.email}. Sign in with that address "
                "to accept it.",
                status=403,
            )
        invitation.require_room_to_own_as(user)
        membership, created = Membership.objects.get_or_create(
            account=invitation.account, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        self.accepted_at, self.accepted_by = invitation.accepted_at, user
        if created:
            AuditEvent.objects.record(
                invitation.account,
                "member.joined",
                actor=user,
                target=user.email,
                data={"role": membership.role, "invitation": invitation.pk},
            )
        return membership

    def require_room_to_own_as(self, user: User) -> None:
        """An owner invitation counts toward the free accounts `user` may own (accepting it, then
        having the sender step down, is a transfer). One who is already a member keeps their
        role, so it gives them nothing."""
        account = self.account
        if self.role != Role.OWNER or account.memberships.filter(user=user).exists():
            return
        require_room_to_own(
            user,
            account,
            f"You already own {free_accounts_allowed()}, so you cannot join {account.name} as "
            "an owner. Choose a paid plan for one of your free accounts (or close one) and "
            f"accept again, or ask {account.name} to choose a paid plan or invite you with "
            "another role.",
        )

    @transaction.atomic
    def revoke(self, actor: User) -> None:

        invitation = Invitation.objects.select_for_update().get(pk=self.pk)
        if invitation.accepted_at is not None or invitation.revoked_at is not None:
            raise MembershipError("That invitation is no longer pending.")
        invitation.revoked_at = self.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        AuditEvent.objects.record(
            self.account, "invitation.revoked", actor=actor, target=self.email
        )

    def accept_url(self) -> str:
        return site_url(reverse("invitation", args=[self.token()]))

    def send_email(self) -> None:
        from portal.emails import send

        send(
            "invitation",
            [self.email],
            {
                "invitation": self,
                "accept_url": self.accept_url(),
                "inviter": self.invited_by,
                "account": self.account,
            },
        )
