"""Which API products a person may read about, and their specs as the gateway serves them."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from accounts.models import Account, User
from catalog.models import ApiProduct, Plan, Visibility

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
KEY_PLACEHOLDER = "YOUR_TEST_KEY"


def plan_ids_of(user: User) -> set[int]:
    """The plans of every account the person belongs to (no plan = the default plan)."""
    plan_ids = set(Account.objects.for_user(user).values_list("plan_id", flat=True))
    if None in plan_ids:
        plan_ids.discard(None)
        default = Plan.objects.filter(is_default=True).values_list("id", flat=True).first()
        if default is not None:
            plan_ids.add(default)
    return plan_ids


def visible_products(user: User | Any) -> QuerySet[ApiProduct]:
    """Public products for everyone; plan-gated ones once a plan of theirs includes them."""
    if getattr(user, "is_staff", False):
        return ApiProduct.objects.all()
    visible = Q(visibility=Visibility.PUBLIC)
    if user.is_authenticated:
        visible |= Q(visibility=Visibility.PLAN, plans__id__in=plan_ids_of(user))
    return ApiProduct.objects.filter(visible).distinct()


def gateway_base_url(product: ApiProduct) -> str:
    # Paths in a product's spec are relative to its prefix at the gateway.
    return settings.GATEWAY_PUBLIC_URL + product.path_prefix.rstrip("/")


def served_spec(product: ApiProduct) -> dict[str, Any]:
    """The product's spec with its server set to the gateway, where calls are counted."""
    spec = copy.deepcopy(product.openapi_spec or {})
    spec["servers"] = [{"url": gateway_base_url(product), "description": "API gateway"}]
    return spec


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    curl: str
    python: str
    javascript: str


def example_body(operation: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    if "example" in content:
        return content["example"]
    return content.get("schema", {}).get("example")


def example_path(path: str, operation: dict[str, Any]) -> str:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path":
            value = parameter.get("example", parameter.get("schema", {}).get("example", 1))
            path = path.replace("{" + parameter["name"] + "}", str(value))
    return path


def snippets(url: str, method: str, body: Any) -> tuple[str, str, str]:
    key = KEY_PLACEHOLDER
    upper = method.upper()
    body_json = json.dumps(body) if body is not None else None
    curl = f'curl -X {upper} "{url}" \\\n  -H "Authorization: Bearer {key}"'
    python = f'import requests\n\nresponse = requests.{method}(\n    "{url}",\n'
    python += f'    headers={{"Authorization": "Bearer {key}"}},\n'
    fetch_options = f'  method: "{upper}",\n  headers: {{\n    Authorization: "Bearer {key}",\n'
    if body_json is not None:
        curl += f" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{body_json}'"
        python += f"    json={body_json},\n"
        fetch_options += '    "Content-Type": "application/json",\n'
        fetch_options += f"  }},\n  body: JSON.stringify({body_json}),\n"
    else:
        fetch_options += "  },\n"
    python += ")\nprint(response.status_code, response.json())"
    javascript = f'const response = await fetch("{url}", {{\n{fetch_options}}});\n'
    javascript += "console.log(response.status, await response.json());"
    return curl, python, javascript


def operations(product: ApiProduct) -> list[Operation]:
    base = gateway_base_url(product)
    found = []
    for path, item in (product.openapi_spec or {}).get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            url = base + example_path(path, operation)
            curl, python, javascript = snippets(url, method, example_body(operation))
            summary = operation.get("summary") or operation.get("operationId") or ""
            found.append(Operation(method.upper(), path, summary, curl, python, javascript))
    return found
