"""Create N API keys in the (d) project's database and print them, one a line."""

from __future__ import annotations

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drfbench.settings")
django.setup()

from rest_framework_api_key.models import APIKey  # noqa: E402

for number in range(int(sys.argv[1])):
    _, key = APIKey.objects.create_key(name=f"bench {number}")
    print(key)
