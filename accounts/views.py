"""Account, team, invitation, activity and profile pages."""

from __future__ import annotations

from typing import Any

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import SESSION_ACCOUNT_KEY, account_view
from accounts.audit import record
from accounts.forms import (
    ActivityFilterForm,
    ConfirmNameForm,
    DeleteProfileForm,
    DepartureForm,
    InviteForm,
    ProfileForm,
    RoleForm,
    TeamForm,
    TransferForm,
)
from accounts.models import (
    Account,
    AuditEvent,
    Invitation,
    InvitationError,
    Membership,
    MembershipError,
    User,
)
from accounts.roles import Perm
from apikeys.models import ApiKey
from core.audit import AuditContext
from onboarding.dashboard import dashboard_context
from portal.http import AuthenticatedHttpRequest, HtmxHttpRequest

INVITATION_SESSION_KEY = "invitation_token"
ACTIVITY_PAGE_SIZE = 50


def _get_member(membership: Membership, member_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "account"),
        pk=member_id,
        account=membership.account,
    )


def _members_page(
    request: HttpRequest, membership: Membership, *, status: int = 200, **forms: Any
) -> HttpResponse:
    account = membership.account
    context = {
        "membership": membership,
        "account": account,
        "members": account.memberships.select_related("user").order_by("user__email"),
        "invitations": account.invitations.pending().select_related("invited_by"),
        "roles": membership.grantable_roles(),
        "invite_form": forms.get("invite_form") or InviteForm(membership=membership),
        "transfer_form": forms.get("transfer_form") or TransferForm(membership=membership),
    }
    return render(request, "accounts/members.html", context, status=status)


def _back_to_members(request: HttpRequest, membership: Membership) -> HttpResponse:
    return redirect("members", membership.account.slug)


@require_GET
@account_view(Perm.VIEW_MEMBERS)
def account_home(request: HttpRequest, membership: Membership) -> HttpResponse:
    account = membership.account
    context = {
        "membership": membership,
        "account": account,
        "plan": account.effective_plan(),
        "members": account.memberships.select_related("user").order_by("user__email"),
        "close_form": ConfirmNameForm(account=account),
        "rename_form": TeamForm(initial={"name": account.name}),
        **dashboard_context(membership),
    }
    return render(request, "accounts/account_home.html", context)


@require_GET
@account_view(Perm.VIEW_MEMBERS)
def members(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _members_page(request, membership)


@require_POST
@account_view(Perm.MANAGE_MEMBERS)
def invite_member(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = InviteForm(request.POST, membership=membership)
    if form.is_valid():
        email, role = form.cleaned_data["email"], form.cleaned_data["role"]
        try:
            membership.account.invite(
                email, role, by=membership, audit_context=AuditContext.of(request)
            )
        except MembershipError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Invitation sent to {email}.")
            return _back_to_members(request, membership)
    return _members_page(request, membership, invite_form=form, status=400)


@require_POST
@account_view(Perm.MANAGE_MEMBERS)
def revoke_invitation(
    request: HttpRequest, membership: Membership, invitation_id: int
) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id, account=membership.account)
    try:
        invitation.revoke(membership.user)
    except MembershipError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"The invitation to {invitation.email} was revoked.")
    return _back_to_members(request, membership)


@require_POST
@account_view(Perm.MANAGE_MEMBERS)
def change_role(request: HttpRequest, membership: Membership, member_id: int) -> HttpResponse:
    member = _get_member(membership, member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles offered.")
        return _back_to_members(request, membership)
    try:
        member.change_role(
            form.cleaned_data["role"], by=membership, audit_context=AuditContext.of(request)
        )
    except MembershipError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{member.user.email} is now {member.get_role_display()}.")
    return _back_to_members(request, membership)


@require_http_methods(["GET", "POST"])
@account_view(Perm.MANAGE_MEMBERS)
def remove_member(request: HttpRequest, membership: Membership, member_id: int) -> HttpResponse:
    """GET asks first, listing the keys the member created; POST removes them."""
    member = _get_member(membership, member_id)
    return _depart(request, membership, member, refused_to="members")


@require_http_methods(["GET", "POST"])
@account_view(Perm.VIEW_MEMBERS)
def leave_account(request: HttpRequest, membership: Membership) -> HttpResponse:
    """GET asks first, listing the keys the member created; POST leaves."""
    return _depart(request, membership, membership, refused_to="account_home")


def _depart(
    request: HttpRequest, membership: Membership, member: Membership, *, refused_to: str
) -> HttpResponse:
    """`member` leaves the account (removed by `membership`, or leaving when they are one). The
    keys they created are revoked unless the form says to keep them: they saw each in full."""
    leaving = member.pk == membership.pk
    whose = "you" if leaving else member.user.email
    form = DepartureForm(request.POST if request.method == "POST" else None, whose=whose)
    if request.method == "GET" or not form.is_valid():
        return _departure_page(request, membership, member, form)
    keys = ApiKey.objects.working_created_by(member.user, membership.account).count()
    try:
        member.remove(
            by=membership, keep_keys=form.keeps_keys, audit_context=AuditContext.of(request)
        )
    except MembershipError as error:
        messages.error(request, str(error))
        return redirect(refused_to, membership.account.slug)
    outcome = _keys_outcome(keys, form.keeps_keys, whose="Your" if leaving else "Their")
    if leaving:
        request.session.pop(SESSION_ACCOUNT_KEY, None)
        messages.success(request, f"You left {membership.account.name}.{outcome}")
        return redirect("home")
    messages.success(
        request, f"{member.user.email} was removed from {membership.account.name}.{outcome}"
    )
    return _back_to_members(request, membership)


def _keys_outcome(count: int, kept: bool, *, whose: str) -> str:
    """' Their 2 keys were revoked.', for the message after a departure."""
    if not count:
        return ""
    if count == 1:
        return f" {whose} key {'keeps working' if kept else 'was revoked'}."
    return f" {whose} {count} keys {'keep working' if kept else 'were revoked'}."


def _departure_page(
    request: HttpRequest, membership: Membership, member: Membership, form: DepartureForm
) -> HttpResponse:
    try:
        member.require_may_be_removed_by(membership)
        refusal = ""
    except MembershipError as error:
        refusal = str(error)
    context = {
        "membership": membership,
        "account": membership.account,
        "member": member,
        "leaving": member.pk == membership.pk,
        "keys": ApiKey.objects.working_created_by(member.user, membership.account),
        "form": form,
        "refusal": refusal,
    }
    status = 400 if form.is_bound else 200
    return render(request, "accounts/departure.html", context, status=status)


@require_POST
@account_view(Perm.MANAGE_ACCOUNT)
def transfer_ownership(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = TransferForm(request.POST, membership=membership)
    if not form.is_valid():
        return _members_page(request, membership, transfer_form=form, status=400)
    new_owner: Membership = form.cleaned_data["member"]
    try:
        membership.account.transfer_ownership(
            by=membership, to=new_owner, audit_context=AuditContext.of(request)
        )
    except MembershipError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{new_owner.user.email} now owns {membership.account.name}.")
    return _back_to_members(request, membership)


@require_POST
@account_view(Perm.MANAGE_ACCOUNT)
def rename_account(request: HttpRequest, membership: Membership) -> HttpResponse:
    account = membership.account
    form = TeamForm(request.POST)
    if not form.is_valid():
        context = {"membership": membership, "account": account, "rename_form": form,
                   "plan": account.effective_plan(), "members": account.memberships.all(),
                   "close_form": ConfirmNameForm(account=account)}  # fmt: skip
        return render(request, "accounts/account_home.html", context, status=400)
    account.rename(form.cleaned_data["name"], by=membership, audit_context=AuditContext.of(request))
    messages.success(request, f"The account is now called {account.name}.")
    return redirect("account_home", account.slug)


@require_POST
@account_view(Perm.MANAGE_ACCOUNT)
@reauthentication_required  # allauth asks for the password again, then replays this request
def close_account(request: HttpRequest, membership: Membership) -> HttpResponse:
    account = membership.account
    form = ConfirmNameForm(request.POST, account=account)
    if form.is_valid():
        try:
            account.close(by=membership, audit_context=AuditContext.of(request))
        except MembershipError as error:
            form.add_error(None, str(error))
        else:
            request.session.pop(SESSION_ACCOUNT_KEY, None)
            messages.success(request, f"{account.name} is closed; its keys no longer work.")
            return redirect("home")
    context = {"membership": membership, "account": account, "close_form": form}
    return render(request, "accounts/close_account.html", context, status=400)


@require_GET
@account_view(Perm.VIEW_AUDIT)
def activity(request: HtmxHttpRequest, membership: Membership) -> HttpResponse:
    events = AuditEvent.objects.filter(account=membership.account).select_related("actor")
    actions = sorted(set(events.values_list("action", flat=True)))
    form = ActivityFilterForm(request.GET, actions=actions)
    action = form.cleaned_data["action"] if form.is_valid() else ""
    if action:
        events = events.filter(action=action)
    page = Paginator(events, ACTIVITY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"membership": membership, "account": membership.account, "form": form,
               "page": page, "action": action}  # fmt: skip
    template = "accounts/activity.html"
    if request.htmx:
        template += "#events"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def new_team(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                account = Account.objects.create_team(form.cleaned_data["name"], request.user)
                record(
                    account,
                    "account.created",
                    audit_context=AuditContext.of(request),
                    target=account.name,
                )
        except MembershipError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"{account.name} is ready. Invite your colleagues.")
            return redirect("members", account.slug)
    status = 400 if form.is_bound else 200
    return render(request, "accounts/new_team.html", {"form": form}, status=status)


def _invitation_error_page(request: HttpRequest, error: InvitationError) -> HttpResponse:
    request.session.pop(INVITATION_SESSION_KEY, None)
    return render(
        request, "accounts/invitation_invalid.html", {"message": str(error)}, status=error.status
    )


@require_GET
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation email links to; it works before and after signing up."""
    try:
        invitation = Invitation.from_token(token)
    except InvitationError as error:
        return _invitation_error_page(request, error)
    # Remembered so that after signing up (and verifying) or logging in, the adapter sends
    # the person back here.
    request.session[INVITATION_SESSION_KEY] = token
    return _invitation_page(request, invitation, token)


def _invitation_page(
    request: HttpRequest,
    invitation: Invitation,
    token: str,
    *,
    refusal: str = "",
    status: int = 200,
) -> HttpResponse:
    user = request.user
    addressed = user.is_authenticated and invitation.is_addressed_to(user)
    unverified = user.is_authenticated and not addressed and invitation.awaits_verification_by(user)
    context = {
        "invitation": invitation,
        "token": token,
        "addressed_to_user": addressed,
        "awaits_verification": unverified,
        "refusal": refusal,
    }
    return render(request, "accounts/invitation.html", context, status=status)


@require_POST
@login_required
def accept_invitation(request: AuthenticatedHttpRequest, token: str) -> HttpResponse:
    user = request.user
    try:
        invitation = Invitation.from_token(token)
        membership = invitation.accept(user)
    except InvitationError as error:
        return _invitation_error_page(request, error)
    except MembershipError as refusal:
        # The invitation stays good: the person may make room (or the team pay) and accept.
        return _invitation_page(request, invitation, token, refusal=str(refusal), status=409)
    request.session.pop(INVITATION_SESSION_KEY, None)
    messages.success(
        request, f"Welcome to {membership.account.name}: you are {membership.get_role_display()}."
    )
    return redirect("account_home", membership.account.slug)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form = ProfileForm(request.POST or None, instance=user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your name was saved.")
        return redirect("profile")
    context = {
        "form": form,
        "delete_form": DeleteProfileForm(user=user),
        "keys_left_behind": _keys_left_behind(user),
        "memberships": user.memberships.select_related("account").filter(
            account__closed_at__isnull=True
        ),
    }
    return render(request, "accounts/profile.html", context, status=400 if form.errors else 200)


def _keys_left_behind(user: User) -> list[tuple[Account, list[ApiKey]]]:
    """Per team that deleting the profile would leave (one with others in it), the working keys
    the person created there; the accounts only they belong to close with all their keys."""
    left_behind = []
    for account in Account.objects.for_user(user).order_by("name", "id"):
        if not account.memberships.exclude(user=user).exists():
            continue
        keys = list(ApiKey.objects.working_created_by(user, account))
        if keys:
            left_behind.append((account, keys))
    return left_behind


@login_required
@require_http_methods(["GET", "POST"])
@reauthentication_required(allow_get=True)  # type: ignore[untyped-decorator]  # allauth is untyped
def delete_profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Deleting needs a recent sign-in: allauth asks for the password (or a passkey) again and
    returns here, to this page's GET, to confirm once more."""
    user = request.user
    form = DeleteProfileForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            user.delete_profile(audit_context=AuditContext.of(request), keep_keys=form.keeps_keys)
        except MembershipError as error:
            form.add_error(None, str(error))
        else:
            logout(request)
            messages.success(request, "Your profile and personal data were deleted.")
            return redirect("home")
    status = 400 if form.errors else 200
    context = {"delete_form": form, "keys_left_behind": _keys_left_behind(user)}
    return render(request, "accounts/delete_profile.html", context, status=status)
