"""Weighted operations and plan features in the catalog file: applied, checked, shown."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from catalog.models import ApiProduct, Plan
from tests.catalog.test_apply_catalog import DEMO, apply, catalog_dir, snapshot  # noqa: F401

OPERATION = """  [[products.operations]]
  method = "POST"
  path = "/reports"
  cost = 10
  requests_per_minute = 10
"""


def test_the_demo_catalog_has_a_weighted_operation_and_features(db):
    apply(DEMO / "catalog.toml")
    assert ApiProduct.objects.get(slug="demo").operations == [
        {"method": "POST", "path": "/reports", "cost": 10, "requests_per_minute": 10}
    ]
    features = dict(Plan.objects.values_list("slug", "features"))
    assert features["pro"] == {"insights": True, "report_rows": 100}
    assert features["free"] == {"insights": False, "report_rows": 0}


def test_removing_them_from_the_file_removes_them(catalog_dir):  # noqa: F811
    path = catalog_dir / "catalog.toml"
    apply(path)
    text = path.read_text().replace(OPERATION, "")
    text = text.replace("features = { insights = true, report_rows = 100 }\n", "")
    path.write_text(text)
    apply(path)
    assert ApiProduct.objects.get(slug="demo").operations == []
    assert Plan.objects.get(slug="pro").features == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("cost = 10", "cost = 0"), "cost is a whole number of units from 1"),
        (("cost = 10", "cost = 2.5"), "cost is a whole number"),
        (("cost = 10", 'cost = "10"'), "cost is a whole number"),
        (("cost = 10", "cost = true"), "cost is a whole number"),
        (("cost = 10", "cost = 1000001"), "cost is a whole number"),
        (('method = "POST"', 'method = "BREW"'), "method is one of"),
        (('path = "/reports"', 'path = "reports"'), "path is a template"),
        (('path = "/reports"', 'path = "/reports/../hello"'), "path is a template"),
        (('path = "/reports"', 'path = "/rep%6Frts"'), "path is a template"),
        (('path = "/reports"', 'path = "/reports;x"'), "path is a template"),
        (('path = "/reports"', 'path = "//reports"'), "path is a template"),
        (('path = "/reports"', 'path = "/items/a{id}"'), "path is a template"),
        (("requests_per_minute = 10", "requests_per_minute = 0"), "requests_per_minute"),
        (("requests_per_minute = 10", "requests_per_hour = 10"), "unknown fields"),
        # The gateway reads paths in any case: two spellings of one operation are one operation.
        (
            (
                "cost = 10\n",
                'cost = 10\n  [[products.operations]]\n  method = "POST"\n'
                '  path = "/Reports/"\n  cost = 1\n',
            ),
            "listed twice",
        ),
        (("report_rows = 100", "report_rows = 1.5"), "report_rows: true, false or a whole"),
        (("report_rows = 100", "report_rows = -1"), "report_rows: true, false or a whole"),
        (("report_rows = 100", 'report_rows = "100"'), "report_rows: true, false or a whole"),
        (("report_rows = 100", "Report-Rows = 100"), "lower-case letters"),
        (
            ("features = { insights = true, report_rows = 100 }", 'features = ["insights"]'),
            "features must be a table",
        ),
    ],
)
def test_bad_operations_and_features_are_refused_and_nothing_is_written(
    catalog_dir,  # noqa: F811
    change,
    message,
):
    path = catalog_dir / "catalog.toml"
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(*change, 1))
    with pytest.raises(CommandError) as refused:
        apply(path)
    assert message in str(refused.value)
    assert "nothing changed" in str(refused.value)
    assert snapshot() == ([], [], [])


def test_the_pricing_page_lists_the_weights_and_the_features(client, db):
    apply(DEMO / "catalog.toml")
    page = client.get("/pricing/").content.decode()
    assert "<code>POST /demo/reports</code>" in page
    assert "10 calls per minute" in page
    comparison = page[page.index('id="compare-title"') :]
    row = comparison[comparison.index("Report rows") :].split("</tr>")[0]
    assert [cell.split("</td>")[0] for cell in row.split("<td>")[1:]] == ["0", "100", "10,000"]
    assert "Insights" in comparison
