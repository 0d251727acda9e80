"""A small, valid PDF for a simulated invoice: one page of text, built by hand (no library).

The cross-reference table holds each object's byte offset, as PDF readers require.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _escape(text: str) -> str:
    printable = text.encode("latin-1", "replace").decode("latin-1")
    return printable.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def invoice_pdf(invoice: dict[str, Any], customer_email: str) -> bytes:
    issued = datetime.fromtimestamp(invoice["created"], UTC).strftime("%d %b %Y")
    currency = invoice["currency"].upper()
    lines = [
        f"Invoice {invoice['number'] or invoice['id']}",
        f"Issued {issued} to {customer_email or invoice['customer']}",
        "",
        *(
            f"{line['description']}: {line['amount'] / 100:.2f} {currency}"
            for line in invoice["lines"]["data"]
        ),
        "",
        f"Total: {invoice['total'] / 100:.2f} {currency}",
        f"Amount due: {invoice['amount_due'] / 100:.2f} {currency} ({invoice['status']})",
        "",
        "Stripe simulator: no real money moves here.",
    ]
    text = "BT /F1 12 Tf 56 780 Td 16 TL\n"
    text += "".join(f"({_escape(line)}) Tj T*\n" for line in lines) + "ET"
    stream = text.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
