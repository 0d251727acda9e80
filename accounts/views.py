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
)
from accounts.roles import Perm
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


@require_POST
@account_view(Perm.MANAGE_MEMBERS)
def remove_member(request: HttpRequest, membership: Membership, member_id: int) -> HttpResponse:
    member = _get_member(membership, member_id)
    try:
        member.remove(by=membership, audit_context=AuditContext.of(request))
    except MembershipError as error:
        messages.error(request, str(error))
        return _back_to_members(request, membership)
    messages.success(request, f"{member.user.email} was removed from {member.account.name}.")
    if member.pk == membership.pk:
        return redirect("home")
    return _back_to_members(request, membership)


@require_POST
@account_view(Perm.VIEW_MEMBERS)
def leave_account(request: HttpRequest, membership: Membership) -> HttpResponse:
    try:
        membership.remove(by=membership, audit_context=AuditContext.of(request))
    except MembershipError as error:
        messages.error(request, str(error))
        return redirect("account_home", membership.account.slug)
    request.session.pop(SESSION_ACCOUNT_KEY, None)
    messages.success(request, f"You left {membership.account.name}.")
    return redirect("home")


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
        "memberships": user.memberships.select_related("account").filter(
            account__closed_at__isnull=True
        ),
    }
    return render(request, "accounts/profile.html", context, status=400 if form.errors else 200)


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
            user.delete_profile(audit_context=AuditContext.of(request))
        except MembershipError as error:
            form.add_error(None, str(error))
        else:
            logout(request)
            messages.success(request, "Your profile and personal data were deleted.")
            return redirect("home")
    status = 400 if form.errors else 200
    return render(request, "accounts/delete_profile.html", {"delete_form": form}, status=status)
