"""Readers: delivered bytes → bounded batches of string rows, plus the rows that could not be read.

Every reader yields `Chunk`s. A chunk holds at most `batch_rows` good rows (memory does not grow
with the file) and the rows that already broke a rule while reading (`rejects`: line, rule,
reason, fields). Line numbers are 1-based data-row numbers with the header excluded: line 1 is
the first line after the header (for CSV the physical line number minus one).
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl

BLOCK_BYTES = 4 << 20
BATCH_ROWS = 100_000  # rows per polars batch: larger batches, fewer calls (preparing 2 M rows: 6.6 s → 6.0 s)


@dataclass
class Reject:
    line: int | None
    rule: str
    reason: str
    fields: dict | list | None


@dataclass
class Chunk:
    columns: list[str]
    lines: list[int] | pl.Series = field(default_factory=list)  # data-row numbers of the good rows
    rows: list[list] = field(default_factory=list)  # xlsx/MARC: each row has len(columns) values
    rejects: list[Reject] = field(default_factory=list)
    truncated_line: int | None = None  # CSV: last line of the file had no line end
    file_level: str | None = None  # the whole file is refused for this reason (every line quarantined)
    # CSV: the checked good lines as UTF-8, one per row, separated by "\n" (a trailing "\r" may remain);
    # handed to polars as they are, never split into Python strings on the hot path
    data: bytes | None = None
    starts: np.ndarray | None = None  # CSV: offset of each row in `data` (a quoted field may hold "\n")

    @property
    def texts(self) -> pl.Series:
        """The good lines as text (for dialects that hash the line, and for tests); cut out on demand."""
        if not self.data:
            return pl.Series([], dtype=pl.String)
        bounds = [*self.starts.tolist(), len(self.data) + 1]
        texts = [self.data[a:b - 1].decode("utf-8") for a, b in zip(bounds, bounds[1:], strict=False)]
        return pl.Series(texts, dtype=pl.String).str.strip_suffix("\r")


class FileRejected(Exception):
    """The whole file is refused (e.g. a monthly form without a required column)."""

    def __init__(self, rule: str, reason: str):
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


# ------------------------------------------------------------------------------------------- CSV

def _split(text: str) -> list[str] | None:
    try:
        return next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return None


def guess_decode(raw: bytes) -> str:
    """Best-effort text of a line we could not decode as declared (for the quarantine record)."""
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _decoded_blocks(fh, encoding: str) -> Iterator[tuple[pl.Series | None, list[bytes] | None, bool]]:
    """Blocks of physical lines after the header, decoded into a Series of lines (used where every
    line is handled anyway: a file whose header is wrong)."""
    for body, ended in _raw_blocks(fh):
        yield _decode_block(body, encoding, ended)


def _raw_blocks(fh) -> Iterator[tuple[bytes, bool]]:
    """The rest of the file in blocks of ~BLOCK_BYTES cut after a line end (the line end itself dropped);
    the last block is the file's unterminated tail, if any (ended = False). A newline byte never
    occurs inside a GBK/GB18030/UTF-8 character, so a cut at b"\n" is a cut between characters."""
    rest = b""
    while True:
        block = fh.read(BLOCK_BYTES)
        if not block:
            break
        block = rest + block if rest else block
        cut = block.rfind(b"\n")
        if cut < 0:
            rest = block
            continue
        body, rest = block[:cut], block[cut + 1:]
        yield body, True
    if rest:
        yield rest, False


def _decode_block(body: bytes, encoding: str, ended: bool):
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        return None, [raw.rstrip(b"\r") for raw in body.split(b"\n")], ended
    return pl.Series(text.split("\n"), dtype=pl.String).str.strip_suffix("\r"), None, ended


def read_csv(path: Path, encoding: str, header: tuple[str, ...] | list[str],
             batch_rows: int = BATCH_ROWS) -> Iterator[Chunk]:
    """Decode and check a delimited file in bounded batches of validated lines (`Chunk.data`).

    - header missing, undecodable or different from `header` after decoding → every data line is
      quarantined as `wrong_encoding` (the file as delivered cannot be trusted);
    - a line that does not decode → `wrong_encoding` for that line;
    - a line with the wrong number of fields (or broken quoting) → `malformed_row`.
    Lines that pass are split into fields later, by polars, a batch at a time.
    """
    header = list(header)
    columns = header
    with open(path, "rb") as fh:
        first = fh.readline().rstrip(b"\r\n")
        if not first.strip():
            return
        head_ok, head_text = False, None
        try:
            head_text = first.decode(encoding)
            head_fields = [f.strip().lstrip("\ufeff") for f in (_split(head_text) or [])]
            head_ok = head_fields == header
        except UnicodeDecodeError:
            pass
        if not head_ok:
            expected = ",".join(header)
            if head_text is None:
                guessed = guess_decode(first)[:120]
                same = guessed.lstrip("\ufeff") == expected
                reason = (f"the file is not {encoding} as the registry declares: its header does not decode as "
                          f"{encoding}" + (" (it is the expected header in another encoding, probably UTF-8)"
                                           if same else f" (read another way it says {guessed!r})"))
            else:
                reason = (f"header decoded as {encoding} is {head_text[:120]!r}, expected {expected!r} "
                          f"(wrong encoding, or not this dialect's export)")
            chunk = Chunk(columns, file_level=reason)
            n = 0
            for texts, _raws, _ended in _decoded_blocks(fh, "latin-1"):
                for text in texts.to_list():
                    n += 1
                    if not text.strip():
                        continue
                    line = guess_decode(text.encode("latin-1"))
                    chunk.rejects.append(Reject(n, "wrong_encoding", reason, {"line": line}))
                    if len(chunk.rejects) >= batch_rows:
                        yield chunk
                        chunk = Chunk(columns, file_level=reason)
            yield chunk
            return

        yield from _checked_batches(fh, encoding, columns, batch_rows)


_UTF8 = ("utf-8", "utf8", "utf_8")


@dataclass
class _Piece:
    """Good lines of one block: their numbers, their UTF-8 bytes joined by "\n", and where each starts."""

    lines: np.ndarray  # int64 data-line numbers
    data: bytes
    starts: np.ndarray  # int64 offset of each line in `data`; a line ends one byte before the next start


def _piece_from_texts(lines: list[int], texts: list[str]) -> _Piece:
    encoded = [t.encode("utf-8") for t in texts]
    sizes = np.fromiter((len(e) + 1 for e in encoded), dtype=np.int64, count=len(encoded))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64) if len(encoded) else sizes
    return _Piece(np.asarray(lines, dtype=np.int64), b"\n".join(encoded), starts)


def _line_check(text: str, width: int) -> tuple[bool, str | None]:
    """(keep, reason if not): the exact field count of one line (csv module, strict quoting)."""
    if not text.strip():
        return False, None  # blank: skipped, never loaded, never quarantined
    if '"' in text:
        fields = _split(text)
        count = -1 if fields is None else len(fields)
    else:
        count = text.count(",") + 1
    if count == width:
        return True, None
    return False, f"expected {width} fields, found {'broken quoting' if count < 0 else f'{count} fields'}"


MAX_RECORD_LINES = 100  # a quoted field may hold line breaks; a record never spans more physical lines


def _check_block(data: bytes, first_line: int, width: int, rejects: list[Reject], ended: bool,
                 may_carry: bool = False) -> tuple[_Piece, int | None]:
    """The good records of a decoded block (UTF-8 `data`, lines separated by "\n"), found with numpy: a
    line without quotes and with width-1 commas is good; only the others go through Python.

    A line with an odd number of quotes opens a quoted field that may go on over the next lines: it is
    joined with them up to the line that closes it, and kept as one record if that parses into exactly
    `width` fields (else the lines are judged one by one). With `may_carry`, a record still open at the
    end of the block is not judged: (piece, index of its first line) tells the caller to carry it over."""
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    starts = np.empty(len(newlines) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines + 1
    ends = np.empty_like(starts)
    ends[:-1] = newlines
    ends[-1] = len(arr)
    bounds = np.append(starts, len(arr) + 1)  # line i lies in [bounds[i], bounds[i + 1])

    def per_line(byte: int) -> np.ndarray:  # occurrences of `byte` in each line
        return np.diff(np.searchsorted(np.flatnonzero(arr == byte), bounds))

    good = per_line(44) == width - 1  # commas
    numbers = np.arange(first_line, first_line + len(starts), dtype=np.int64)
    consumed = np.zeros(len(starts), dtype=bool)  # continuation lines of a multi-line record
    rec_end = ends  # where each record ends (a multi-line record: at the end of its last line)
    carry = None
    if 34 in arr:  # some line has a quote: those lines are checked one by one
        quotes = per_line(34)
        good &= quotes == 0
        odd = np.flatnonzero(quotes % 2 == 1).tolist()
        rec_end = ends.copy()
        for k, i in enumerate(odd):
            if consumed[i] or carry is not None:
                continue
            j = odd[k + 1] if k + 1 < len(odd) else None
            if j is None and may_carry and len(starts) - i <= MAX_RECORD_LINES:
                carry = i  # the closing line may be in the next block
                continue
            if j is None or j - i >= MAX_RECORD_LINES:
                continue
            text = data[starts[i]:ends[j]].decode("utf-8")
            fields = _split(text[:-1] if text.endswith("\r") else text)
            if fields is not None and len(fields) == width:
                good[i] = True
                consumed[i + 1:j + 1] = True
                rec_end[i] = ends[j]
    if carry is not None:
        good[carry:] = False
        consumed[carry:] = True
    if good.all():
        return _Piece(numbers, data, starts), None
    last = len(starts) - 1
    for i in np.flatnonzero(~good & ~consumed).tolist():
        text = data[starts[i]:ends[i]].decode("utf-8")
        if text.endswith("\r"):
            text = text[:-1]
        keep, reason = _line_check(text, width)
        if keep:
            good[i] = True
        elif reason:
            cut = "; last line is cut off (no line end)" if (i == last and not ended) else ""
            rejects.append(Reject(int(numbers[i]), "malformed_row", reason + cut, {"line": text}))
    kept = np.flatnonzero(good & ~consumed)
    if not len(kept):
        return _Piece(numbers[:0], b"", starts[:0]), carry
    # runs of records that follow each other in `data` (nothing dropped between): join those slices
    breaks = np.flatnonzero(starts[kept[1:]] != rec_end[kept[:-1]] + 1)
    run_first = np.concatenate(([kept[0]], kept[breaks + 1]))
    run_last = np.concatenate((kept[breaks], [kept[-1]]))
    kept_data = b"\n".join(data[s:e] for s, e in zip(starts[run_first].tolist(), rec_end[run_last].tolist(),
                                                       strict=True))
    sizes = rec_end[kept] - starts[kept] + 1
    kept_starts = np.zeros(len(kept), dtype=np.int64)
    np.cumsum(sizes[:-1], out=kept_starts[1:])
    return _Piece(numbers[kept], kept_data, kept_starts), carry


def _checked_batches(fh, encoding: str, columns: list[str], batch_rows: int) -> Iterator[Chunk]:
    """The data lines after the header, decoded a block at a time (the codec over megabytes, not per
    line) and checked with numpy; chunks of exactly `batch_rows` good lines (the last one: the rest)."""
    width = len(columns)
    pieces: list[_Piece] = []
    rejects: list[Reject] = []
    pending = 0
    n = 0  # data lines seen so far
    truncated = None
    utf8 = encoding.lower().replace("-", "_") in ("utf_8", "utf8")
    carry = b""  # UTF-8 lines of a record whose quoted field goes on in the next block

    def flush(final: bool) -> Iterator[Chunk]:
        nonlocal pieces, rejects, pending
        live = [p for p in pieces if len(p.lines)]
        if len(live) == 1:
            whole = live[0]
        elif live:
            offsets = np.cumsum([0] + [len(p.data) + 1 for p in live[:-1]])
            whole = _Piece(np.concatenate([p.lines for p in live]), b"\n".join(p.data for p in live),
                           np.concatenate([p.starts + o for p, o in zip(live, offsets, strict=True)]))
        else:
            whole = _Piece(np.empty(0, dtype=np.int64), b"", np.empty(0, dtype=np.int64))
        total = len(whole.lines)
        cuts = list(range(0, total - batch_rows + 1, batch_rows)) if total >= batch_rows else []
        emitted = len(cuts) * batch_rows
        if final and (emitted < total or not cuts):
            cuts.append(emitted)
            emitted = total
        for start in cuts:
            stop = min(start + batch_rows, total)
            lo = int(whole.starts[start]) if start < total else 0
            hi = int(whole.starts[stop]) - 1 if stop < total else len(whole.data)
            part_lines = pl.Series(whole.lines[start:stop], dtype=pl.Int64)
            cut = truncated if stop > start and whole.lines[stop - 1] == truncated else None
            yield Chunk(columns, lines=part_lines, rejects=rejects, truncated_line=cut,
                        data=whole.data[lo:hi] if stop > start else None,
                        starts=whole.starts[start:stop] - lo)
            rejects = []
        if emitted < total:
            lo = int(whole.starts[emitted])
            pieces = [_Piece(whole.lines[emitted:], whole.data[lo:], whole.starts[emitted:] - lo)]
        else:
            pieces = []
        pending = total - emitted

    for body, ended in _raw_blocks(fh):
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError:  # a block with an undecodable line: line by line
            if carry:  # judge the carried lines on their own first
                piece, _ = _check_block(carry, n + 1, width, rejects, True)
                pieces.append(piece)
                n += carry.count(b"\n") + 1
                carry = b""
            piece, n = _undecodable_block(body, encoding, n, width, rejects, ended)
            if not ended and len(piece.lines) and piece.lines[-1] == n:
                truncated = n
        else:
            data = body if utf8 else text.encode("utf-8")
            del text
            if carry:
                data = carry + b"\n" + data
            piece, carry_from = _check_block(data, n + 1, width, rejects, ended, may_carry=ended)
            if carry_from is None:
                carry = b""
                n += data.count(b"\n") + 1
            else:  # a quoted field still open at the end of the block: judged with the next block
                carry = data[_line_start(data, carry_from):]
                n += carry_from
            if not ended and len(piece.lines) and piece.lines[-1] == n:
                truncated = n
        pieces.append(piece)
        pending += len(piece.lines)
        if pending >= batch_rows:
            yield from flush(final=False)
    if carry:  # the file ended inside a quoted field: the lines are judged one by one
        piece, _ = _check_block(carry, n + 1, width, rejects, True)
        pieces.append(piece)
    yield from flush(final=True)


def _line_start(data: bytes, index: int) -> int:
    """Byte offset of line `index` (0-based) in `data`."""
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    return int(newlines[index - 1]) + 1 if index else 0


def _undecodable_block(body: bytes, encoding: str, n: int, width: int, rejects: list[Reject],
                       ended: bool) -> tuple[_Piece, int]:
    raws = [raw.rstrip(b"\r") for raw in body.split(b"\n")]
    lines, texts = [], []
    for i, raw in enumerate(raws):
        n += 1
        is_last_cut = not ended and i == len(raws) - 1
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            if raw.strip():
                what = f"the line is not valid {encoding}"
                if is_last_cut:
                    rejects.append(Reject(n, "malformed_row", f"last line is cut off (no line end): {what}",
                                          {"line": guess_decode(raw)}))
                else:
                    rejects.append(Reject(n, "wrong_encoding", what, {"line": guess_decode(raw)}))
            continue
        keep, reason = _line_check(text, width)
        if keep:
            lines.append(n)
            texts.append(text)
        elif reason:
            cut = "; last line is cut off (no line end)" if is_last_cut else ""
            rejects.append(Reject(n, "malformed_row", reason + cut, {"line": text}))
    return _piece_from_texts(lines, texts), n


# ------------------------------------------------------------------------------------------- XLSX

FORM_COLUMNS = {  # Chinese header → canonical column of raw.monthly_reports
    "服务点代码": "library_code",
    "服务点名称": "library_name",
    "到馆人次": "visits",
    "注册读者数": "registered_readers",
    "活跃读者数": "active_readers",
    "外借册次": "loans",
    "活动次数": "activities",
    "活动参与人次": "participants",
    "馆藏量": "holdings",
    "新增册数": "new_volumes",
    "加工量": "processing_volume",
    "开放时长(小时)": "opening_hours",
    "培训次数": "trainings",
}
# the English version of the form (ingestion/templates/report_template_en.xlsx); compared without
# spaces and case, so "Opening hours (h)" and "openinghours(h)" are the same header
FORM_COLUMNS_EN = {
    "Service point code": "library_code",
    "Service point name": "library_name",
    "Visits": "visits",
    "Registered readers": "registered_readers",
    "Active readers": "active_readers",
    "Loans": "loans",
    "Activities": "activities",
    "Activity participants": "participants",
    "Holdings": "holdings",
    "New volumes": "new_volumes",
    "Processing volume": "processing_volume",
    "Opening hours (h)": "opening_hours",
    "Trainings": "trainings",
}
TOTALS_LABELS = ("合计", "total")


def _norm_header(value) -> str:
    text = "" if value is None else str(value)
    text = re.sub(r"\s+", "", text).replace("（", "(").replace("）", ")")
    return text.lower()


_FORM_HEADERS = {  # language -> {normalised header: (header as printed, canonical column)}
    lang: {_norm_header(h): (h, c) for h, c in mapping.items()}
    for lang, mapping in (("zh", FORM_COLUMNS), ("en", FORM_COLUMNS_EN))
}


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


@dataclass
class Form:
    title: str | None
    columns: list[str]             # canonical names, in sheet order (unknown headers kept as-is)
    missing: list[str]             # required Chinese headers not found
    rows: list[tuple[int, list[str]]]  # (data-row number, cell texts)
    totals: tuple[int, list[str]] | None


def read_form(path: Path) -> Form:
    """The monthly statistics form: title row, merged group headers, the header row (found by its
    服务点代码 / Service point code cell; Chinese or English), data rows, and the 合计 / Total row
    (returned apart). An .xlsx workbook (sheet 1) or the same layout as CSV (UTF-8, BOM allowed)."""
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            try:
                return _parse_form(csv.reader(fh), "the CSV form")
            except UnicodeDecodeError as err:
                raise FileRejected("wrong_encoding", f"the CSV form is not UTF-8 ({err.reason})") from None
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        return _parse_form(wb.worksheets[0].iter_rows(values_only=True), "sheet 1")
    finally:
        wb.close()


def _parse_form(all_rows: Iterator, where: str) -> Form:
    title, header_cells, preamble, known = None, None, 0, None
    for values in all_rows:
        preamble += 1
        texts = [_norm_header(v) for v in values]
        for headers in _FORM_HEADERS.values():
            if next(iter(headers)) in texts:
                header_cells, known = texts, headers
                break
        if header_cells:
            break
        if title is None and any(texts):
            title = next(t for t in texts if t)
        if preamble >= 10:
            break
    if header_cells is None:
        raise FileRejected("missing_column",
                           f"no header row with 服务点代码 (Service point code) in the first 10 rows of {where}")
    while header_cells and not header_cells[-1]:
        header_cells.pop()
    columns = [known[h][1] if h in known else h for h in header_cells]
    missing = [printed for h, (printed, _) in known.items() if h not in header_cells]
    rows, totals = [], None
    n = 0
    for values in all_rows:
        cells = [_cell_text(v) for v in list(values)[: len(columns)]]
        cells += [""] * (len(columns) - len(cells))
        if not any(cells):
            continue
        n += 1
        label = cells[0].lower() or (cells[1].lower() if len(cells) > 1 else "")
        if label in TOTALS_LABELS:
            totals = (n, cells)
            continue
        rows.append((n, cells))
    return Form(title, columns, missing, rows, totals)


# ------------------------------------------------------------------------------------------- MARC

MARCXML_NS = "{http://www.loc.gov/MARC21/slim}"


def iter_marc(path: Path, forced_encoding: str | None = None) -> Iterator[tuple[int, object | None, str | None]]:
    """(record number, pymarc Record or None, error) for ISO 2709 or MARCXML.

    ISO 2709 honours leader/09 (`a` = UTF-8, blank = MARC-8); `forced_encoding` (e.g. `gbk` for a
    CNMARC export that leaves leader/09 blank) overrides it for sources whose systems lie about it.
    """
    with open(path, "rb") as fh:
        start = fh.read(64).lstrip()
    if start.startswith(b"<"):
        yield from _iter_marcxml(path)
    else:
        yield from _iter_iso2709(path, forced_encoding)


def _iter_iso2709(path: Path, forced_encoding: str | None):
    from pymarc import Record

    force_utf8 = forced_encoding in ("utf-8", "utf8")
    with open(path, "rb") as fh:
        n = 0
        while True:
            head = fh.read(5)
            if not head or not head.strip(b"\x1a\r\n \x00"):
                break
            n += 1
            if not head.isdigit():
                yield n, None, f"record length {head!r} is not 5 digits; the rest of the file cannot be read"
                return
            length = int(head)
            body = fh.read(length - 5)
            data = head + body
            if len(data) < length or not data.endswith(b"\x1d"):
                yield n, None, f"record is cut off or has no record terminator (declared {length} bytes)"
                if len(data) < length:
                    return
                continue
            if forced_encoding and not force_utf8:
                data = data[:9] + b" " + data[10:]  # leader/09 says MARC-8/other: decode as forced
            try:
                record = Record(data=data, to_unicode=True, force_utf8=force_utf8,
                                hide_utf8_warnings=True, file_encoding=forced_encoding or "iso8859-1")
            except Exception as err:  # pymarc raises many exception types for broken records
                yield n, None, f"record cannot be decoded: {type(err).__name__}: {err}"
                continue
            yield n, record, None


def _iter_marcxml(path: Path):
    from pymarc import Field, Record, Subfield

    n = 0
    try:
        for _, elem in ET.iterparse(path, events=("end",)):
            if elem.tag not in (MARCXML_NS + "record", "record"):
                continue
            n += 1
            record = Record(force_utf8=True)
            for child in elem:
                tag = child.tag.replace(MARCXML_NS, "")
                if tag == "leader":
                    record.leader = (child.text or "").ljust(24)[:24]
                elif tag == "controlfield":
                    record.add_field(Field(tag=child.get("tag"), data=child.text or ""))
                elif tag == "datafield":
                    subs = [Subfield(code=s.get("code") or "", value=s.text or "")
                            for s in child if s.tag.replace(MARCXML_NS, "") == "subfield"]
                    record.add_field(Field(tag=child.get("tag"), indicators=[child.get("ind1") or " ",
                                                                             child.get("ind2") or " "],
                                           subfields=subs))
            elem.clear()
            yield n, record, None
    except ET.ParseError as err:
        yield n + 1, None, f"MARCXML is not well-formed: {err}"
