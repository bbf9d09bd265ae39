"""Reader barcodes never reach the warehouse: home library by range lookup, then a keyed hash.

- `home_library`: vectorised range lookup (polars `join_asof` on the sorted first barcode, then a
  check against the last barcode of the matched range) over the *unique* barcodes of a batch.
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
        """Pseudonyms for a column of barcodes (null/blank stay null), hashing each distinct value once."""
        uniq = barcodes.drop_nulls().unique()
        wanted = pl.DataFrame({"barcode": uniq.filter(uniq != "")})
        known = self._known.join(wanted, on="barcode", how="semi")
        missing = wanted.join(known, on="barcode", how="anti")["barcode"]
        new = pl.DataFrame({"barcode": missing, "key": self.digests(missing)})
        # readers come back batch after batch: remember their pseudonyms for the rest of the file (bounded)
        self._known = new if self._known.height + new.height > CACHE_ROWS else pl.concat([self._known, new])
        return _lookup(barcodes, pl.concat([known, new]), "key")

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
    (or is not a number). Same length and order as `barcodes`."""
    values = barcodes.drop_nulls().unique()
    numeric = values.filter(values.str.contains(r"^[0-9]{1,18}$"))
    lookup = (
        pl.DataFrame({"barcode": numeric, "n": numeric.cast(pl.Int64)})
        .sort("n")
        .join_asof(ranges, left_on="n", right_on="first", strategy="backward")
        .filter(pl.col("n") <= pl.col("last"))
    )
    return _lookup(barcodes, lookup.select("barcode", "library_code"), "library_code")


def _lookup(barcodes: pl.Series, table: pl.DataFrame, column: str) -> pl.Series:
    """`table[column]` for each barcode (by a left join that keeps the order), null when absent."""
    frame = pl.DataFrame({"barcode": barcodes.cast(pl.String)})
    joined = frame.join(table, on="barcode", how="left", maintain_order="left")
    return joined[column].alias(barcodes.name)
