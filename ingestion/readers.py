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
    lines: list[int] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)  # xlsx/MARC: each row has len(columns) values
    texts: list[str] = field(default_factory=list)  # CSV: the decoded, checked line per row
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


def _decoded_lines(fh, encoding: str) -> Iterator[tuple[str | None, bytes | None, bool]]:
    """(text, undecodable bytes, ended with a newline) per physical line after the header.

    Decodes whole blocks at once (a newline byte never occurs inside a GBK/GB18030/UTF-8 character),
    falling back to line-by-line decoding only for a block that holds an undecodable line."""
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
        try:
            texts = body.decode(encoding).split("\n")
        except UnicodeDecodeError:
            texts = None
        if texts is not None:
            for text in texts:
                yield (text[:-1] if text.endswith("\r") else text), None, True
            continue
        for raw in body.split(b"\n"):
            raw = raw.rstrip(b"\r")
            try:
                yield raw.decode(encoding), None, True
            except UnicodeDecodeError:
                yield None, raw, True
    if rest:
        rest = rest.rstrip(b"\r")
        try:
            yield rest.decode(encoding), None, False
        except UnicodeDecodeError:
            yield None, rest, False


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
    width = len(header)
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
            shown = (head_text if head_text is not None else guess_decode(first))[:120]
            reason = (f"header does not match the {encoding} export expected here "
                      f"(expected {','.join(header)!r}, found {shown!r}); file not decodable as declared")
            chunk = Chunk(columns, file_level=reason)
            for n, (text, _raw, _ended) in enumerate(_decoded_lines(fh, "latin-1"), start=1):
                if not text.strip():
                    continue
                line = guess_decode(text.encode("latin-1"))
                chunk.rejects.append(Reject(n, "wrong_encoding", reason, {"line": line}))
                if len(chunk.rejects) >= batch_rows:
                    yield chunk
                    chunk = Chunk(columns, file_level=reason)
            yield chunk
            return

        chunk = Chunk(columns)
        commas = width - 1
        for n, (text, raw, ended) in enumerate(_decoded_lines(fh, encoding), start=1):
            if text is None:
                if not raw.strip():
                    continue
                rule = "wrong_encoding" if ended else "malformed_row"
                what = f"the line is not valid {encoding}"
                reason = what if ended else f"last line is cut off (no line end): {what}"
                chunk.rejects.append(Reject(n, rule, reason, {"line": guess_decode(raw)}))
                continue
            if '"' in text:
                fields = _split(text)
                count = -1 if fields is None else len(fields)
            else:
                count = text.count(",") + 1
            if count != width:
                if not text.strip():
                    continue
                got = "broken quoting" if count < 0 else f"{count} fields"
                cut = "" if ended else "; last line is cut off (no line end)"
                chunk.rejects.append(Reject(n, "malformed_row", f"expected {width} fields, found {got}{cut}",
                                            {"line": text}))
                continue
            if commas == 0 and not text.strip():
                continue
            chunk.lines.append(n)
            chunk.texts.append(text)
            if not ended:
                chunk.truncated_line = n
            if len(chunk.lines) >= batch_rows:
                yield chunk
                chunk = Chunk(columns)
        yield chunk


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
    (returned apart)."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        all_rows = ws.iter_rows(values_only=True)
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
                               "no header row with 服务点代码 (Service point code) in the first 10 rows of sheet 1")
        while header_cells and not header_cells[-1]:
            header_cells.pop()
        columns = [known[h][1] if h in known else h for h in header_cells]
        missing = [printed for h, (printed, _) in known.items() if h not in header_cells]
        rows, totals = [], None
        n = 0
        for values in all_rows:
            cells = [_cell_text(v) for v in values[: len(columns)]]
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
    finally:
        wb.close()


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
