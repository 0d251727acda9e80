from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from accounts import views

account = "a/<slug:account_slug>/"

urlpatterns: list[URLPattern | URLResolver] = [
    path(account, views.account_home, name="account_home"),
    path(account + "members/", views.members, name="members"),
    path(account + "members/invite/", views.invite_member, name="invite_member"),
    path(account + "members/<int:member_id>/role/", views.change_role, name="change_role"),
    path(account + "members/<int:member_id>/remove/", views.remove_member, name="remove_member"),
    path(
        account + "invitations/<int:invitation_id>/revoke/",
        views.revoke_invitation,
        name="revoke_invitation",
    ),
    path(account + "leave/", views.leave_account, name="leave_account"),
    path(account + "transfer/", views.transfer_ownership, name="transfer_ownership"),
    path(account + "rename/", views.rename_account, name="rename_account"),
    path(account + "close/", views.close_account, name="close_account"),
    path(account + "activity/", views.activity, name="activity"),
    path("teams/new/", views.new_team, name="new_team"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("invitations/<str:token>/accept/", views.accept_invitation, name="accept_invitation"),
    path("profile/", views.profile, name="profile"),
    path("profile/delete/", views.delete_profile, name="delete_profile"),
]
