"""The simulator's hosted invoice PDF is a real, small, valid PDF."""

from __future__ import annotations

import io
import re


def test_each_invoice_has_a_valid_pdf_with_its_number_and_total(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["business"])
    [invoice] = stripe.invoices(sub["id"])
    path = invoice["invoice_pdf"].removeprefix("http://sim.test")
    captured = {}

    def start_response(status, headers):
        captured.update(status=status, headers=dict(headers))

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
               "wsgi.input": io.BytesIO(b"")}  # fmt: skip
    pdf = b"".join(stripe.app(environ, start_response))
    assert (
        captured["status"].startswith("200")
        and captured["headers"]["Content-Type"] == "application/pdf"
    )
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF\n") and len(pdf) < 4000
    # The cross-reference table points at each object, as a reader needs.
    xref_at = int(re.search(rb"startxref\n(\d+)\n", pdf)[1])
    assert pdf[xref_at:].startswith(b"xref\n0 6\n")
    offsets = [int(n) for n in re.findall(rb"(\d{10}) 00000 n", pdf[xref_at:])]
    assert [pdf[o:].split(b"\n", 1)[0] for o in offsets] == [b"%d 0 obj" % n for n in range(1, 6)]
    stream = re.search(rb"/Length (\d+) >>\nstream\n", pdf)
    length = int(stream[1])
    assert pdf[stream.end() + length :].startswith(b"\nendstream")
    assert f"(Invoice {invoice['number']}) Tj".encode() in pdf
    assert b"(Total: 199.00 USD) Tj" in pdf
