"""Benchmark render_pdf / render_png against a bare reportlab page measured in the same run.

Run: python bench/render.py  (one process, one core; prints medians and ratios)

The certificate cases render with `strict=True`: every text field is fitted into its box and
checked for characters no font can draw, as issuance does; "check + render" also runs the
separate `check()` that issuance calls before charging; "check alone" is that check by itself
and "a bulk step's rows" the same through one Memo per 500 rows, as a bulk job's checking
step runs it (akowe.rendering.check.Memo). "email composed" is what the delivery
worker does next: the MIME message around an already rendered PDF (one design, PDFs rotating),
flattened to the bytes sent.
"""

from __future__ import annotations

import io
import itertools
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from PIL import Image, ImageFilter
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from akowe.delivery.email import CertificateMail, outgoing  # noqa: E402
from akowe.rendering import (  # noqa: E402
    CertificateData,
    FieldSpec,
    TemplateSpec,
    check,
    render_pdf,
    render_png,
)
from akowe.rendering.check import Memo  # noqa: E402
from bench.names import class_names, world_names  # noqa: E402

WIDTH, HEIGHT = 1600, 1131
ROUNDS = 7
COUNT = 200  # renders per case and round
RENDERS = ROUNDS * COUNT
NAMES = ("Adéwálé Ògúnlẹ̀", "Chinonso Okafor", "Zoë Brontë-Smith", "Łukasz Żółkiewski")


def background(fmt: str) -> bytes:
    """A photographic-looking 1600x1131 image: gradients plus slightly blurred grain."""
    red = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    green = Image.radial_gradient("L").resize((WIDTH, HEIGHT))
    noise = Image.effect_noise((WIDTH, HEIGHT), 40).convert("RGB")
    merged = Image.merge("RGB", (red, green, red.transpose(Image.Transpose.ROTATE_180)))
    image = Image.blend(merged, noise, 0.12).filter(ImageFilter.GaussianBlur(0.7))
    out = io.BytesIO()
    image.save(out, format=fmt, quality=85)
    return out.getvalue()


def field(id: str, type: str, text: str, size: float, x: float, y: float) -> FieldSpec:
    """A centred dark field in the serif family."""
    return FieldSpec(id, type, text, size, "Noto Serif", "#1a2b3c", False, False, "center", x, y)


# The standard design, with boxes: names and courses shrink or wrap to fit.
FIELDS = (
    replace(field("name", "name", "", 64, 50, 38), is_bold=True, width=80, min_font_size=32),
    field("date", "date", "", 28, 25, 80),
    replace(field("course", "text", "course", 32, 50, 52), width=70, max_lines=2),
    field("grade", "text", "grade", 32, 50, 60),
    field("qr", "qr", "", 200, 88, 80),
)


def data(name: str, number: int) -> CertificateData:
    """One recipient; the id and URL change with `number` as they would in production."""
    certificate_id = f"CERT-2026-{number:06d}"
    return CertificateData(
        certificate_id=certificate_id,
        recipient_name=name,
        issued_at=datetime(2026, 11, 25, tzinfo=UTC),
        attributes={"course": "Advanced Typography", "grade": "Distinction"},
        verification_url=f"https://verify.akowe.example/c/{certificate_id}",
    )


def baseline(number: int) -> bytes:
    """The floor: a bare reportlab page drawing one string."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=(WIDTH, HEIGHT), invariant=True)
    page.drawString(100, 100, f"Certificate {number}")
    page.showPage()
    page.save()
    return out.getvalue()


def pdf(template: TemplateSpec, names: Iterator[str], number: int) -> bytes:
    """One PDF for the `number`th recipient, named next from `names` (bench/names.py: a
    class's distinct names, so each PDF subsets its name's font afresh), with the fitting
    and coverage checks on."""
    return render_pdf(template, data(next(names), number), strict=True)


def checked_pdf(template: TemplateSpec, names: Iterator[str], number: int) -> bytes:
    """What issuance does: check() before charging, then the strict render."""
    recipient = data(next(names), number)
    if check(template, recipient):
        raise SystemExit(f"bench data is refused: {check(template, recipient)}")
    return render_pdf(template, recipient, strict=True)


def checked_alone(template: TemplateSpec, names: Iterator[str], number: int) -> object:
    """check() alone, as a single issue runs it before charging."""
    return check(template, data(next(names), number))


class Step:
    """check() as a bulk job's checking step runs it: the rows of one step (500) share a
    Memo, so the values they share are laid out once."""

    def __init__(self, template: TemplateSpec, names: Iterator[str], rows: int = 500) -> None:
        self.template, self.names, self.rows = template, names, rows
        self.memo = Memo(template)

    def __call__(self, number: int) -> object:
        if number % self.rows == 0:
            self.memo = Memo(self.template)
        return check(self.template, data(next(self.names), number), memo=self.memo)


def png(template: TemplateSpec, width: int, number: int) -> bytes:
    """One PNG preview."""
    return render_png(template, data(NAMES[number % len(NAMES)], number), width)


def composed(pdfs: list[bytes], numbers: Iterator[int], _: int) -> bytes:
    """The certificate email around the next PDF, as sent: each to a recipient of its own,
    as a class's are (a number seen again would find its headers in the composer's memory,
    which no real email does)."""
    number = next(numbers)
    mail = CertificateMail(
        outbox_id=f"outbox-{number}",
        to=f"recipient-{number}@example.com",
        subject="Your certificate, {{recipientName}}",
        body="Dear {{recipientName}},\n\nyour certificate is attached.",
        recipient_name=NAMES[number % len(NAMES)],
        organization_name="Bench Academy",
        organization_email="office@bench.example",
        verification_url=f"https://verify.akowe.example/c/CERT-{number}",
        attributes={"course": "Advanced Typography"},
        certificate_id=f"CERT-2026-{number:06d}",
        sent_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    return outgoing(mail, pdf=pdfs[number % len(pdfs)], mail_from="noreply@bench.example").raw


def timed(render: Callable[[int], object], count: int) -> float:
    """Renders per second over `count` renders."""
    start = time.perf_counter()
    for i in range(count):
        render(i)
    return count / (time.perf_counter() - start)


def interleaved(cases: dict[str, Callable[[int], object]], count: int) -> dict[str, list[float]]:
    """Rates per round for each case; rounds alternate cases so they share any machine load."""
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, render in cases.items():
            rates[name].append(timed(render, count))
    return rates


def main() -> None:
    """Print rates, ratios, sizes and PNG timings."""
    templates = {
        fmt: TemplateSpec(f"bench-{fmt}:1", WIDTH, HEIGHT, background(fmt), FIELDS)
        for fmt in ("JPEG", "PNG")
    }
    for fmt, template in templates.items():
        start = time.perf_counter()
        render_pdf(template, data(NAMES[0], 0))  # fills the background cache
        first = (time.perf_counter() - start) * 1000
        source = len(template.background) / 1024
        print(f"{fmt} background: {source:.0f} KB source, first render {first:.0f} ms")

    jpeg = templates["JPEG"]
    pdfs = [render_pdf(jpeg, data(NAMES[i % len(NAMES)], i), strict=True) for i in range(20)]
    rates = interleaved(
        {
            "baseline: bare reportlab page, one string": baseline,
            "render_pdf, JPEG background": partial(pdf, jpeg, iter(class_names(RENDERS))),
            "check + render_pdf, JPEG background": partial(
                checked_pdf, jpeg, iter(class_names(RENDERS, seed=8))
            ),
            "render_pdf, PNG background": partial(
                pdf, templates["PNG"], iter(class_names(RENDERS, seed=9))
            ),
            "render_pdf, JPEG, names in 5 scripts": partial(pdf, jpeg, iter(world_names(RENDERS))),
            "check alone (a single issue's)": partial(
                checked_alone, jpeg, iter(class_names(RENDERS, seed=10))
            ),
            "check, a bulk step's rows (one Memo)": Step(jpeg, iter(class_names(RENDERS, seed=11))),
            "email composed around a JPEG design's PDF": partial(composed, pdfs, itertools.count()),
        },
        COUNT,
    )
    base = rates.pop("baseline: bare reportlab page, one string")
    print(f"\nbaseline (bare reportlab page, one string): {statistics.median(base):6.0f} /s")
    for name, values in rates.items():
        ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
        print(f"{name + ':':44} {statistics.median(values):6.0f} /s  {ratio:.2f}x baseline")
    for fmt, template in templates.items():
        size = len(render_pdf(template, data(NAMES[0], 1))) / 1024
        print(f"PDF size, {fmt} background: {size:.0f} KB")

    for width in (WIDTH, 800):
        ms = 1000 / statistics.median(timed(partial(png, jpeg, width), 3) for _ in range(ROUNDS))
        size = len(render_png(jpeg, data(NAMES[0], 1), width)) / 1024
        print(f"render_png, {width} px wide: {ms:5.1f} ms median, {size:.0f} KB")


if __name__ == "__main__":
    main()
