"""The demo province: prefectures, counties and their 总分馆 networks, with a time-variant hierarchy.

Everything here is derived from `Params` and the seed alone, so the same seed gives the same province.
Library codes, barcode ranges and levels follow docs/feeds.md; branch and service-point facilities are
drawn around the seed-003 standards, a share of them deliberately below, so compliance has findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from .params import PROVINCE_CODE, Params, rng

PROVINCE_NAME_ZH = "云岭省"
PROVINCE_NAME_EN = "Yunling Province"

# name syllables with pinyin (fictional place names are built from two of them)
_FIRST = [("云", "Yun"), ("澜", "Lan"), ("苍", "Cang"), ("青", "Qing"), ("金", "Jin"), ("玉", "Yu"), ("碧", "Bi"),
          ("翠", "Cui"), ("白", "Bai"), ("红", "Hong"), ("凤", "Feng"), ("龙", "Long"), ("石", "Shi"), ("松", "Song"),
          ("梅", "Mei"), ("兰", "Lan"), ("竹", "Zhu"), ("桃", "Tao"), ("明", "Ming"), ("安", "An"), ("永", "Yong"),
          ("新", "Xin"), ("东", "Dong"), ("西", "Xi"), ("南", "Nan"), ("北", "Bei"), ("宁", "Ning"), ("华", "Hua"),
          ("丰", "Feng"), ("泰", "Tai"), ("德", "De"), ("昌", "Chang"), ("顺", "Shun"), ("盛", "Sheng")]
_SECOND = [("山", "shan"), ("江", "jiang"), ("河", "he"), ("溪", "xi"), ("川", "chuan"), ("岭", "ling"), ("峰", "feng"),
           ("湖", "hu"), ("源", "yuan"), ("泉", "quan"), ("阳", "yang"), ("平", "ping"), ("城", "cheng"),
           ("坪", "ping"), ("坝", "ba"), ("林", "lin"), ("谷", "gu"), ("田", "tian"), ("口", "kou"), ("关", "guan")]

LEVEL_RANK = {"province": 0, "prefecture": 1, "county": 2, "branch": 3, "service_point": 4, "mobile": 5,
              "self_service": 6}


@dataclass
class Version:
    """One SCD2 row of a library: what it was called and where it hung during [valid_from, valid_to)."""

    valid_from: date
    valid_to: date | None
    name_zh: str
    name_en: str
    parent_code: str | None


@dataclass
class Library:
    code: str
    level: str
    division_code: str
    population: int | None
    versions: list[Version]
    county_code: str | None = None      # the county system it belongs to (None: province/prefecture)
    has_ils: bool = False               # appears in its county's circulation (else reports by form)
    floor_area: float | None = None
    seats: int | None = None
    children_seats: int | None = None
    pcs: int | None = None
    staff: int | None = None
    periodicals: int | None = None
    # opening: weekday (0=Mon) -> (open hour, close hour); 24h self-service = (0, 24)
    schedule: dict[int, tuple[int, int]] = field(default_factory=dict)
    gates: int = 0
    stock: int = 0                      # volumes at holdings_scale 1.0
    readers: int = 0                    # registered reader cards
    weight: float = 0.0                 # share of its county's loans
    below_standard: bool = False

    @property
    def valid_from(self) -> date:
        return self.versions[0].valid_from

    @property
    def valid_to(self) -> date | None:
        return self.versions[-1].valid_to

    @property
    def sub(self) -> str:
        return self.code[6:]

    @property
    def weekly_hours(self) -> float:
        return float(sum(c - o for o, c in self.schedule.values()))

    def name_on(self, day: date) -> str:
        for v in self.versions:
            if v.valid_from <= day and (v.valid_to is None or day < v.valid_to):
                return v.name_zh
        return self.versions[-1].name_zh

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    @property
    def item_prefix(self) -> str:
        """First 7 digits of its item barcodes: last four of the (county) code + sub code."""
        return self.code[2:6] + self.sub

    def reader_range(self) -> tuple[str, str]:
        return self.code + "000001", self.code + "999999"

    def item_range(self) -> tuple[str, str]:
        return self.item_prefix + "000000001", self.item_prefix + "999999999"


@dataclass
class County:
    code: str
    name_zh: str
    name_en: str
    prefecture_code: str
    population: int
    dialect: str
    encoding: str
    libraries: list[Library]            # main first, then branches, service points, vans, self-service

    @property
    def source(self) -> str:
        return "c" + self.code

    @property
    def main(self) -> Library:
        return self.libraries[0]

    @property
    def ils_libraries(self) -> list[Library]:
        return [lib for lib in self.libraries if lib.has_ils]

    @property
    def form_points(self) -> list[Library]:
        return [lib for lib in self.libraries if not lib.has_ils]


@dataclass
class Change:
    kind: str          # opened | closed | moved | renamed
    library_code: str
    on: date
    detail: dict


@dataclass
class Province:
    code: str
    name_zh: str
    name_en: str
    library: Library
    prefectures: list[Library]
    counties: list[County]
    changes: list[Change]

    def all_libraries(self) -> list[Library]:
        out = [self.library, *self.prefectures]
        for c in self.counties:
            out.extend(c.libraries)
        return out

    def county(self, code: str) -> County:
        return next(c for c in self.counties if c.code == code)


# dialects in the order counties take them: every size has all three; GB18030 appears from 4 counties up
_DIALECTS = [("interlib", "gbk"), ("libsys", "utf-8-sig"), ("koha", "utf-8"), ("interlib", "gb18030"),
             ("interlib", "gbk"), ("libsys", "utf-8-sig"), ("interlib", "gbk"), ("koha", "utf-8")]


def _names(r: np.random.Generator, n: int, taken: set[str]) -> list[tuple[str, str]]:
    combos = [(a + b, pa + pb) for a, pa in _FIRST for b, pb in _SECOND if a != b]
    order = r.permutation(len(combos))
    out = []
    for i in order:
        zh, en = combos[i]
        if zh not in taken:
            taken.add(zh)
            out.append((zh, en))
            if len(out) == n:
                break
    return out


def _schedule(days: list[int], open_h: int, close_h: int, weekend: tuple[int, int] | None = None):
    out = {}
    for d in days:
        out[d] = weekend if (weekend and d >= 5) else (open_h, close_h)
    return out


def build(params: Params) -> Province:
    seed = params.seed
    r = rng(seed, "province")
    founded = date(2016, 1, 1)
    prov_lib = Library(
        code=PROVINCE_CODE + "0000000", level="province", division_code=PROVINCE_CODE + "0000",
        population=None, versions=[Version(date(1950, 1, 1), None, PROVINCE_NAME_ZH + "图书馆",
                                           PROVINCE_NAME_EN + " Library", None)],
        floor_area=52000.0, seats=3200, children_seats=400, pcs=600, staff=310, periodicals=4200,
        schedule=_schedule(list(range(7)), 9, 21), gates=4, readers=400000)
    taken: set[str] = set()
    pref_names = _names(r, params.prefectures, taken)
    county_names = _names(r, params.counties, taken)
    # prefecture codes 5301, 5303, ... ; counties spread evenly over prefectures
    per_pref = [params.counties // params.prefectures + (1 if i < params.counties % params.prefectures else 0)
                for i in range(params.prefectures)]
    prefectures: list[Library] = []
    counties: list[County] = []
    ci = 0
    for pi in range(params.prefectures):
        pcode = f"{PROVINCE_CODE}{2 * pi + 1:02d}"
        pzh, pen = pref_names[pi]
        suffix_zh, suffix_en = ("州", " Prefecture") if pi % 3 == 2 else ("市", " City")
        pref = Library(
            code=pcode + "00000", level="prefecture", division_code=pcode + "00", population=None,
            versions=[Version(date(1958, 1, 1), None, f"{pzh}{suffix_zh}图书馆", f"{pen}{suffix_en} Library",
                              prov_lib.code)],
            floor_area=float(r.integers(9000, 22000)), seats=int(r.integers(800, 1600)),
            children_seats=int(r.integers(120, 300)), pcs=int(r.integers(120, 260)), staff=int(r.integers(60, 140)),
            periodicals=int(r.integers(900, 2000)), schedule=_schedule(list(range(7)), 9, 21), gates=2,
            readers=int(r.integers(60000, 150000)))
        prefectures.append(pref)
        pop_total = 0
        for k in range(per_pref[pi]):
            zh, en = county_names[ci]
            ccode = f"{pcode}{21 + k:02d}"
            dialect, encoding = _DIALECTS[ci % len(_DIALECTS)]
            county = _county(params, ccode, zh, en, pref.code, dialect, encoding, founded)
            counties.append(county)
            pop_total += county.population
            ci += 1
        pref.population = pop_total
    prov_lib.population = sum(p.population or 0 for p in prefectures)
    province = Province(PROVINCE_CODE + "0000", PROVINCE_NAME_ZH, PROVINCE_NAME_EN, prov_lib, prefectures,
                        counties, [])
    _changes(params, province)
    return province


def _county(params: Params, ccode: str, zh: str, en: str, pref_code: str, dialect: str, encoding: str,
            founded: date) -> County:
    r = rng(params.seed, "county", ccode)
    pop = int(np.exp(r.uniform(np.log(150_000), np.log(1_200_000))))
    is_city = r.random() < 0.15
    cz, ce = (zh + "市", en + " City") if is_city else (zh + "县", en + " County")
    base_zh, base_en = f"{cz}图书馆", f"{ce} Library"
    libs: list[Library] = []
    main = Library(
        code=ccode + "000", level="county", division_code=ccode, population=pop,
        versions=[Version(date(1978, 1, 1), None, base_zh, base_en, pref_code)], county_code=ccode, has_ils=True,
        floor_area=float(r.integers(2500, 12000)), seats=int(r.integers(260, 900)),
        children_seats=int(r.integers(60, 220)), pcs=int(r.integers(30, 120)), staff=int(r.integers(6, 48)),
        periodicals=int(r.integers(200, 900)),
        schedule=_schedule(list(range(7)), 9, 20, weekend=(9, 18)), gates=2,
        stock=int(r.integers(60_000, 160_000)), readers=int(pop * r.uniform(0.02, 0.05)), weight=45.0)
    libs.append(main)
    n_branch = int(np.clip(round(pop / 65_000), 3, 15))
    town_names = _names(r, n_branch + 3 * n_branch + 4, set())
    town_pop = r.dirichlet(np.full(n_branch, 3.0)) * pop * 0.7
    branches = []
    for i in range(n_branch):
        tzh, ten = town_names[i]
        kind_zh, kind_en, tcode = ("镇", "Town", 100 + i + 1) if r.random() < 0.7 else ("乡", "Township", 200 + i + 1)
        below = bool(r.random() < 0.25)
        short_hours = below and r.random() < 0.6
        hours = _schedule([2, 3, 4, 5, 6], 9, 16) if short_hours else _schedule([1, 2, 3, 4, 5, 6], 9, 17)
        b = Library(
            code=f"{ccode}{i + 1:03d}", level="branch", division_code=f"{ccode}{tcode:03d}",
            population=int(town_pop[i]),
            versions=[Version(founded + timedelta(days=int(r.integers(0, 2200))), None,
                              f"{base_zh}{tzh}{kind_zh}分馆", f"{base_en} {ten} {kind_en} Branch", main.code)],
            county_code=ccode, has_ils=True,
            floor_area=float(r.integers(90, 149) if below and r.random() < 0.7 else r.integers(150, 420)),
            seats=int(r.integers(18, 29) if below and r.random() < 0.5 else r.integers(30, 70)),
            children_seats=int(r.integers(4, 9) if below and r.random() < 0.5 else r.integers(10, 24)),
            pcs=int(1 if below and r.random() < 0.5 else r.integers(2, 7)),
            staff=int(1 if below and r.random() < 0.5 else r.integers(2, 5)),
            periodicals=int(r.integers(12, 29) if below and r.random() < 0.5 else r.integers(30, 70)),
            schedule=hours, gates=1,
            stock=int(r.integers(4000, 7900) if below and r.random() < 0.6 else r.integers(8000, 16000)),
            readers=int(town_pop[i] * r.uniform(0.01, 0.03)), weight=float(r.uniform(2.0, 6.0)),
            below_standard=below)
        branches.append(b)
    libs.extend(branches)
    # service points: 1-3 per branch; ≥2 with an ILS and ≥2 reporting by form per county
    sp_code = 100
    n_sp = [int(r.integers(1, 4)) for _ in branches]
    total_sp = max(sum(n_sp), 4)
    while sum(n_sp) < total_sp:
        n_sp[0] += 1
    ils_flags = r.random(total_sp) < 0.4
    ils_flags[:2] = True
    ils_flags[2:4] = False
    ils_flags = list(r.permutation(ils_flags))
    vi = n_branch
    k = 0
    for bi, b in enumerate(branches):
        for _ in range(n_sp[bi]):
            vzh, ven = town_names[vi]
            vi += 1
            vk_zh, vk_en = ("社区", "Community") if r.random() < 0.3 else ("村", "Village")
            below = bool(r.random() < 0.3)
            has_ils = bool(ils_flags[k])
            k += 1
            hours = _schedule([5, 6], 9, 17) if below and r.random() < 0.5 else _schedule([1, 2, 3, 4, 5], 9, 17)
            sp = Library(
                code=f"{ccode}{sp_code:03d}", level="service_point", division_code=b.division_code,
                population=int(r.integers(1500, 9000)),
                versions=[Version(b.valid_from + timedelta(days=int(r.integers(30, 700))), None,
                                  f"{base_zh}{vzh}{vk_zh}服务点", f"{base_en} {ven} {vk_en} Service Point", b.code)],
                county_code=ccode, has_ils=has_ils,
                floor_area=float(r.integers(50, 99) if below and r.random() < 0.6 else r.integers(100, 220)),
                seats=int(r.integers(8, 30)), children_seats=int(r.integers(2, 10)),
                pcs=int(0 if below and r.random() < 0.5 else r.integers(1, 3)),
                staff=int(0 if below and r.random() < 0.3 else 1),
                periodicals=int(r.integers(3, 9) if below and r.random() < 0.5 else r.integers(10, 25)),
                schedule=hours, gates=1 if has_ils and r.random() < 0.5 else 0,
                stock=int(r.integers(700, 1499) if below and r.random() < 0.6 else r.integers(1500, 3200)),
                readers=int(r.integers(150, 700)), weight=float(r.uniform(0.4, 1.2)) if has_ils else 0.0,
                below_standard=below)
            libs.append(sp)
            sp_code += 1
    n_van = 1 if pop < 500_000 else 2
    for j in range(n_van):
        days = sorted(r.choice(6, size=2, replace=False).tolist())
        libs.append(Library(
            code=f"{ccode}{900 + j + 1:03d}", level="mobile", division_code=ccode, population=None,
            versions=[Version(founded + timedelta(days=int(r.integers(0, 2000))), None,
                              f"{base_zh}流动服务车{j + 1}号", f"{base_en} Book Van {j + 1}", main.code)],
            county_code=ccode, has_ils=True, pcs=1, staff=2, schedule=_schedule(days, 9, 16),
            stock=int(r.integers(2500, 5000)), readers=0, weight=float(r.uniform(1.5, 3.0))))
    if r.random() < 0.5:
        libs.append(_self_service(r, ccode, base_zh, base_en, main.code, 1,
                                  founded + timedelta(days=int(r.integers(300, 2500)))))
    return County(ccode, cz, ce, pref_code, pop, dialect, encoding, libs)


def _self_service(r, ccode, base_zh, base_en, parent, j, valid_from):
    places = [("人民广场", "People's Square"), ("汽车站", "Bus Station"), ("文化公园", "Culture Park")]
    place_zh, place_en = places[j % 3]
    return Library(
        code=f"{ccode}{950 + j:03d}", level="self_service", division_code=ccode, population=None,
        versions=[Version(valid_from, None, f"{base_zh}24小时自助图书馆（{place_zh}）",
                          f"{base_en} 24h Self-service Library ({place_en})", parent)],
        county_code=ccode, has_ils=True, floor_area=float(r.integers(18, 45)), seats=int(r.integers(0, 5)),
        children_seats=0, pcs=1, staff=0, periodicals=0, schedule=_schedule(list(range(7)), 0, 24), gates=1,
        stock=int(r.integers(2500, 4500)), readers=0, weight=float(r.uniform(1.0, 2.5)))


def _changes(params: Params, province: Province) -> None:
    """Open, close, move and rename a few libraries during the period (SCD2 rows in libraries.csv)."""
    r = rng(params.seed, "changes")
    counties = province.counties

    def day_at(frac: float) -> date:
        return params.start + timedelta(days=max(1, min(params.days - 1, int(params.days * frac))))

    def pick(county: County, pred):
        cands = [lib for lib in county.libraries if pred(lib)]
        return cands[int(r.integers(0, len(cands)))] if cands else None

    changes = province.changes
    c0, c1, c2 = counties[0], counties[min(1, len(counties) - 1)], counties[-1]
    # opened: a new village service point with the ILS, and a new 24h self-service library
    on = day_at(0.35)
    branch = pick(c0, lambda lib: lib.level == "branch")
    base_zh, base_en = c0.main.versions[0].name_zh, c0.main.versions[0].name_en
    new_code = f"{c0.code}{max(int(lib.sub) for lib in c0.libraries if lib.level == 'service_point') + 1:03d}"
    sp = Library(code=new_code, level="service_point", division_code=branch.division_code, population=4200,
                 versions=[Version(on, None, f"{base_zh}新建社区服务点", f"{base_en} New Community Service Point",
                                   branch.code)],
                 county_code=c0.code, has_ils=True, floor_area=120.0, seats=24, children_seats=8, pcs=2, staff=1,
                 periodicals=12, schedule=_schedule([1, 2, 3, 4, 5], 9, 17), gates=1, stock=1800, readers=0,
                 weight=0.8)
    c0.libraries.append(sp)
    changes.append(Change("opened", sp.code, on, {"level": sp.level, "parent_code": branch.code}))
    on = day_at(0.7)
    used = {int(lib.sub) for lib in c1.libraries}
    j = next(j for j in range(1, 50) if 950 + j not in used)
    bz, be = c1.main.versions[0].name_zh, c1.main.versions[0].name_en
    ss = _self_service(r, c1.code, bz, be, c1.main.code, j, on)
    c1.libraries.append(ss)
    changes.append(Change("opened", ss.code, on, {"level": ss.level, "parent_code": c1.main.code}))
    # closed: a service point with the ILS (its stock goes back to the main library)
    on = day_at(0.55)
    closing = pick(c2, lambda lib: lib.level == "service_point" and lib.has_ils and lib.valid_from < params.start)
    closing.versions[-1].valid_to = on
    changes.append(Change("closed", closing.code, on, {}))
    # moved: a service point goes under another branch of its county
    on = day_at(0.5)
    mover = pick(c1, lambda lib: lib.level == "service_point" and lib.has_ils and lib.code != closing.code
                 and lib.valid_from < params.start)
    old = mover.versions[-1]
    new_parent = pick(c1, lambda lib: lib.level == "branch" and lib.code != old.parent_code)
    old.valid_to = on
    mover.versions.append(Version(on, None, old.name_zh, old.name_en, new_parent.code))
    changes.append(Change("moved", mover.code, on, {"from_parent": old.parent_code, "to_parent": new_parent.code}))
    # renamed: a 乡 becomes a 镇 (or a branch gets a cultural-centre name)
    on = day_at(0.3)
    ren = pick(c0, lambda lib: lib.level == "branch" and lib.code != branch.code) or branch
    old = ren.versions[-1]
    if "乡分馆" in old.name_zh:
        nz, ne = old.name_zh.replace("乡分馆", "镇分馆"), old.name_en.replace("Township Branch", "Town Branch")
    else:
        nz, ne = old.name_zh.replace("分馆", "综合文化站分馆"), old.name_en.replace("Branch", "Cultural Station Branch")
    old.valid_to = on
    ren.versions.append(Version(on, None, nz, ne, old.parent_code))
    changes.append(Change("renamed", ren.code, on, {"from_name_zh": old.name_zh, "to_name_zh": nz}))
