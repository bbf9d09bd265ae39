"""What to generate: the knobs of the demo province and the three presets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np

PROVINCE_CODE = "53"


@dataclass(frozen=True)
class Params:
    prefectures: int = 4
    counties: int = 8
    start: date = date(2025, 1, 6)
    days: int = 60
    seed: int = 20250106
    loans_scale: float = 1.0  # multiplies the modelled loans per day (≈0.16 loans per capita a year)
    holdings_scale: float = 0.25  # multiplies the modelled stock (1.0 = volumes the registry implies)
    faults: bool = True

    def __post_init__(self) -> None:
        if self.prefectures < 1 or self.counties < self.prefectures:
            raise ValueError("need at least one prefecture and at least one county per prefecture")
        if self.counties > self.prefectures * 70:
            raise ValueError("at most 70 counties per prefecture (county codes 21..90)")
        if self.prefectures > 40:
            raise ValueError("at most 40 prefectures")
        if self.days < 1:
            raise ValueError("--days must be at least 1")
        if self.loans_scale <= 0 or self.holdings_scale <= 0:
            raise ValueError("scales must be positive")

    @property
    def end(self) -> date:
        """Last day of the period (inclusive)."""
        return self.start + timedelta(days=self.days - 1)

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


PRESETS: dict[str, Params] = {
    # 2 prefectures, 3 counties (one per dialect), 14 days over National Day
    "test": Params(prefectures=2, counties=3, start=date(2025, 9, 24), days=14, seed=7,
                   loans_scale=0.25, holdings_scale=0.04),
    # the README's demo: winter vacation + Spring Festival
    "demo": Params(prefectures=4, counties=8, start=date(2025, 1, 6), days=60, seed=20250106,
                   loans_scale=1.0, holdings_scale=0.25),
    # a province-year: ≥ 20 million circulation events (1.0 gave 19.87 M; 1.1 ≈ 21.9 M)
    "province": Params(prefectures=16, counties=120, start=date(2025, 1, 1), days=365, seed=530000,
                       loans_scale=1.1, holdings_scale=0.15),
}


def preset(name: str, **overrides) -> Params:
    base = PRESETS[name]
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def stable_int(*parts: object) -> int:
    """A platform-independent 63-bit integer from any parts (Python's hash() is salted per process)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def rng(seed: int, *parts: object) -> np.random.Generator:
    """An independent, reproducible random stream for one (seed, purpose, county, day …)."""
    return np.random.default_rng([seed, stable_int(*parts)])
