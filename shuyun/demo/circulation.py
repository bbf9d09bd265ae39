"""Stock and circulation of one county system, simulated day by day with numpy.

The county's items live in arrays (owner, current library, children's flag, on loan …). Each day:
returns and renewals that earlier loans scheduled for today happen; then every open library with an ILS
lends Poisson(size × traffic) items that are on its shelves, to readers drawn from the barcode ranges
(mostly its own, some from other libraries of the county, the prefecture, the province: 通借通还); each
new loan schedules its renewal and its return (often at another library, on a day that library is open).
Returned items stay where they were returned (floating collection). Simulation starts `WARMUP` days before
the period so that the period opens with loans outstanding; only the period's days are delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from .params import Params, rng
from .province import County, Province
from .schedule import BIG, OpenGrid

WARMUP = 45
TAIL = 120
LOAN_DAYS = 30
LOAN, RETURN, RENEW = 0, 1, 2
DESK, SELF, VAN = 0, 1, 2
LOANS_PER_CAPITA_YEAR = 0.16
EPOCH = date(1970, 1, 1)


@dataclass
class Items:
    """All items owned by the libraries of one county (the county ILS's catalogue)."""

    owner: np.ndarray        # int16 index into county.libraries
    serial: np.ndarray       # int64 serial within the owner's item range
    child: np.ndarray        # bool: children's book
    title: np.ndarray        # int32 index into the county's title list
    acquired: np.ndarray     # int32 days since 1970-01-01
    withdrawn: np.ndarray    # int32 days since epoch, -1 = not withdrawn
    lost: np.ndarray         # bool
    current: np.ndarray      # int16 library index where the item is
    on_loan: np.ndarray      # bool
    last_return: np.ndarray  # int32 day index (sim) of the last return, -1 none
    barcode: np.ndarray      # int64
    n_titles: int = 0
    n_child_titles: int = 0

    @property
    def size(self) -> int:
        return len(self.owner)


def build_items(params: Params, county: County) -> Items:
    r = rng(params.seed, "items", county.code)
    owners, serials, childs, acquired, withdrawn, lost = [], [], [], [], [], []
    start = (params.start - EPOCH).days
    for i, lib in enumerate(county.libraries):
        n = max(int(round(lib.stock * params.holdings_scale)), 12 if lib.stock else 0)
        if n == 0:
            continue
        owners.append(np.full(n, i, dtype=np.int16))
        serials.append(np.arange(1, n + 1, dtype=np.int64))
        childs.append(r.random(n) < (0.45 if lib.level in ("branch", "service_point") else 0.28))
        lib_start = max((lib.valid_from - EPOCH).days, start - 3650)
        # stock arrives before the library opens (libraries opening during the period: just before)
        acq = r.integers(lib_start - 30, max(start, lib_start), size=n).astype(np.int32)
        # a few volumes arrive during the period (新增): not lendable before the snapshot
        new = r.random(n) < 0.02
        acq[new] = r.integers(start, start + params.days, size=int(new.sum()))
        acquired.append(acq)
        w = np.full(n, -1, dtype=np.int32)
        wd = (r.random(n) < 0.012) & ~new
        w[wd] = np.maximum(acq[wd] + 30, start - r.integers(1, 400, size=int(wd.sum())))
        withdrawn.append(w)
        lost.append((r.random(n) < 0.004) & ~wd & ~new)
    owner = np.concatenate(owners)
    serial = np.concatenate(serials)
    prefixes = np.array([int(lib.item_prefix) for lib in county.libraries], dtype=np.int64)
    n = len(owner)
    child = np.concatenate(childs)
    # titles: a union catalogue (统一编目); popular titles have many copies across the county.
    # Titles [0, n_child_titles) are children's books, the rest general.
    n_titles = max(2, n // 3)
    n_child_titles = max(1, int(n_titles * 0.3))
    pick = r.power(0.6, size=n)
    title = np.where(child, (n_child_titles * pick).astype(np.int32),
                     n_child_titles + ((n_titles - n_child_titles) * pick).astype(np.int32))
    title = np.minimum(title, np.where(child, n_child_titles - 1, n_titles - 1)).astype(np.int32)
    # 统一配送: a fifth of the main library's stock already sits on branch and service-point shelves
    current = owner.copy()
    hosts = [i for i, lib in enumerate(county.libraries)
             if lib.level in ("branch", "service_point") and lib.valid_from <= params.start]
    if hosts:
        w = np.array([county.libraries[i].stock for i in hosts], dtype=float)
        moved = (owner == 0) & (r.random(n) < 0.2)
        current[moved] = np.array(hosts, dtype=np.int16)[r.choice(len(hosts), size=int(moved.sum()), p=w / w.sum())]
    return Items(
        owner=owner, serial=serial, child=child, title=title,
        acquired=np.concatenate(acquired), withdrawn=np.concatenate(withdrawn), lost=np.concatenate(lost),
        current=current, on_loan=np.zeros(n, dtype=bool), last_return=np.full(n, -1, dtype=np.int32),
        barcode=prefixes[owner] * 1_000_000_000 + serial, n_titles=n_titles,
        n_child_titles=n_child_titles)


@dataclass
class DayEvents:
    """One day's circulation events of a county, unsorted."""

    lib: np.ndarray        # int16 library index (county.libraries)
    kind: np.ndarray       # int8 LOAN/RETURN/RENEW
    item: np.ndarray       # int64 item barcode
    reader: np.ndarray     # int64 reader barcode, -1 = none
    second: np.ndarray     # int32 seconds after local midnight of the day
    channel: np.ndarray    # int8 DESK/SELF/VAN
    due: np.ndarray        # int32 days since epoch, -1 = none

    @property
    def size(self) -> int:
        return len(self.lib)


@dataclass
class Rotation:
    from_lib: int
    to_lib: int
    day: date
    volumes: int


@dataclass
class CountySim:
    params: Params
    province: Province
    county: County
    items: Items
    grid: OpenGrid = field(init=False)
    sim_days: list[date] = field(init=False)

    def __post_init__(self) -> None:
        p = self.params
        first = p.start - timedelta(days=WARMUP)
        self.sim_days = [first + timedelta(days=i) for i in range(WARMUP + p.days + TAIL)]
        self.grid = OpenGrid(self.county.libraries, self.sim_days)
        libs = self.county.libraries
        self.levels = [lib.level for lib in libs]
        self.ils = np.array([lib.has_ils for lib in libs])
        self.weight = np.array([lib.weight for lib in libs], dtype=np.float64)
        loans_per_day = self.county.population * LOANS_PER_CAPITA_YEAR / 365 * p.loans_scale
        self.base = loans_per_day * self.weight / max(self.weight.sum(), 1e-9)
        self.main = 0
        self.reader_pool = self._reader_pool()
        self.pending: dict[int, list[tuple]] = {}
        self.rotations: list[Rotation] = []
        self.self_share = np.array([{"county": 0.4, "branch": 0.15, "self_service": 1.0}.get(lv, 0.0)
                                    for lv in self.levels])

    # readers ---------------------------------------------------------------------------------------
    def _reader_pool(self):
        """Candidate home libraries of a reader, with their registered card counts."""
        codes, counts = [], []
        for lib in self.county.libraries:
            if lib.readers > 0:
                codes.append(int(lib.code))
                counts.append(lib.readers)
        pref = next(x for x in self.province.prefectures if x.code[:4] == self.county.code[:4])
        others = [c.main for c in self.province.counties if c.code != self.county.code]
        return {
            "local_codes": np.array(codes, dtype=np.int64), "local_counts": np.array(counts, dtype=np.int64),
            "pref": (int(pref.code), pref.readers), "prov": (int(self.province.library.code),
                                                             self.province.library.readers),
            "other_codes": np.array([int(c.code) for c in others], dtype=np.int64),
            "other_counts": np.array([c.readers for c in others], dtype=np.int64),
        }

    def _readers(self, r: np.random.Generator, libs: np.ndarray) -> np.ndarray:
        n = len(libs)
        pool = self.reader_pool
        lib_codes = np.array([int(x.code) for x in self.county.libraries], dtype=np.int64)
        lib_readers = np.array([x.readers for x in self.county.libraries], dtype=np.int64)
        home_code = lib_codes[libs].copy()
        home_count = lib_readers[libs].copy()
        u = r.random(n)
        # vans and self-service libraries have no readers of their own: their borrowers are the county's
        own = (u < 0.65) & (home_count > 0)
        local_p = pool["local_counts"] / pool["local_counts"].sum()
        k = r.choice(len(local_p), size=n, p=local_p)
        other_local = ~own & (u < 0.93)
        home_code[other_local] = pool["local_codes"][k[other_local]]
        home_count[other_local] = pool["local_counts"][k[other_local]]
        pref = ~own & (u >= 0.93) & (u < 0.97)
        home_code[pref], home_count[pref] = pool["pref"]
        prov = ~own & (u >= 0.97) & (u < 0.98)
        home_code[prov], home_count[prov] = pool["prov"]
        other = ~own & (u >= 0.98)
        if len(pool["other_codes"]):
            j = r.integers(0, len(pool["other_codes"]), size=n)
            home_code[other] = pool["other_codes"][j[other]]
            home_count[other] = pool["other_counts"][j[other]]
        else:
            home_code[other] = pool["local_codes"][k[other]]
            home_count[other] = pool["local_counts"][k[other]]
        # a few active readers borrow much more than most
        serial = (home_count * r.random(n) ** 2.2).astype(np.int64) + 1
        serial = np.minimum(serial, 999_999)
        return home_code * 1_000_000 + serial

    # the day loop ----------------------------------------------------------------------------------
    def run(self):
        """Yield (day, DayEvents) for every day of the period, in order."""
        p = self.params
        it = self.items
        period_from = WARMUP
        period_to = WARMUP + p.days
        rot_plan = self._rotation_plan()
        for d, day in enumerate(self.sim_days[:period_to]):
            r = rng(p.seed, "circ", self.county.code, day.isoformat())
            parts = []
            # 1. scheduled returns and renewals
            due_today = self.pending.pop(d, [])
            returned = None
            if due_today:
                lib = np.concatenate([x[0] for x in due_today])
                kind = np.concatenate([x[1] for x in due_today])
                item_idx = np.concatenate([x[2] for x in due_today])
                reader = np.concatenate([x[3] for x in due_today])
                due = np.where(kind == RENEW, (day - EPOCH).days + LOAN_DAYS, -1).astype(np.int32)
                parts.append((lib, kind, item_idx, reader, due))
                returned = (item_idx[kind == RETURN], lib[kind == RETURN])
            # 2. loans at every open library with an ILS
            loans = self._loans(r, d, day)
            if loans is not None:
                parts.append(loans)
            # 3. state changes after the day: returned items are back on the shelf where returned
            if returned is not None:
                it.on_loan[returned[0]] = False
                it.current[returned[0]] = returned[1]
                it.last_return[returned[0]] = d
            for rot in rot_plan.get(d, []):
                self._rotate(r, rot)
            if d < period_from or not parts:
                if d >= period_from:
                    yield day, _empty()
                continue
            yield day, self._assemble(r, d, parts)

    def _loans(self, r: np.random.Generator, d: int, day: date):
        g = self.grid
        it = self.items
        open_ils = np.flatnonzero(g.is_open[:, d] & self.ils)
        if len(open_ils) == 0:
            return None
        lam = self.base[open_ils] * g.factor[open_ils, d]
        n_per = r.poisson(lam)
        if n_per.sum() == 0:
            return None
        libs = np.repeat(open_ils, n_per).astype(np.int16)
        n = len(libs)
        child_share = 0.42 if g.infos[d].vacation else 0.27
        want_child = r.random(n) < child_share
        # shelves: available items grouped by (current library, children's flag)
        today = (day - EPOCH).days
        avail = ~it.on_loan & ~it.lost & (it.withdrawn < 0) & (it.acquired <= today) & (it.last_return < d)
        n_groups = 2 * len(self.county.libraries)
        key = np.where(avail, it.current.astype(np.int32) * 2 + it.child, n_groups).astype(np.int16)
        order = np.argsort(key, kind="stable")
        counts = np.bincount(key, minlength=n_groups + 1)[:n_groups]
        offsets = np.concatenate([[0], np.cumsum(counts)])[:-1]
        grp = libs.astype(np.int32) * 2 + want_child
        empty = counts[grp] == 0
        grp[empty] ^= 1  # the other shelf of the same library
        ok = counts[grp] > 0
        libs, grp = libs[ok], grp[ok]
        pos = offsets[grp] + (r.random(len(grp)) * counts[grp]).astype(np.int64)
        item_idx = order[pos]
        _, first = np.unique(item_idx, return_index=True)
        first.sort()
        libs, item_idx = libs[first], item_idx[first]
        n = len(libs)
        readers = self._readers(r, libs)
        it.on_loan[item_idx] = True
        self._schedule_followups(r, d, libs, item_idx, readers)
        due = np.full(n, today + LOAN_DAYS, dtype=np.int32)
        return libs, np.zeros(n, dtype=np.int8), item_idx, readers, due

    def _schedule_followups(self, r, d, libs, item_idx, readers):
        g = self.grid
        n = len(libs)
        horizon = len(self.sim_days)
        ils_idx = np.flatnonzero(self.ils)
        w = self.weight[ils_idx] / self.weight[ils_idx].sum()
        ret_lib = np.where(r.random(n) < 0.65, libs, ils_idx[r.choice(len(ils_idx), size=n, p=w)]).astype(np.int16)
        renew = r.random(n) < 0.15
        renew_day = d + r.integers(10, 29, size=n)
        ret_day = np.where(renew, renew_day, d) + np.ceil(r.gamma(2.0, 8.0, size=n)).astype(np.int64)
        ret_day = np.minimum(ret_day, horizon - 1)
        shifted = g.next_open[ret_lib, ret_day]
        gone = shifted >= BIG
        ret_lib[gone] = self.main
        shifted[gone] = g.next_open[self.main, ret_day[gone]]
        ret_day = shifted
        renew_day = np.minimum(renew_day, horizon - 1)
        renew_day = g.next_open[libs, renew_day]
        renew &= renew_day < ret_day
        # returns without a reader barcode are normal (interlib, koha): the reader is kept, the writer drops it
        self._push(ret_day, ret_lib, RETURN, item_idx, readers)
        self._push(renew_day[renew], libs[renew], RENEW, item_idx[renew], readers[renew])

    def _push(self, days, libs, kind, item_idx, readers):
        ok = days < BIG
        days, libs, item_idx, readers = days[ok], libs[ok], item_idx[ok], readers[ok]
        if len(days) == 0:
            return
        order = np.argsort(days, kind="stable")
        days, libs, item_idx, readers = days[order], libs[order], item_idx[order], readers[order]
        uniq, starts = np.unique(days, return_index=True)
        ends = np.append(starts[1:], len(days))
        for day_i, s, e in zip(uniq.tolist(), starts.tolist(), ends.tolist(), strict=True):
            self.pending.setdefault(day_i, []).append(
                (libs[s:e], np.full(e - s, kind, dtype=np.int8), item_idx[s:e], readers[s:e]))

    def _assemble(self, r, d, parts) -> DayEvents:
        lib = np.concatenate([x[0] for x in parts]).astype(np.int16)
        kind = np.concatenate([x[1] for x in parts]).astype(np.int8)
        item_idx = np.concatenate([x[2] for x in parts])
        reader = np.concatenate([x[3] for x in parts])
        due = np.concatenate([x[4] for x in parts])
        g = self.grid
        o = g.open_h[lib, d].astype(np.int32) * 3600
        c = g.close_h[lib, d].astype(np.int32) * 3600
        second = o + (r.beta(1.6, 1.6, size=len(lib)) * (c - o - 60)).astype(np.int32)
        channel = np.where(r.random(len(lib)) < self.self_share[lib], SELF, DESK).astype(np.int8)
        channel[np.array([self.levels[i] == "mobile" for i in range(len(self.levels))])[lib]] = VAN
        return DayEvents(lib, kind, self.items.barcode[item_idx], reader, second, channel, due)

    # rotations (流转) -------------------------------------------------------------------------------
    def _rotation_plan(self) -> dict[int, list[Rotation]]:
        """总馆→分馆: first working Tuesday of a quarter; 分馆→服务点: first working Wednesday of a month."""
        p = self.params
        r = rng(p.seed, "rotation-plan", self.county.code)
        libs = self.county.libraries
        plan: dict[int, list[Rotation]] = {}
        done_q: set[tuple[int, int]] = set()
        done_m: set[tuple[int, int]] = set()
        for d in range(WARMUP, WARMUP + p.days):
            day = self.sim_days[d]
            info = self.grid.infos[d]
            # shipped on the first working Tuesday (quarterly) / Wednesday (monthly) of the month
            if day.day > 14 or info.holiday or info.weekend:
                continue
            ym = (day.year, day.month)
            if day.weekday() == 1 and day.month in (1, 4, 7, 10) and ym not in done_q:
                done_q.add(ym)
                for i, lib in enumerate(libs):
                    if lib.level == "branch" and lib.valid_on(day):
                        vol = max(1, int(r.integers(150, 420) * p.holdings_scale))
                        plan.setdefault(d, []).append(Rotation(0, i, day, vol))
            if day.weekday() == 2 and ym not in done_m:
                done_m.add(ym)
                for i, lib in enumerate(libs):
                    if lib.level != "service_point" or not lib.valid_on(day):
                        continue
                    parent = next(v.parent_code for v in lib.versions
                                  if v.valid_from <= day and (v.valid_to is None or day < v.valid_to))
                    pi = next(k for k, x in enumerate(libs) if x.code == parent)
                    vol = max(1, int(r.integers(40, 120) * p.holdings_scale))
                    plan.setdefault(d, []).append(Rotation(pi, i, day, vol))
        return plan

    def _rotate(self, r, rot: Rotation) -> None:
        it = self.items
        avail = np.flatnonzero((it.current == rot.from_lib) & ~it.on_loan & ~it.lost & (it.withdrawn < 0))
        k = min(rot.volumes, len(avail))
        if k:
            moved = r.choice(avail, size=k, replace=False)
            it.current[moved] = rot.to_lib
        self.rotations.append(Rotation(rot.from_lib, rot.to_lib, rot.day, k))


def _empty() -> DayEvents:
    z = np.zeros(0, dtype=np.int64)
    return DayEvents(z.astype(np.int16), z.astype(np.int8), z, z, z.astype(np.int32), z.astype(np.int8),
                     z.astype(np.int32))
