from __future__ import annotations

import copy
import hashlib
import time
from pathlib import Path

import pytest

from app.catalog.database import CatalogDatabase, build_database
from app.catalog.update import ApiClient, ApiError, update_catalog
from tests.catalog.conftest import small_metadata
from tests.catalog.fake_api import ApiData, FakeApi, faults_for

SOURCE_SETS = ("base1", "xy12")


@pytest.fixture(scope="module")
def source_db(metadata_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 'shipped' catalogue of these tests: two sets."""
    folder = tmp_path_factory.mktemp("source")
    out = folder / "catalog.sqlite"
    build_database(small_metadata(metadata_dir, folder / "meta", SOURCE_SETS), out)
    out.chmod(0o444)
    return out


@pytest.fixture
def api_data(metadata_dir: Path) -> ApiData:
    """The API knows the two sets plus two new ones, one of them bigger than a page (261 cards)."""
    return ApiData.from_metadata(metadata_dir, ["base1", "xy12", "sm11", "xy7"])


def client(api: FakeApi, sleeps: list[float] | None = None, **options: object) -> ApiClient:
    recorder = sleeps if sleeps is not None else []
    settings: dict[str, object] = {"timeout_s": 5.0, "attempts": 3, "backoff_s": 0.05, **options}
    return ApiClient(base=api.base, api_key="k-123", sleep=recorder.append, rate_limit=None, **settings)  # type: ignore[arg-type]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_update_adds_new_sets_through_paged_listings_into_the_user_copy_only(
    source_db: Path, api_data: ApiData, tmp_path: Path
) -> None:
    before = sha(source_db)
    user = tmp_path / "user" / "catalog.db"
    with FakeApi(api_data) as api:
        report = update_catalog(client(api), user, source=source_db)
    assert not report.failed
    assert sorted(report.sets_added) == ["sm11", "xy7"] and report.sets_current == 2
    assert sha(source_db) == before
    db = CatalogDatabase.open(user)
    assert db.card_counts()["sm11"] == 261 and db.card_counts()["xy7"] == len(api_data.cards["xy7"])
    assert report.cards_after == db.card_count() == report.cards_before + 261 + len(api_data.cards["xy7"])
    pages = [p for path, p, _ in api_data.requests if p.get("q") == "set.id:sm11"]
    assert [p["page"] for p in pages] == ["1", "2"] and {p["pageSize"] for p in pages} == {"250"}
    assert all(headers.get("X-Api-Key") == "k-123" for _, _, headers in api_data.requests)
    assert db.search("4/102")[0].card_id == "base1-4"
    assert any(c.card_id == "sm11-1" for c in db.search("sm11-1"))


def test_a_second_update_fetches_only_what_changed(source_db: Path, api_data: ApiData, tmp_path: Path) -> None:
    user = tmp_path / "catalog.db"
    with FakeApi(api_data) as api:
        update_catalog(client(api), user, source=source_db)
        api_data.requests.clear()
        again = update_catalog(client(api), user, source=source_db)
        assert api_data.card_requests() == [] and again.sets_current == 4 and not again.sets_added
        changed = copy.deepcopy(api_data.sets[1])
        changed["updatedAt"] = "2030/01/01 00:00:00"
        api_data.sets[1] = changed
        api_data.cards[changed["id"]][0] = {**api_data.cards[changed["id"]][0], "rarity": "Corrected"}
        third = update_catalog(client(api), user, source=source_db)
    assert third.sets_updated == [changed["id"]]
    assert api_data.card_requests() == [f"set.id:{changed['id']}"]
    card = CatalogDatabase.open(user).card(api_data.cards[changed["id"]][0]["id"])
    assert card is not None and card.rarity == "Corrected"


def test_429_waits_the_servers_retry_after_then_succeeds(source_db: Path, api_data: ApiData, tmp_path: Path) -> None:
    faults_for(api_data, "/v2/cards", "xy7", "429:3")
    sleeps: list[float] = []
    with FakeApi(api_data) as api:
        report = update_catalog(client(api, sleeps), tmp_path / "c.db", source=source_db)
    assert not report.failed and "xy7" in report.sets_added
    assert sleeps == [3.0]


def test_a_retry_after_beyond_the_bound_gives_up_on_that_set_only(
    source_db: Path, api_data: ApiData, tmp_path: Path
) -> None:
    faults_for(api_data, "/v2/cards", "xy7", "429:3600")
    sleeps: list[float] = []
    with FakeApi(api_data) as api:
        report = update_catalog(client(api, sleeps, max_wait_s=60.0), tmp_path / "c.db", source=source_db)
    assert sleeps == []
    assert report.sets_added == ["sm11"]
    (what, reason), *_ = report.failed
    assert what == "xy7" and "429" in reason and "3600" in reason


def test_server_errors_back_off_and_retry(source_db: Path, api_data: ApiData, tmp_path: Path) -> None:
    faults_for(api_data, "/v2/sets", "", "500", "500")
    sleeps: list[float] = []
    with FakeApi(api_data) as api:
        report = update_catalog(client(api, sleeps), tmp_path / "c.db", source=source_db)
    assert not report.failed and sleeps == [0.05, 0.1]


def test_a_set_that_keeps_failing_is_reported_and_the_others_are_kept(
    source_db: Path, api_data: ApiData, tmp_path: Path
) -> None:
    faults_for(api_data, "/v2/cards", "sm11", "always:500")
    with FakeApi(api_data) as api:
        report = update_catalog(client(api), tmp_path / "c.db", source=source_db)
    assert report.sets_added == ["xy7"]
    assert report.failed == [("sm11", "HTTP 500 Internal Server Error (gave up after 3 attempts)")]
    assert "Failed: sm11: HTTP 500" in report.summary(tmp_path / "c.db")
    assert "sm11" not in CatalogDatabase.open(tmp_path / "c.db").card_counts()


def test_an_interrupted_update_resumes_with_what_is_missing(source_db: Path, api_data: ApiData, tmp_path: Path) -> None:
    user = tmp_path / "c.db"
    faults_for(api_data, "/v2/cards", "sm11", "always:404")
    with FakeApi(api_data) as api:
        first = update_catalog(client(api), user, source=source_db)
        assert [what for what, _ in first.failed] == ["sm11"] and "HTTP 404" in first.failed[0][1]
        api_data.faults.clear()
        api_data.requests.clear()
        second = update_catalog(client(api), user, source=source_db)
    assert second.sets_added == ["sm11"] and not second.failed
    assert api_data.card_requests() == ["set.id:sm11", "set.id:sm11"]  # its two pages, nothing else


@pytest.mark.parametrize("fault", ["truncate", "html", "badjson"])
def test_a_broken_answer_is_retried_not_stored(fault: str, source_db: Path, api_data: ApiData, tmp_path: Path) -> None:
    faults_for(api_data, "/v2/cards", "xy7", fault)
    with FakeApi(api_data) as api:
        report = update_catalog(client(api), tmp_path / "c.db", source=source_db)
    assert not report.failed and "xy7" in report.sets_added
    assert CatalogDatabase.open(tmp_path / "c.db").card_counts()["xy7"] == len(api_data.cards["xy7"])


@pytest.mark.parametrize(
    ("fault", "words"), [("html", "an HTML page, not JSON"), ("badjson", "malformed JSON"), ("truncate", "transfer")]
)
def test_a_broken_answer_that_persists_is_named_in_the_summary(
    fault: str, words: str, source_db: Path, api_data: ApiData, tmp_path: Path
) -> None:
    faults_for(api_data, "/v2/sets", "", f"always:{fault}")
    with FakeApi(api_data) as api:
        report = update_catalog(client(api), tmp_path / "c.db", source=source_db)
    assert [what for what, _ in report.failed] == ["the set list"]
    assert words in report.failed[0][1]
    assert report.cards_after == report.cards_before


def test_a_stalled_connection_is_bounded_by_the_timeout(source_db: Path, api_data: ApiData, tmp_path: Path) -> None:
    api_data.stall_s = 5.0
    faults_for(api_data, "/v2/cards", "xy7", "always:stall")
    started = time.monotonic()
    with FakeApi(api_data) as api:
        report = update_catalog(client(api, timeout_s=0.3, attempts=2), tmp_path / "c.db", source=source_db)
    assert time.monotonic() - started < 4.0
    assert report.sets_added == ["sm11"]
    assert report.failed == [("xy7", "no answer within 0.3 s (gave up after 2 attempts)")]


def test_an_unreachable_api_is_one_failure(source_db: Path, tmp_path: Path) -> None:
    dead = ApiClient(base="http://127.0.0.1:9/v2", timeout_s=1.0, attempts=2, backoff_s=0.0, sleep=lambda s: None)
    report = update_catalog(dead, tmp_path / "c.db", source=source_db)
    assert len(report.failed) == 1 and "cannot reach 127.0.0.1:9" in report.failed[0][1]
    assert report.cards_after == report.cards_before


def test_rejected_key_is_not_retried(source_db: Path, api_data: ApiData, tmp_path: Path) -> None:
    faults_for(api_data, "/v2/sets", "", "404")
    sleeps: list[float] = []
    with FakeApi(api_data) as api, pytest.raises(ApiError, match="HTTP 404"):
        client(api, sleeps).get_json("sets")
    assert sleeps == []


def test_a_damaged_user_copy_is_refused_without_being_changed(source_db: Path, tmp_path: Path) -> None:
    from app.catalog.database import CatalogDatabaseError

    user = tmp_path / "c.db"
    user.write_bytes(b"not a database at all" * 100)
    before = sha(user)
    with pytest.raises(CatalogDatabaseError, match="not a readable catalogue"):
        update_catalog(ApiClient(base="http://127.0.0.1:9/v2"), user, source=source_db)
    assert sha(user) == before


def test_ctrl_c_keeps_the_sets_already_stored_and_the_next_run_resumes(
    source_db: Path, api_data: ApiData, tmp_path: Path
) -> None:
    user = tmp_path / "c.db"

    def interrupt_at_sm11(message: str) -> None:
        if "sm11" in message:
            raise KeyboardInterrupt

    with FakeApi(api_data) as api:
        with pytest.raises(KeyboardInterrupt):
            update_catalog(client(api), user, source=source_db, progress=interrupt_at_sm11)
        assert "xy7" in CatalogDatabase.open(user).card_counts()
        api_data.requests.clear()
        report = update_catalog(client(api), user, source=source_db)
    assert report.sets_added == ["sm11"] and api_data.card_requests() == ["set.id:sm11", "set.id:sm11"]


def test_retry_after_may_be_an_http_date() -> None:
    from email.utils import formatdate

    from app.net.http import retry_after_s as _retry_after

    assert 25 <= (_retry_after(formatdate(time.time() + 30, usegmt=True)) or 0) <= 30
    assert _retry_after("7") == 7.0
    assert _retry_after("soon") is None and _retry_after(None) is None
