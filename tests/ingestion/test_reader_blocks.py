"""Fast unit tests of the block-wise CSV reader: lines are checked with numpy over whole decoded blocks,
handed to polars as bytes, and a quoted field may hold a line break (also across a block boundary)."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest

from ingestion import readers
from ingestion.loader import _frame
from ingestion.pseudonym import Pseudonymiser
from ingestion.readers import read_csv

HEADER = ("id", "name", "note")


def _read(tmp_path, body: str, *, encoding="gbk", batch_rows=1000, block_bytes=None, monkeypatch=None):
    path = tmp_path / "x.csv"
    path.write_bytes(("id,name,note\r\n" + body).encode(encoding))
    if block_bytes:
        monkeypatch.setattr(readers, "BLOCK_BYTES", block_bytes)
    return list(read_csv(path, encoding, HEADER, batch_rows=batch_rows))


def _rows(chunks) -> list[tuple[int, list[str]]]:
    out = []
    for c in chunks:
        frame = _frame(c.columns, c.lines, data=c.data)
        out += [(r["_line"], [r[h] for h in HEADER]) for r in frame.iter_rows(named=True)]
    return out


def _rejects(chunks) -> list[tuple[int, str, str]]:
    return [(r.line, r.rule, r.reason) for c in chunks for r in c.rejects]


@pytest.mark.parametrize("block_bytes", [
    pytest.param(None, id="one-block"),
    pytest.param(7, id="tiny-blocks"),  # every line in a block of its own, and cut mid-line
])
def test_good_bad_and_blank_lines_keep_their_line_numbers(tmp_path, monkeypatch, block_bytes):
    # given good lines, a line with a field too many, a blank line, broken quoting and a quoted comma
    body = "1,甲,a\r\n2,乙,b,extra\r\n\r\n3,\"丙,丁\",c\r\n4,\"broken,d\r\n5,戊,e\r\n"

    # when the file is read
    chunks = _read(tmp_path, body, block_bytes=block_bytes, monkeypatch=monkeypatch)

    # then good rows are parsed with their physical line numbers, the others are rejected by rule
    assert _rows(chunks) == [(1, ["1", "甲", "a"]), (4, ["3", "丙,丁", "c"]), (6, ["5", "戊", "e"])]
    assert _rejects(chunks) == [(2, "malformed_row", "expected 3 fields, found 4 fields"),
                                (5, "malformed_row", "expected 3 fields, found broken quoting")]


@pytest.mark.parametrize("block_bytes", [
    pytest.param(None, id="one-block"),
    pytest.param(16, id="record-across-blocks"),
])
def test_a_quoted_field_with_a_line_break_is_one_record(tmp_path, monkeypatch, block_bytes):
    # given a note that holds a line break inside quotes (legal CSV)
    body = '1,甲,"第一行\r\n第二行"\r\n2,乙,b\r\n'

    # when the file is read
    chunks = _read(tmp_path, body, block_bytes=block_bytes, monkeypatch=monkeypatch)

    # then it is one row (numbered by its first line), not two malformed rows
    assert _rows(chunks) == [(1, ["1", "甲", "第一行\r\n第二行"]), (3, ["2", "乙", "b"])]
    assert _rejects(chunks) == []
    assert [t for c in chunks for t in c.texts.to_list()] == ['1,甲,"第一行\r\n第二行"', "2,乙,b"]


def test_a_quote_that_never_closes_spoils_only_its_own_line(tmp_path):
    body = '1,"甲,a\r\n2,乙,b\r\n3,丙,c\r\n'
    chunks = _read(tmp_path, body)
    assert _rows(chunks) == [(2, ["2", "乙", "b"]), (3, ["3", "丙", "c"])]
    assert _rejects(chunks) == [(1, "malformed_row", "expected 3 fields, found broken quoting")]


def test_undecodable_line_and_cut_off_last_line(tmp_path):
    # given a GBK file with one UTF-8 line in the middle and no line end after the last line
    path = tmp_path / "x.csv"
    path.write_bytes("id,name,note\n1,甲,a\n".encode("gbk") + "2,乙,b\n".encode() + "3,丙".encode("gbk"))

    chunks = list(read_csv(path, "gbk", HEADER))

    assert _rows(chunks) == [(1, ["1", "甲", "a"])]
    assert _rejects(chunks) == [
        (2, "wrong_encoding", "the line is not valid gbk"),
        (3, "malformed_row", "expected 3 fields, found 2 fields; last line is cut off (no line end)"),
    ]


def test_batches_are_exact_and_slices_of_the_block_bytes(tmp_path, monkeypatch):
    # given 2,345 lines, one malformed, read in blocks of ~1 kB and batches of 500
    body = "".join(f"{i},名{i},{'x,y' if i == 700 else 'n'}\n" for i in range(2345))
    chunks = _read(tmp_path, body, batch_rows=500, block_bytes=1000, monkeypatch=monkeypatch)

    # then every batch but the last holds exactly 500 rows, and rows are whole lines in order
    assert [len(c.lines) for c in chunks] == [500, 500, 500, 500, 344]
    rows = _rows(chunks)
    assert [n for n, _ in rows] == [n for n in range(1, 2346) if n != 701]
    assert rows[-1] == (2345, ["2344", "名2344", "n"])
    assert _rejects(chunks) == [(701, "malformed_row", "expected 3 fields, found 4 fields")]


def test_line_hash_dialects_see_the_same_line_text_as_before(tmp_path):
    # koha hashes the delivered line into an event id: the text must be the line without its line end
    chunks = _read(tmp_path, "1,甲,a\r\n2,乙,b\r\n", encoding="utf-8")
    texts = chunks[0].texts.to_list()
    assert texts == ["1,甲,a", "2,乙,b"]
    assert hashlib.sha256(texts[0].encode()).hexdigest()  # what feeds.circulation hashes


def test_vectorised_pseudonyms_equal_the_reference_hmac():
    p = Pseudonymiser(b"k")
    values = pl.Series(["532622000000001", "532622003999999", "卡1"])
    assert p.digests(values).to_list() == [p.reference(v) for v in values.to_list()]


def test_pseudonyms_of_readers_seen_in_an_earlier_batch_are_not_hashed_again(monkeypatch):
    # given a pseudonymiser that has seen two cards in a first batch
    p = Pseudonymiser(b"k")
    first = pl.Series(["532622000000001", "532622000000002", None])
    assert p.series(first).to_list() == [p.reference("532622000000001"), p.reference("532622000000002"), None]

    # when a second batch names one of them again and a new one
    hashed = []
    digests = p.digests
    monkeypatch.setattr(p, "digests", lambda values: hashed.extend(values.to_list()) or digests(values))
    second = pl.Series(["532622000000002", "", "532622000000003", "532622000000002"])

    # then only the new card is hashed, and every pseudonym is the keyed HMAC, in the batch's order
    assert p.series(second).to_list() == [p.reference("532622000000002"), None, p.reference("532622000000003"),
                                          p.reference("532622000000002")]
    assert hashed == ["532622000000003"]
