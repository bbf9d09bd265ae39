"""Reader barcodes never reach the warehouse: home library by range lookup, then a keyed hash.

- `home_library`: vectorised range lookup (a binary search of the sorted first barcodes, then a
  check against the last barcode of the matched range).
- `pseudonymise`: HMAC-SHA256 with `shuyun.settings.pseudonym_key()`, first 32 hex digits.
- `scrub`: the safety net for rows we could not split into fields (malformed, wrongly encoded):
  every run of 15 digits (reader card) or 18 characters shaped like a 身份证号 becomes its pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import polars as pl

KEY_LENGTH = 32
CACHE_ROWS = 1_000_000  # pseudonyms remembered per file (~100 MB at most)
# a card number stands alone (between commas, quotes, spaces, Chinese text), never inside a hex digest
_CARD_LIKE = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")


class Pseudonymiser:
    def __init__(self, key: bytes):
        if not key:
            raise ValueError("the pseudonym key is empty")
        # HMAC-SHA256 (RFC 2104) with the padded key hashed once: per barcode only two hash updates.
        block = key if len(key) <= 64 else hashlib.sha256(key).digest()
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self._key = key
        self._known = pl.DataFrame(schema={"barcode": pl.String, "key": pl.String})  # barcode → pseudonym

    def __call__(self, barcode: str) -> str:
        inner = self._inner.copy()
        inner.update(barcode.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:KEY_LENGTH]

    def reference(self, barcode: str) -> str:
        """The same pseudonym through the standard library's hmac (tests compare the two)."""
        return hmac.new(self._key, barcode.encode(), hashlib.sha256).hexdigest()[:KEY_LENGTH]

    def series(self, barcodes: pl.Series) -> pl.Series:
        """Pseudonyms for a column of barcodes (null/blank stay null), hashing each distinct value once.

        Readers come back batch after batch, so pseudonyms are remembered for the rest of the file
        (bounded by CACHE_ROWS): once the readers are known, a batch costs one hash join."""
        frame = pl.DataFrame({"barcode": barcodes.cast(pl.String)}).join(
            self._known, on="barcode", how="left", maintain_order="left")
        unknown = frame.filter(pl.col("key").is_null() & pl.col("barcode").is_not_null() & (pl.col("barcode") != ""))
        if unknown.height:
            missing = unknown["barcode"].unique()
            new = pl.DataFrame({"barcode": missing, "key": self.digests(missing)})
            self._known = new if self._known.height + new.height > CACHE_ROWS else pl.concat([self._known, new])
            found = _lookup(frame["barcode"], new, "key")
            return frame["key"].fill_null(found).alias(barcodes.name)
        return frame["key"].alias(barcodes.name)

    def digests(self, values: pl.Series) -> pl.Series:
        """`self(v)` for every value of a string column: the only per-value Python is the tight loop of
        hash copies/updates (~1 µs a value); UTF-8 bytes and hex digits are done by polars."""
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        out = []
        append = out.append
        for raw in values.cast(pl.Binary).to_list():
            inner = inner_copy()
            inner.update(raw)
            outer = outer_copy()
            outer.update(inner.digest())
            append(outer.digest())
        return pl.Series(out, dtype=pl.Binary).bin.encode("hex").str.slice(0, KEY_LENGTH)

    def scrub(self, text: str) -> str:
        return _CARD_LIKE.sub(lambda m: "pseudo:" + self(m.group(1)), text)


def ranges_frame(rows: list[tuple[int, int, str]]) -> pl.DataFrame:
    """Ranges as a frame sorted by first barcode (what `home_library` wants)."""
    return pl.DataFrame(
        rows, schema={"first": pl.Int64, "last": pl.Int64, "library_code": pl.String}, orient="row"
    ).sort("first")


def home_library(barcodes: pl.Series, ranges: pl.DataFrame) -> pl.Series:
    """Library owning each barcode by range, or null when the barcode lies outside every range
    (or is not a number). Same length and order as `barcodes`. A binary search of the sorted first
    barcodes per value (the registry holds a few hundred ranges, a batch tens of thousands of barcodes)."""
    if ranges.height == 0:
        return pl.Series(barcodes.name, [None] * len(barcodes), dtype=pl.String)
    text = barcodes.cast(pl.String)
    numeric = text.str.contains(r"^[0-9]{1,18}$").fill_null(False)
    number = pl.select(pl.when(numeric).then(text.cast(pl.Int64, strict=False)).otherwise(None)).to_series()
    # the range whose first barcode is the greatest ≤ the barcode; -1 when none is
    index = ranges["first"].search_sorted(number.fill_null(-1), side="right").cast(pl.Int64) - 1
    at = index.clip(0)
    inside = (index >= 0) & (number <= ranges["last"].gather(at))  # null number → null → not inside
    return pl.select(pl.when(inside).then(ranges["library_code"].gather(at))).to_series().alias(barcodes.name)


def _lookup(barcodes: pl.Series, table: pl.DataFrame, column: str) -> pl.Series:
    """`table[column]` for each barcode (by a left join that keeps the order), null when absent."""
    frame = pl.DataFrame({"barcode": barcodes.cast(pl.String)})
    joined = frame.join(table, on="barcode", how="left", maintain_order="left")
    return joined[column].alias(barcodes.name)
