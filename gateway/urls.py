from __future__ import annotations

from django.urls import path

from gateway import views

urlpatterns = [
    path(".well-known/jwks.json", views.jwks, name="jwks"),
]
