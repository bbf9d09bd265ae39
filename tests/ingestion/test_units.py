"""Fast unit tests: dialect configuration, CSV decoding, range lookup, pseudonyms, MARC on real data."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ingestion import feeds as F
from ingestion.pseudonym import Pseudonymiser, home_library, ranges_frame
from ingestion.readers import iter_marc, read_csv
from ingestion.sources import FILE_PATTERNS, RegistryError, file_date, get_dialect, marc_profiles

REALDATA = Path("/work/shared/realdata/marc")


@pytest.mark.parametrize("name", ["interlib", "libsys", "koha"])
def test_every_dialect_maps_all_canonical_fields_from_its_header(name):
    d = get_dialect(name)
    assert set(d.columns) == {"source_event_id", "event_type", "event_at", "library_code", "item_barcode",
                              "reader_barcode", "due_date", "channel"}
    assert {c for c in d.columns.values() if c} <= set(d.header)
    assert set(d.event_codes.values()) == {"loan", "return", "renew"}
    assert set(d.channels.values()) == {"desk", "self_check", "van"}
    assert (d.columns["source_event_id"] is None) == d.event_id_from_line_hash


def test_unknown_dialect_is_a_plain_error():
    with pytest.raises(RegistryError, match="unknown dialect 'aleph'"):
        get_dialect("aleph")


@pytest.mark.parametrize(("text", "ok"), [
    pytest.param("2026/01/05 09:30:00", True, id="ok"),
    pytest.param("2026/1/5 09:30:00", False, id="one-digit-month"),
    pytest.param("2026/01/05 09:30:0", False, id="one-digit-second"),
    pytest.param("2026-01-05 09:30:00", False, id="wrong-separator"),
])
def test_timestamps_must_have_the_exact_shape_of_the_format(text, ok):
    parsed = pl.DataFrame({"t": [text]}).select(F.parse_datetime("t", "%Y/%m/%d %H:%M:%S")).item()
    assert (parsed is not None) == ok


def test_offset_timestamps_become_shanghai_local_time():
    parsed = pl.DataFrame({"t": ["2026-01-05T01:30:00+00:00"]}).select(
        F.parse_datetime("t", "%Y-%m-%dT%H:%M:%S%:z", has_offset=True)).item()
    assert str(parsed) == "2026-01-05 09:30:00"


def test_range_lookup_finds_the_owning_library_or_null():
    ranges = ranges_frame([(532622000000001, 532622000999999, "532622000"),
                           (532622003000001, 532622003999999, "532622003")])
    barcodes = pl.Series(["532622003000042", "532622000000001", "532622001000001", "ABC", None, "532622000999999",
                          "532622003000042"])
    assert home_library(barcodes, ranges).to_list() == [
        "532622003", "532622000", None, None, None, "532622000", "532622003"]


def test_pseudonyms_are_keyed_stable_and_32_hex():
    a, b = Pseudonymiser(b"k1"), Pseudonymiser(b"k2")
    long_key = Pseudonymiser(b"x" * 100)
    for p in (a, b, long_key):
        assert p("532622000000001") == p.reference("532622000000001")
    assert a("532622000000001") == a("532622000000001") != b("532622000000001")
    assert len(a("532622000000001")) == 32 and int(a("532622000000001"), 16) >= 0
    assert a.series(pl.Series(["532622000000001", "", None])).to_list() == [a("532622000000001"), None, None]


def test_scrub_replaces_card_like_numbers_but_not_item_barcodes():
    p = Pseudonymiser(b"k")
    text = p.scrub("E1,借书,532622000000001,2622000000000101,53262219800101123X")
    assert "532622000000001" not in text and "2622000000000101" in text and "53262219800101123X" not in text


def test_csv_reader_yields_bounded_batches(tmp_path):
    # given a 2,500-line GBK file
    header = ("a", "b")
    path = tmp_path / "x.csv"
    path.write_bytes(("a,b\n" + "".join(f"{i},值{i}\n" for i in range(2500))).encode("gbk"))

    # when it is read in batches of 1,000
    chunks = list(read_csv(path, "gbk", header, batch_rows=1000))

    # then no batch holds more than 1,000 rows and every line is there once, in order
    assert [len(c.texts) for c in chunks] == [1000, 1000, 500]
    assert chunks[2].texts[-1] == "2499,值2499" and chunks[2].lines[-1] == 2500
    assert sum(len(c.lines) for c in chunks) == 2500


def test_csv_reader_accepts_a_bom_only_when_the_encoding_allows_it(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("\ufeffa,b\n1,2\n".encode())
    assert next(read_csv(path, "utf-8-sig", ("a", "b"))).texts.to_list() == ["1,2"]
    assert next(read_csv(path, "gbk", ("a", "b"))).file_level


@pytest.mark.parametrize(("feed", "name", "day"), [
    pytest.param("circulation", "circ_20260115.csv", "2026-01-15", id="daily"),
    pytest.param("monthly_report", "report_202601.xlsx", "2026-01-01", id="monthly"),
    pytest.param("holdings", "holdings_20260115.mrc", "2026-01-15", id="marc"),
])
def test_file_names_date_the_delivery(feed, name, day):
    assert FILE_PATTERNS[feed].match(name)
    assert file_date(feed, name).isoformat() == day


# ------------------------------------------------------------------------------------------- real MARC

def _items(path: Path, tag: str, forced: str | None = None) -> tuple[int, int, int]:
    records = items = errors = 0
    spec = {"tag": tag, "barcode": "i", "owning": "m", "current": "l", "status": "t"}
    for _, record, _error in iter_marc(path, forced):
        if record is None:
            errors += 1
            continue
        records += 1
        items += len(F.marc_items(record, spec, marc_profiles()["marc21"]))
    return records, items, errors


def test_real_evergreen_jazz_records_read_as_utf8_give_905_records_and_1121_items():
    # the file claims MARC-8 (leader/09 blank) everywhere; read as UTF-8 (how it is usually counted),
    # 95 records that really are MARC-8 do not decode and are reported, not dropped silently
    assert _items(REALDATA / "jazz_1k.mrc", "949", forced="utf-8") == (905, 1121, 95)


def test_real_evergreen_jazz_records_honouring_leader_09_recover_the_marc8_records():
    assert _items(REALDATA / "jazz_1k.mrc", "949") == (1000, 1238, 0)


def test_real_stanford_records_have_56_items_in_999():
    assert _items(REALDATA / "stanford_unicornWHoldings.mrc", "999") == (50, 56, 0)


def test_real_french_records_keep_their_accents():
    titles = [F.marc_value(r, "245a") for _, r, _ in iter_marc(REALDATA / "lul_fre_100.mrc")]
    assert any(ch in "".join(titles) for ch in "éèàç")


@pytest.mark.parametrize(("feed", "day", "interval", "expected"), [
    pytest.param("circulation", "2026-01-15", ("2026-01-15", "2026-01-16"), True, id="daily-in"),
    pytest.param("circulation", "2026-01-16", ("2026-01-15", "2026-01-16"), False, id="daily-end-excluded"),
    pytest.param("activities", "2026-01-01", ("2026-01-20", "2026-01-21"), True, id="monthly-overlaps-a-day"),
    pytest.param("monthly_report", "2026-01-01", ("2026-02-01", "2026-02-02"), False, id="monthly-next-month"),
    pytest.param("rotations", "2025-12-01", ("2025-12-31", "2026-01-02"), True, id="monthly-straddles"),
])
def test_which_files_a_run_for_an_interval_takes(feed, day, interval, expected):
    from datetime import date

    from ingestion.api import overlaps

    span = (date.fromisoformat(interval[0]), date.fromisoformat(interval[1]))
    assert overlaps(feed, date.fromisoformat(day), span) is expected


def test_prefetch_keeps_order_and_raises_the_producers_error_in_the_caller():
    from ingestion.loader import prefetch

    assert list(prefetch(iter(range(10)))) == list(range(10))

    def broken():
        yield 1
        raise ValueError("line 2 is broken")

    got = []
    with pytest.raises(ValueError, match="line 2 is broken"):
        for item in prefetch(broken()):
            got.append(item)
    assert got == [1]


def test_prefetch_stops_its_producer_when_the_caller_stops_early():
    import itertools
    import threading

    from ingestion.loader import prefetch

    closed = threading.Event()

    def endless():
        try:
            yield from itertools.count()
        finally:
            closed.set()

    stream = prefetch(endless())
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert closed.wait(5)
