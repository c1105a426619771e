from __future__ import annotations

from pathlib import Path

import pytest

from app.collection import Collection

CARDS = [
    {"card_id": "sv3pt5-25", "name": "Pikachu", "set_id": "sv3pt5", "set_name": "151", "number": "25",
     "printed_total": 165, "rarity": "Common", "supertype": "Pokémon", "ptcgo_code": "MEW"},
    {"card_id": "sv3pt5-29", "name": "Nidoran ♀", "set_id": "sv3pt5", "set_name": "151", "number": "29",
     "printed_total": 165, "rarity": "Common", "supertype": "Pokémon", "ptcgo_code": "MEW"},
    {"card_id": "xy12-1", "name": "Venusaur-EX", "set_id": "xy12", "set_name": "Evolutions", "number": "1",
     "printed_total": 108, "rarity": "Rare Holo EX", "supertype": "Pokémon", "ptcgo_code": "EVO"},
    {"card_id": "sv5-10", "name": '=HYPERLINK("http://x")', "set_id": "sv5", "set_name": "Temporal Forces",
     "number": "10", "printed_total": 162, "rarity": "Common", "supertype": "Pokémon", "ptcgo_code": "TEF"},
    {"card_id": "xy12-2", "name": "Flabébé ★", "set_id": "xy12", "set_name": "Evolutions", "number": "2",
     "printed_total": 108, "rarity": "Common", "supertype": "Pokémon", "ptcgo_code": "EVO"},
]  # fmt: skip


@pytest.fixture
def collection(tmp_path: Path) -> Collection:
    c = Collection(tmp_path / "collection.db")
    c.upsert_cards(CARDS)
    yield c
    c.close()
