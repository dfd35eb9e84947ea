"""Build samples/reviews.xlsx: 36 short multilingual product reviews, a formula column and a chart.

    python samples/make_sample.py [OUTPUT]

The README's main command translates its review column:

    excel-glm translate samples/reviews.xlsx --range "Reviews!B2:B37" --to English --into E

openpyxl writes formulas without cached values; this script fills in the `length` column's cached
values itself (LEN of each review; every review is in the Basic Multilingual Plane, so Python's len
equals Excel's), so readers that take cached values (the CLI, pandas) see numbers before any
recalculation. The output is byte-reproducible: the save time and the zip entries' dates are fixed.
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font

# (review, stars): French, German, Spanish, Italian, Portuguese, Chinese, Japanese, English, Dutch,
# Polish, Korean, Russian, Swedish, Turkish.
REVIEWS: tuple[tuple[str, int], ...] = (
    ("Livraison rapide, produit conforme à la description.", 5),
    ("La batterie ne tient pas plus de deux heures.", 2),
    ("Très bon rapport qualité-prix, je recommande.", 4),
    ("Emballage abîmé mais l'article fonctionne.", 3),
    ("Sehr gute Qualität, aber etwas zu teuer.", 4),
    ("Das Kabel war nach einer Woche kaputt.", 1),
    ("Schnelle Lieferung und einfache Einrichtung.", 5),
    ("Die Farbe sieht anders aus als auf dem Foto.", 3),
    ("Me encanta, lo uso todos los días.", 5),
    ("El tamaño es más pequeño de lo esperado.", 3),
    ("No funciona con mi teléfono, lo devolví.", 1),
    ("Buena calidad y muy cómodo.", 4),
    ("Prodotto eccellente, arrivato in anticipo.", 5),
    ("Il manuale è solo in inglese, poco chiaro.", 2),
    ("Funziona bene ma fa un po' di rumore.", 3),
    ("Chegou rápido e bem embalado.", 5),
    ("A tampa quebrou no primeiro uso.", 1),
    ("Bom produto pelo preço.", 4),
    ("质量很好，物流也很快。", 5),
    ("用了三天就坏了，非常失望。", 1),
    ("颜色和图片一样，很满意。", 4),
    ("とても使いやすくて気に入っています。", 5),
    ("説明書が分かりにくかったです。", 2),
    ("値段の割に品質が良いです。", 4),
    ("Works exactly as advertised.", 5),
    ("Stopped charging after a month.", 1),
    ("Goede kwaliteit, snelle levering.", 4),
    ("Het apparaat maakt veel lawaai.", 2),
    ("Świetny produkt, polecam.", 5),
    ("Rozmiar się nie zgadza.", 2),
    ("배송이 빠르고 품질도 좋아요.", 5),
    ("생각보다 너무 작아요.", 2),
    ("Отличное качество, рекомендую.", 5),
    ("Сломался через неделю.", 1),
    ("Bra pris och snabb leverans.", 4),
    ("Ürün açıklamadaki gibi değil.", 2),
)

HEADER = ("id", "review", "stars", "length", "review (English)")
FIXED_TIME = "2026-01-01T00:00:00Z"
FIXED_ZIP_DATE = (2026, 1, 1, 0, 0, 0)


def build_workbook() -> Workbook:
    """The sample as an openpyxl workbook: header, reviews, a LEN formula column and a bar chart."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Reviews"
    sheet.append(HEADER)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for number, (review, stars) in enumerate(REVIEWS, start=1):
        row = number + 1
        sheet.append([number, review, stars, f"=LEN(B{row})"])
        sheet.cell(row=row, column=2).alignment = Alignment(wrap_text=True)
    sheet.column_dimensions["B"].width = 48
    sheet.column_dimensions["E"].width = 48
    sheet.freeze_panes = "A2"

    last = len(REVIEWS) + 1
    chart = BarChart()
    chart.title = "Stars per review"
    chart.y_axis.title = "stars"
    chart.x_axis.title = "review id"
    chart.add_data(Reference(sheet, min_col=3, min_row=1, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=last))
    sheet.add_chart(chart, "G2")
    return workbook


def save_reproducibly(workbook: Workbook, path: Path) -> None:
    """Save, then pin the save time and the zip dates so that a rebuild is byte-identical."""
    workbook.save(path)
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            if name == "xl/worksheets/sheet1.xml":
                data = _with_cached_lengths(data)
            if name == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*",
                    rb"\g<1>" + FIXED_TIME.encode(),
                    data,
                )
            archive.writestr(zipfile.ZipInfo(name, FIXED_ZIP_DATE), data, zipfile.ZIP_DEFLATED)


def _with_cached_lengths(sheet_xml: bytes) -> bytes:
    """Give each `=LEN(Bn)` cell the value Excel would cache for it."""
    lengths = {str(row): len(review) for row, (review, _) in enumerate(REVIEWS, start=2)}

    def cached(match: re.Match[bytes]) -> bytes:
        row = match.group(1).decode()
        return b"<f>LEN(B%s)</f><v>%d</v>" % (row.encode(), lengths[row])

    filled, count = re.subn(rb"<f>LEN\(B(\d+)\)</f><v\s*/?>(?:</v>)?", cached, sheet_xml)
    if count != len(REVIEWS):
        raise RuntimeError(f"expected {len(REVIEWS)} LEN formulas in the sheet, found {count}")
    return filled


def main(argv: list[str]) -> None:
    """Write the sample to the path given, or beside this script."""
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("reviews.xlsx")
    save_reproducibly(build_workbook(), path)
    print(f"wrote {path} ({len(REVIEWS)} reviews)")


if __name__ == "__main__":
    main(sys.argv)
