"""TCGplayer product/price CSVs, as published daily per set ("group") for category 3, Pokémon
(``productId, name, cleanName, …, extNumber, …, lowPrice, midPrice, highPrice, marketPrice,
directLowPrice, subTypeName``), read offline.

A row is matched to a card by set and collector number (``extNumber`` "025/165": number 25 of a
set printed with 165). The set is the one given (``set_id``), else the card whose number, printed
total and name agree. Rows without a collector number are sealed products: skipped, counted. Every
other row that cannot be matched — unknown card, ambiguous, unknown printing, no price, malformed —
is counted and listed with its line.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.csvlines import CsvProblem, csv_records, decode_csv
from app.prices.base import PriceError, Progress, Quote, Report, amount

logger = logging.getLogger(__name__)

SOURCE = "tcgplayer"
PRINTINGS = {
    "normal": "normal",
    "holofoil": "holo",
    "reverse holofoil": "reverse holo",
    "1st edition holofoil": "1st edition holo",
    "1st edition normal": "1st edition",
    "1st edition": "1st edition",
    "unlimited holofoil": "holo",
    "unlimited": "normal",
}
FIGURES = {
    "lowPrice": "low",
    "midPrice": "mid",
    "highPrice": "high",
    "marketPrice": "market",
    "directLowPrice": "directLow",
}
REQUIRED = ("extNumber", "subTypeName", "marketPrice")
MAX_BYTES = 200_000_000


def collector_number(text: str) -> str:
    """ "025" → "25", "TG05" → "TG05": how numbers compare across the CSV and the catalogue."""
    text = text.strip().upper()
    return str(int(text)) if text.isdigit() else text


def simple_name(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.casefold())


@dataclass(frozen=True)
class CardRef:
    card_id: str
    set_id: str
    number: str
    printed_total: int | None
    name: str


class Catalogue:
    """The cards a CSV row may be: by (set, number) and by (number, printed total)."""

    def __init__(self, cards: Iterable[dict[str, Any]]) -> None:
        self.by_set: dict[tuple[str, str], CardRef] = {}
        self.by_number: dict[tuple[str, int | None], list[CardRef]] = defaultdict(list)
        for card in cards:
            if not card.get("card_id") or card.get("number") is None:
                continue
            total = card.get("printed_total")
            ref = CardRef(
                str(card["card_id"]),
                str(card.get("set_id") or ""),
                collector_number(str(card["number"])),
                int(total) if isinstance(total, int) or (isinstance(total, str) and total.isdigit()) else None,
                str(card.get("name") or ""),
            )
            self.by_set[(ref.set_id, ref.number)] = ref
            self.by_number[(ref.number, ref.printed_total)].append(ref)

    def match(self, ext_number: str, name: str, set_id: str | None) -> CardRef | str:
        """The card, or why there is none."""
        number, _, total_text = ext_number.partition("/")
        number = collector_number(number)
        if set_id:
            ref = self.by_set.get((set_id, number))
            return ref if ref else f"no card {number} in set {set_id}"
        total = int(total_text) if total_text.strip().isdigit() else None
        candidates = [r for r in self.by_number.get((number, total), []) if simple_name(r.name) == simple_name(name)]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            return f"no known card numbered {ext_number} named {name!r} (give the set with --set)"
        sets = ", ".join(r.set_id for r in candidates[:4])
        return f"{ext_number} {name!r} is in {len(candidates)} sets ({sets}); give the set with --set"


@dataclass
class CsvSource:
    """TCGplayer price CSV files, priced on ``date`` (the day they were published)."""

    files: Sequence[Path]
    catalogue: Catalogue
    date: dt.date
    set_id: str | None = None
    today: dt.date | None = None
    name: str = "TCGplayer CSV"

    def quotes(self, report: Report, progress: Progress) -> Iterator[Quote]:
        today = self.today or dt.date.today()
        for number, path in enumerate(self.files, 1):
            progress(f"{path.name} ({number}/{len(self.files)})")
            header, records = _read_csv(path)
            for line, cells in records:
                quote = self._row(path, line, header, cells, report)
                if quote is not None:
                    report.add(quote, today)
                    yield quote

    def _row(self, path: Path, line: int, header: list[str], cells: list[str], report: Report) -> Quote | None:
        where = f"{path.name} line {line}"
        if len(cells) != len(header):
            report.miss(f"{where}: malformed row ({len(cells)} cell(s) where the header has {len(header)})")
            return None
        row = dict(zip(header, cells, strict=True))
        name = row.get("name") or row.get("cleanName") or ""
        if not row["extNumber"].strip():
            report.skipped += 1  # sealed product or other non-card
            return None
        finish = PRINTINGS.get(row["subTypeName"].strip().casefold())
        if finish is None:
            report.miss(f"{where}: {name} {row['extNumber']}: unknown printing {row['subTypeName']!r}")
            return None
        figures = {mine: v for theirs, mine in FIGURES.items() if (v := amount(row.get(theirs))) is not None}
        bad = [theirs for theirs in FIGURES if row.get(theirs, "").strip() and amount(row[theirs]) is None]
        if bad:
            report.miss(f"{where}: {name} {row['extNumber']}: {bad[0]} {row[bad[0]]!r} is not a price")
            return None
        price = figures.get("market", figures.get("mid"))
        if price is None:
            report.miss(f"{where}: {name} {row['extNumber']} ({finish}): no market or mid price")
            return None
        card = self.catalogue.match(row["extNumber"], name, self.set_id)
        if isinstance(card, str):
            report.miss(f"{where}: {card}")
            return None
        return Quote(card.card_id, finish, SOURCE, "USD", self.date.isoformat(), price, figures)


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise PriceError(f"{path} is over {MAX_BYTES // 1_000_000} MB; not a price CSV")
        records = csv_records(decode_csv(path.read_bytes()))
    except OSError as error:
        raise PriceError(f"cannot read {path}: {error.strerror or error}") from error
    except CsvProblem as error:
        raise PriceError(f"{path} {error}") from error
    if not records:
        raise PriceError(f"{path} is empty (expected a TCGplayer price CSV header)")
    header = [h.strip() for h in records[0][1]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise PriceError(f"{path} line 1: not a TCGplayer price CSV (missing column(s) {', '.join(missing)})")
    return header, records[1:]
