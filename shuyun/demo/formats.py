"""Turning generated data into delivered bytes, exactly as docs/feeds.md says each feed looks.

Every writer returns bytes (or lines) and never touches the clock, so files are byte-identical per seed.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, timedelta

import numpy as np
import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from pymarc import Field, Indicators, Leader, Record, Subfield

from .circulation import DESK, EPOCH, LOAN, RENEW, RETURN, SELF, VAN, DayEvents

DIALECT_HEADER = {
    "interlib": "流水号,操作类型,操作时间,馆代码,图书条码,读者证号,应还日期,操作方式",
    "libsys": "txn_id,txn_type,txn_time,location_code,item_barcode,patron_barcode,due_date,channel",
    "koha": "datetime,branch,type,barcode,cardnumber,date_due,other",
}
# interlib runs on Windows servers: CRLF; the others LF
LINE_END = {"interlib": "\r\n", "libsys": "\n", "koha": "\n"}
_CODES = {
    "interlib": {LOAN: "借书", RETURN: "还书", RENEW: "续借"},
    "libsys": {LOAN: "CHECKOUT", RETURN: "CHECKIN", RENEW: "RENEWAL"},
    "koha": {LOAN: "issue", RETURN: "return", RENEW: "renew"},
}
_CHANNELS = {
    "interlib": {DESK: "柜台", SELF: "自助机", VAN: "流动车"},
    "libsys": {DESK: "DESK", SELF: "SELF", VAN: "VAN"},
    "koha": {DESK: "", SELF: "SCO", VAN: "VAN"},
}


_CLOCK = [f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60)]
_TS_FMT = {"interlib": ("%Y/%m/%d", " {}"), "libsys": ("%Y-%m-%d", "T{}+08:00"), "koha": ("%Y-%m-%d", " {}")}
_DATE_FMT = {"interlib": "%Y/%m/%d", "libsys": "%Y-%m-%d", "koha": "%Y-%m-%d"}


def circulation_lines(dialect: str, day: date, ev: DayEvents, lib_codes: list[str], first_id: int,
                      county_code: str) -> list[str]:
    """Lines (without terminators) of one day's events, in the order given.

    Plain Python over lookup tables: a day of a county is a few hundred lines, where polars' per-call
    overhead would dominate."""
    if ev.size == 0:
        return []
    day_fmt, clock_fmt = _TS_FMT[dialect]
    dates = {}

    def stamp(second: int) -> str:
        k = second // 86400
        if k not in dates:
            dates[k] = (day + timedelta(days=k)).strftime(day_fmt)
        return dates[k] + clock_fmt.format(_CLOCK[second % 86400])

    due_cache = {-1: ""}

    def due_str(x: int) -> str:
        if x not in due_cache:
            due_cache[x] = (EPOCH + timedelta(days=x)).strftime(_DATE_FMT[dialect])
        return due_cache[x]

    codes = _CODES[dialect]
    chans = _CHANNELS[dialect]
    kinds = ev.kind.tolist()
    libs = [lib_codes[i] for i in ev.lib.tolist()]
    items = [f"{x:016d}" for x in ev.item.tolist()]
    readers = [f"{x:015d}" if x >= 0 else "" for x in ev.reader.tolist()]
    stamps = [stamp(x) for x in ev.second.tolist()]
    dues = [due_str(x) for x in ev.due.tolist()]
    channels = [chans[x] for x in ev.channel.tolist()]
    n = ev.size
    if dialect == "interlib":
        return [f"{first_id + i},{codes[kinds[i]]},{stamps[i]},{libs[i]},{items[i]},"
                f"{'' if kinds[i] == RETURN else readers[i]},{dues[i]},{channels[i]}" for i in range(n)]
    if dialect == "libsys":
        prefix = "LS" + county_code
        return [f"{prefix}{first_id + i:010d},{codes[kinds[i]]},{stamps[i]},{libs[i]},{items[i]},{readers[i]},"
                f"{dues[i]},{channels[i]}" for i in range(n)]
    return [f"{stamps[i]},{libs[i]},{codes[kinds[i]]},{items[i]},{'' if kinds[i] == RETURN else readers[i]},"
            f"{dues[i]},{channels[i]}" for i in range(n)]


def csv_bytes(header: str, lines: list[str], encoding: str, line_end: str = "\n", truncated: bool = False) -> bytes:
    text = line_end.join([header, *lines])
    if not truncated:
        text += line_end
    return text.encode(encoding)


def visits_lines(rows: list[tuple[str, str, str, int, int]]) -> list[str]:
    return [f"{dev},{lib},{hour},{i},{o}" for dev, lib, hour, i, o in rows]


VISITS_HEADER = "device_id,library_code,hour_start,in_count,out_count"
ACTIVITIES_HEADER = "activity_id,library_code,activity_date,activity_type,title,participants,joint_with"
ROTATIONS_HEADER = "rotation_id,from_library,to_library,shipped_on,volumes"
LIBRARIES_HEADER = ("library_code,name_zh,name_en,level,parent_code,division_code,population_served,valid_from,"
                    "valid_to,floor_area_m2,seats,children_seats,networked_pcs,weekly_open_hours,staff,periodicals,"
                    "source_system")
RANGES_HEADER = "kind,first_barcode,last_barcode,library_code"


def csv_field(value) -> str:
    """A CSV field: None → blank; quoted when it holds a comma, quote or line break."""
    if value is None:
        return ""
    s = str(value)
    if any(ch in s for ch in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


# monthly report (服务点月度统计报表) ----------------------------------------------------------------------
REPORT_COLUMNS = ["服务点代码", "服务点名称", "到馆人次", "注册读者数", "活跃读者数", "外借册次", "活动次数",
                  "活动参与人次", "馆藏量", "新增册数", "加工量", "开放时长(小时)", "培训次数"]
REPORT_GROUPS = [("基本信息", 0, 1), ("服务", 2, 7), ("资源", 8, 10), ("其他", 11, 12)]
FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
FIXED_DOC_TIME = "2020-01-01T00:00:00Z"


def report_xlsx(title: str, rows: list[list], drop_column: str | None = None) -> bytes:
    """The statistics form as an .xlsx: merged title, merged group headers, column headers, rows, 合计."""
    cols = list(REPORT_COLUMNS)
    keep = list(range(len(cols)))
    if drop_column:
        keep.remove(cols.index(drop_column))
    wb = Workbook()
    ws = wb.active
    ws.title = "服务点月报"
    width = len(keep)
    ws.cell(row=1, column=1, value=title).font = Font(bold=True, size=14)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    for name, a, b in REPORT_GROUPS:
        span = [k for k, c in enumerate(keep) if a <= c <= b]
        if not span:
            continue
        ws.cell(row=2, column=span[0] + 1, value=name).alignment = Alignment(horizontal="center")
        if len(span) > 1:
            ws.merge_cells(start_row=2, start_column=span[0] + 1, end_row=2, end_column=span[-1] + 1)
    for k, c in enumerate(keep):
        ws.cell(row=3, column=k + 1, value=cols[c]).font = Font(bold=True)
    for i, row in enumerate(rows):
        for k, c in enumerate(keep):
            ws.cell(row=4 + i, column=k + 1, value=row[c])
    totals: list = ["合计", None]
    for c in range(2, len(cols)):
        nums = [row[c] for row in rows if isinstance(row[c], (int, float))]
        totals.append(sum(nums) if nums else None)
    for k, c in enumerate(keep):
        ws.cell(row=4 + len(rows), column=k + 1, value=totals[c]).font = Font(bold=True)
    ws.column_dimensions["B"].width = 36
    buf = io.BytesIO()
    wb.save(buf)
    return _fix_zip(buf.getvalue())


def _fix_zip(data: bytes) -> bytes:
    """Rewrite the xlsx zip with fixed entry times and document properties, so equal content → equal bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                              rb"\g<1>" + FIXED_DOC_TIME.encode() + rb"\g<3>", body)
            zi = zipfile.ZipInfo(info.filename, FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, body)
    return out.getvalue()


# holdings (MARC21) ----------------------------------------------------------------------------------------
# 中图法 top classes with weights (general / children's) and a few subject words each
CLC = [
    ("I247.5", 16, "长篇小说", ["山河", "故乡", "岁月", "远方", "人间", "春风", "长河", "大地"]),
    ("I266", 6, "散文集", ["草木", "四季", "行走", "书信", "炊烟", "流年"]),
    ("I207.2", 3, "诗词鉴赏", ["唐诗", "宋词", "元曲", "古诗"]),
    ("K82", 5, "人物传记", ["名人", "先贤", "工匠", "科学家"]),
    ("K20", 5, "中国历史", ["古代", "近代", "丝路", "边疆"]),
    ("K92", 2, "地理风物", ["云岭", "滇南", "高原", "古镇"]),
    ("G61", 2, "家庭教育", ["亲子", "成长", "习惯"]),
    ("G4", 5, "教育研究", ["课堂", "乡村教育", "阅读"]),
    ("G8", 2, "体育健身", ["跑步", "太极", "球类"]),
    ("TP3", 5, "计算机应用", ["Python", "办公软件", "人工智能", "数据分析"]),
    ("TS97", 3, "生活百科", ["烹饪", "家居", "养生"]),
    ("S", 6, "农业技术", ["种植", "养殖", "果树", "茶叶", "中药材"]),
    ("R", 4, "医药卫生", ["常见病", "中医", "保健"]),
    ("F", 5, "经济管理", ["乡村振兴", "电商", "创业", "理财"]),
    ("D", 4, "法律读本", ["民法典", "普法", "乡规"]),
    ("B", 2, "哲学思想", ["论语", "庄子", "心理"]),
    ("H", 3, "语言学习", ["汉语", "英语", "方言"]),
    ("J", 3, "艺术", ["书法", "绘画", "民族音乐"]),
    ("O", 2, "数理科学", ["数学", "物理"]),
    ("Q", 1, "生物科学", ["植物", "动物"]),
    ("X", 1, "环境保护", ["生态", "垃圾分类"]),
    ("Z", 2, "综合工具书", ["百科", "年鉴"]),
    ("A", 1, "经典著作", ["选读"]),
    ("C", 1, "社会科学总论", ["调查"]),
    ("E", 1, "军事", ["兵器"]),
    ("N", 1, "自然科学总论", ["科普"]),
    ("P", 1, "天文地球", ["星空", "地质"]),
    ("T", 1, "工业技术", ["机械", "电工"]),
    ("U", 1, "交通运输", ["公路", "汽车"]),
    ("V", 1, "航空航天", ["飞机", "火箭"]),
]
CLC_CHILD = [
    ("I287", 12, "儿童文学", ["小熊", "森林", "星星", "小狐狸", "魔法", "冒险"]),
    ("I287.8", 5, "绘本", ["好朋友", "我的家", "颜色", "月亮"]),
    ("Z228", 4, "少儿百科", ["十万个为什么", "恐龙", "宇宙", "海洋"]),
    ("G624", 3, "小学教辅", ["作文", "口算", "阅读理解"]),
    ("K0-49", 1, "少儿历史", ["上下五千年"]),
    ("J2", 1, "少儿美术", ["手工", "涂色"]),
]


def _isbn13(body12: str) -> str:
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def title_table(seed_rng: np.random.Generator, n_titles: int, n_child_titles: int):
    """(class, title, isbn, children?) per title index."""
    out = []
    for pool, n, is_child in ((CLC_CHILD, n_child_titles, True), (CLC, n_titles - n_child_titles, False)):
        w = np.array([x[1] for x in pool], dtype=float)
        cls = seed_rng.choice(len(pool), size=n, p=w / w.sum())
        words = seed_rng.integers(0, 1000, size=n)
        nums = seed_rng.integers(0, 10**8, size=n)
        digits = (nums[:, None] // 10 ** np.arange(7, -1, -1)) % 10
        check = ((10 - (59 + digits @ np.array([1, 3, 1, 3, 1, 3, 1, 3])) % 10) % 10).tolist()
        nums = nums.tolist()
        for k in range(n):
            code, _, kind, topics = pool[cls[k]]
            topic = topics[words[k] % len(topics)]
            vol = "" if words[k] % 7 else f"（第{words[k] % 5 + 2}版）"
            out.append((code, f"{topic}{kind}{vol}", f"9787{nums[k]:08d}{check[k]}", is_child))
    return out


def marc_record(bib_id: str, cls: str, title: str, isbn: str, child: bool, acquired_year: int,
                items: list[list[tuple[str, str]]]) -> bytes:
    rec = Record(force_utf8=True, leader=Leader("00000nam a2200000   4500"))
    audience = "j" if child else "e"
    f008 = f"200101s{acquired_year:04d}    cc     {audience}     0000 1 chi d"
    rec.add_field(Field(tag="001", data=bib_id))
    rec.add_field(Field(tag="008", data=f008))
    rec.add_field(Field(tag="020", indicators=Indicators(" ", " "), subfields=[Subfield("a", isbn)]))
    rec.add_field(Field(tag="093", indicators=Indicators(" ", " "), subfields=[Subfield("a", cls)]))
    rec.add_field(Field(tag="245", indicators=Indicators("0", "0"), subfields=[Subfield("a", title)]))
    for subs in items:
        rec.add_field(Field(tag="949", indicators=Indicators(" ", " "),
                            subfields=[Subfield(code, value) for code, value in subs]))
    return rec.as_marc()


_FT, _SF, _RT = "\x1e", "\x1f", b"\x1d"
_LEADER_MID, _LEADER_END = "nam a22", "   4500"  # of leader "00000nam a2200000   4500" (09 = a: UTF-8)


def _head(bib_id: str, cls: str, title: str, isbn: str, child: bool, acquired_year: int) -> list[tuple[str, bytes]]:
    audience = "j" if child else "e"
    return [
        ("001", (bib_id + _FT).encode()),
        ("008", f"200101s{acquired_year:04d}    cc     {audience}     0000 1 chi d{_FT}".encode()),
        ("020", f"  {_SF}a{isbn}{_FT}".encode()),
        ("093", f"  {_SF}a{cls}{_FT}".encode()),
        ("245", f"00{_SF}a{title}{_FT}".encode()),
    ]


def marc_records(heads: list[tuple], bodies: list[str], starts: list[int], ends: list[int]) -> bytes:
    """Many MARC records at once, the same bytes as pymarc's `as_marc` (tests/demo check the equality).

    pymarc builds ~10k records a second, too slow for a province of millions of items, so the ISO 2709
    framing is written here: `heads[k]` are the arguments of `_head` for record k, whose 949 items are
    `bodies[starts[k]:ends[k]]` (ready bodies: indicators + subfields + field terminator, ASCII)."""
    blen = np.fromiter((len(b) for b in bodies), dtype=np.int64, count=len(bodies))
    cum = np.concatenate([[0], np.cumsum(blen)])
    head_fields = [_head(*h) for h in heads]
    head_len = np.array([sum(len(b) for _, b in hf) for hf in head_fields], dtype=np.int64)
    st = np.asarray(starts, dtype=np.int64)
    counts = np.asarray(ends, dtype=np.int64) - st
    offsets = np.repeat(head_len - cum[st], counts) + cum[:-1][: counts.sum()] if len(bodies) else np.zeros(0)
    entries = pl.DataFrame({"l": blen, "o": offsets}).select(
        (pl.lit("949") + pl.col("l").cast(pl.String).str.zfill(4) + pl.col("o").cast(pl.String).str.zfill(5))
        .alias("e"))["e"].to_list()
    out = []
    for k, hf in enumerate(head_fields):
        s_, e_ = starts[k], ends[k]
        directory, offset = [], 0
        for tag, body in hf:
            directory.append(f"{tag}{len(body):04d}{offset:05d}")
            offset += len(body)
        dir_bytes = ("".join(directory) + "".join(entries[s_:e_]) + _FT).encode()
        base = 24 + len(dir_bytes)
        length = base + int(head_len[k]) + int(cum[e_] - cum[s_]) + 1
        out.append(f"{length:05d}{_LEADER_MID}{base:05d}{_LEADER_END}".encode())
        out.append(dir_bytes)
        out.extend(b for _, b in hf)
        out.append("".join(bodies[s_:e_]).encode())
        out.append(_RT)
    return b"".join(out)


def marc_fast(bib_id: str, cls: str, title: str, isbn: str, child: bool, acquired_year: int,
              item_fields: list[str]) -> bytes:
    """One record through `marc_records`."""
    return marc_records([(bib_id, cls, title, isbn, child, acquired_year)], item_fields, [0], [len(item_fields)])


def item_field_bodies(owner: list[str], current: list[str], barcode, acquired_days, withdrawn_days,
                      status) -> list[str]:
    """949 field bodies for many items at once (polars), in the order given."""
    df = pl.DataFrame({"a": owner, "b": current, "i": barcode, "d": acquired_days, "w": withdrawn_days,
                       "s": status})
    w = pl.when(pl.col("w") >= 0).then(
        pl.lit(_SF + "w") + pl.from_epoch(pl.col("w"), time_unit="d").dt.strftime("%Y%m%d")).otherwise(pl.lit(""))
    body = pl.concat_str([
        pl.lit("  " + _SF + "a"), pl.col("a"), pl.lit(_SF + "b"), pl.col("b"),
        pl.lit(_SF + "i"), pl.col("i").cast(pl.String).str.zfill(16),
        pl.lit(_SF + "d"), pl.from_epoch(pl.col("d"), time_unit="d").dt.strftime("%Y%m%d"),
        w, pl.lit(_SF + "s"), pl.col("s"), pl.lit(_FT)])
    return df.select(body.alias("f"))["f"].to_list()
