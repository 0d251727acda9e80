from __future__ import annotations

from django.urls import path
from django_ratelimit.decorators import ratelimit
from rest_framework.decorators import api_view
from rest_framework.response import Response


@api_view(["GET"])
@ratelimit(key="header:authorization", rate="1000000/m", block=True)
def auth(request):
    return Response(status=204)


urlpatterns = [path("auth", auth)]
