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

import polars as pl

BLOCK_BYTES = 4 << 20
BATCH_ROWS = 50_000


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
    texts: list[str] | pl.Series = field(default_factory=list)  # CSV: the decoded, checked line per row
    rejects: list[Reject] = field(default_factory=list)
    truncated_line: int | None = None  # CSV: last line of the file had no line end
    file_level: str | None = None  # the whole file is refused for this reason (every line quarantined)


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
    """Blocks of physical lines after the header: (decoded lines, None, True) when the block decodes,
    else (None, raw lines, …) for line-by-line handling. The last block is the file's unterminated
    tail, if any (ended = False). A newline byte never occurs inside a GBK/GB18030/UTF-8 character."""
    rest = b""
    while True:
        block = fh.read(BLOCK_BYTES)
        if not block:
            break
        block = rest + block
        cut = block.rfind(b"\n")
        if cut < 0:
            rest = block
            continue
        body, rest = block[:cut], block[cut + 1:]
        yield _decode_block(body, encoding, True)
    if rest:
        yield _decode_block(rest, encoding, False)


def _decode_block(body: bytes, encoding: str, ended: bool):
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        return None, [raw.rstrip(b"\r") for raw in body.split(b"\n")], ended
    return pl.Series(text.split("\n"), dtype=pl.String).str.strip_suffix("\r"), None, ended


def read_csv(path: Path, encoding: str, header: tuple[str, ...] | list[str],
             batch_rows: int = BATCH_ROWS) -> Iterator[Chunk]:
    """Decode and check a delimited file in bounded batches of validated lines (`Chunk.texts`).

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


def _checked_batches(fh, encoding: str, columns: list[str], batch_rows: int) -> Iterator[Chunk]:
    """The data lines after the header, checked a block at a time with polars (the field count of a
    line without quotes is its comma count + 1); only suspicious lines go through Python."""
    width = len(columns)
    good_lines: list[pl.Series] = []
    good_texts: list[pl.Series] = []
    rejects: list[Reject] = []
    pending = 0
    n = 0  # data lines seen so far
    truncated = None

    def flush(final: bool) -> Iterator[Chunk]:
        """Chunks of exactly `batch_rows` good rows (at the end, the remainder); rejects ride on the first."""
        nonlocal good_lines, good_texts, rejects, pending
        lines = pl.concat(good_lines) if good_lines else pl.Series([], dtype=pl.Int64)
        texts = pl.concat(good_texts) if good_texts else pl.Series([], dtype=pl.String)
        total = len(lines)
        starts = list(range(0, total - batch_rows + 1, batch_rows)) if total >= batch_rows else []
        emitted = len(starts) * batch_rows
        if final and (emitted < total or not starts):
            starts.append(emitted)
            emitted = total
        for start in starts:
            part_lines, part_texts = lines.slice(start, batch_rows), texts.slice(start, batch_rows)
            cut = truncated if len(part_lines) and part_lines[-1] == truncated else None
            yield Chunk(columns, lines=part_lines, texts=part_texts, rejects=rejects, truncated_line=cut)
            rejects = []
        good_lines, good_texts = [lines.slice(emitted)], [texts.slice(emitted)]
        pending = total - emitted

    for texts, raws, ended in _decoded_blocks(fh, encoding):
        if texts is None:  # a block with an undecodable line: line by line
            for raw in raws:
                n += 1
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError:
                    if raw.strip():
                        rule = "wrong_encoding" if ended or raw is not raws[-1] else "malformed_row"
                        what = f"the line is not valid {encoding}"
                        reason = what if rule == "wrong_encoding" else f"last line is cut off (no line end): {what}"
                        rejects.append(Reject(n, rule, reason, {"line": guess_decode(raw)}))
                    continue
                texts_one = pl.Series([text], dtype=pl.String)
                ok = _check(texts_one, pl.Series([n], dtype=pl.Int64), width, rejects, ended or raw is not raws[-1])
                if len(ok[0]):
                    good_lines.append(ok[0])
                    good_texts.append(ok[1])
                    pending += 1
                    if not ended and raw is raws[-1]:
                        truncated = n
            continue
        numbers = pl.int_range(n + 1, n + 1 + len(texts), dtype=pl.Int64, eager=True)
        n += len(texts)
        lines_ok, texts_ok = _check(texts, numbers, width, rejects, ended)
        if not ended and len(lines_ok) and lines_ok[-1] == n:
            truncated = n
        good_lines.append(lines_ok)
        good_texts.append(texts_ok)
        pending += len(lines_ok)
        if pending >= batch_rows:
            yield from flush(final=False)
    yield from flush(final=True)


def _check(texts: pl.Series, numbers: pl.Series, width: int, rejects: list[Reject],
           last_ended: bool) -> tuple[pl.Series, pl.Series]:
    """Lines with exactly `width` fields pass; blank lines are skipped; the others become rejects."""
    frame = pl.DataFrame({"n": numbers, "t": texts})
    frame = frame.with_columns(
        commas=pl.col("t").str.count_matches(",", literal=True),
        quoted=pl.col("t").str.contains('"', literal=True),
        blank=pl.col("t").str.strip_chars() == "",
    )
    fast = frame.filter(~pl.col("quoted") & (pl.col("commas") == width - 1))
    slow = frame.filter(~pl.col("blank") & (pl.col("quoted") | (pl.col("commas") != width - 1)))
    if slow.height == 0:
        return fast["n"], fast["t"]
    keep = []
    last = numbers[-1] if len(numbers) else None
    for line, text, quoted, commas in slow.select("n", "t", "quoted", "commas").iter_rows():
        if quoted:
            fields = _split(text)
            count = -1 if fields is None else len(fields)
        else:
            count = commas + 1
        if count == width:
            keep.append(line)
            continue
        got = "broken quoting" if count < 0 else f"{count} fields"
        cut = "; last line is cut off (no line end)" if (line == last and not last_ended) else ""
        rejects.append(Reject(line, "malformed_row", f"expected {width} fields, found {got}{cut}", {"line": text}))
    if keep:
        fast = pl.concat([fast, frame.filter(pl.col("n").is_in(keep))]).sort("n")
    return fast["n"], fast["t"]


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
