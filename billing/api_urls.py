from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from billing import api

invoices = "accounts/<slug:account_slug>/invoices/"

urlpatterns: list[URLPattern | URLResolver] = [
    path(invoices, api.InvoiceList.as_view(), name="api_invoices"),
    path(invoices + "upcoming/", api.UpcomingInvoiceView.as_view(), name="api_invoice_upcoming"),
]
