"""The demo province generator: determinism, the file contract of docs/feeds.md, faults, and the manifest oracle.

Everything is read back from the bytes on disk with the encodings the registry states, and recounted
independently of the generator, so a wrong manifest or a wrong file fails here.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from openpyxl import load_workbook
from pymarc import MARCReader

from shuyun.demo import GenerateError, Params, generate, preset
from shuyun.demo.cli import demo as demo_cli

DIALECTS = {
    "interlib": {"n": 8, "id": 0, "kind": 1, "ts": 2, "lib": 3, "item": 4, "reader": 5,
                 "codes": {"借书": "loan", "还书": "return", "续借": "renew"}, "fmt": "%Y/%m/%d %H:%M:%S"},
    "libsys": {"n": 8, "id": 0, "kind": 1, "ts": 2, "lib": 3, "item": 4, "reader": 5,
               "codes": {"CHECKOUT": "loan", "CHECKIN": "return", "RENEWAL": "renew"},
               "fmt": "%Y-%m-%dT%H:%M:%S+08:00"},
    "koha": {"n": 7, "id": None, "kind": 2, "ts": 0, "lib": 1, "item": 3, "reader": 4,
             "codes": {"issue": "loan", "return": "return", "renew": "renew"}, "fmt": "%Y-%m-%d %H:%M:%S"},
}


def _sha_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _sources(out: Path) -> dict[str, dict]:
    doc = yaml.safe_load((out / "sources.yml").read_text(encoding="utf-8"))
    return {s["name"]: s for s in doc["sources"]}


def _csv_rows(data: bytes, encoding: str) -> tuple[list[str], list[list[str]]]:
    lines = data.decode(encoding).splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def _ranges(out: Path):
    with open(out / "registry/barcode_ranges.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_kind = {}
    for kind in ("reader", "item"):
        rs = sorted((int(r["first_barcode"]), int(r["last_barcode"])) for r in rows if r["kind"] == kind)
        by_kind[kind] = rs
    return by_kind


def _in_ranges(ranges, barcode: str) -> bool:
    x = int(barcode)
    i = bisect.bisect_right(ranges, (x, float("inf"))) - 1
    return i >= 0 and ranges[i][0] <= x <= ranges[i][1]


def _libraries(out: Path) -> list[dict]:
    with open(out / "registry/libraries.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _fault_index(manifest) -> dict[tuple[str, int | None], dict]:
    return {(f["file"], f["line"]): f for f in manifest["faults"]}


def _expected(out: Path, manifest, table: str) -> list[dict]:
    with open(out / manifest["expected"]["tables"][table]["path"], encoding="utf-8") as f:
        return list(csv.DictReader(f))


# determinism ------------------------------------------------------------------------------------------------
def test_given_same_seed_when_generated_twice_then_every_file_is_byte_identical(demo_out, tmp_path):
    again = tmp_path / "again"
    generate(preset("test"), again)
    assert _sha_tree(again) == _sha_tree(demo_out)


def test_given_another_seed_when_generated_then_deliveries_differ(demo_out, tmp_path):
    other = tmp_path / "other"
    generate(preset("test", seed=8), other)
    a, b = _sha_tree(demo_out), _sha_tree(other)
    circ_a = {k: v for k, v in a.items() if "/circulation/" in k}
    assert circ_a and all(b.get(k) != v for k, v in circ_a.items())


# the manifest describes the files -------------------------------------------------------------------------
def test_manifest_rows_and_checksums_match_the_files(demo_out, manifest):
    sources = _sources(demo_out)
    faulty_encoding = {f["file"] for f in manifest["faults"] if f["kind"] == "wrong_encoding"}
    feeds_seen = Counter()
    for entry in manifest["files"]:
        data = (demo_out / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
        feed = entry["feed"]
        feeds_seen[feed] += 1
        if feed in ("circulation", "visits", "activities", "rotations", "libraries", "barcode_ranges"):
            enc = "utf-8"
            if feed == "circulation":
                enc = "utf-8" if entry["path"] in faulty_encoding else sources[entry["source"]]["encoding"]
            _, rows = _csv_rows(data, enc)
            assert len(rows) == entry["rows"], entry["path"]
        elif feed == "monthly_report":
            ws = load_workbook(io.BytesIO(data)).active
            values = [r[0] for r in ws.iter_rows(min_row=4, values_only=True)]
            assert values[-1] == "合计"
            assert len(values) - 1 == entry["rows"], entry["path"]
        elif feed == "holdings":
            items = sum(len(r.get_fields("949")) for r in MARCReader(io.BytesIO(data), to_unicode=True))
            assert items == entry["rows"], entry["path"]
    assert set(feeds_seen) == {"circulation", "visits", "holdings", "activities", "rotations", "monthly_report",
                               "libraries", "barcode_ranges"}
    listed = {e["path"] for e in manifest["files"]}
    on_disk = {str(p.relative_to(demo_out)) for p in (demo_out / "landing").rglob("*") if p.is_file()}
    assert on_disk <= listed


def test_every_source_has_a_file_per_day_and_feed(demo_out, manifest):
    params = manifest["params"]
    days = params["days"]
    per_source = Counter((e["source"], e["feed"]) for e in manifest["files"])
    for name in _sources(demo_out):
        assert per_source[(name, "circulation")] == days
        assert per_source[(name, "visits")] == days
        assert per_source[(name, "holdings")] == 1


# encodings and formats ------------------------------------------------------------------------------------
def test_gbk_files_really_are_gbk_and_the_bom_file_has_a_bom(demo_out, manifest):
    sources = _sources(demo_out)
    faulty = {f["file"] for f in manifest["faults"] if f["kind"] == "wrong_encoding"}
    checked = Counter()
    for e in manifest["files"]:
        if e["feed"] != "circulation" or e["path"] in faulty:
            continue
        data = (demo_out / e["path"]).read_bytes()
        enc = sources[e["source"]]["encoding"]
        if enc in ("gbk", "gb18030"):
            assert data.decode(enc).startswith("流水号,操作类型")
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
            assert b"\r\n" in data
        elif enc == "utf-8-sig":
            assert data.startswith(b"\xef\xbb\xbf")
        else:
            assert not data.startswith(b"\xef\xbb\xbf")
            data.decode("utf-8")
        checked[enc] += 1
    assert checked["gbk"] and checked["utf-8-sig"] and checked["utf-8"]


def test_monthly_report_has_merged_title_group_headers_and_a_correct_total_row(demo_out, manifest):
    missing = {f["file"] for f in manifest["faults"] if f["kind"] == "missing_column"}
    reports = [e for e in manifest["files"] if e["feed"] == "monthly_report" and e["path"] not in missing]
    assert reports
    for e in reports:
        ws = load_workbook(demo_out / e["path"]).active
        merged = {str(r) for r in ws.merged_cells.ranges}
        assert "A1:M1" in merged and "A2:B2" in merged and "C2:H2" in merged
        assert ws["A1"].value.endswith("月") and "服务点月度统计报表" in ws["A1"].value
        header = [c.value for c in ws[3]]
        assert header[:3] == ["服务点代码", "服务点名称", "到馆人次"] and header[-1] == "培训次数"
        rows = list(ws.iter_rows(min_row=4, values_only=True))
        body, total = rows[:-1], rows[-1]
        assert total[0] == "合计"
        for col in range(2, 13):
            nums = [r[col] for r in body if isinstance(r[col], (int, float))]
            assert (total[col] or 0) == pytest.approx(sum(nums)), (e["path"], header[col])
        assert all(r[10] == "不适用" for r in body)  # 加工量 is done by the main library


def test_marc_holdings_parse_and_match_the_expected_items_per_library(demo_out, manifest):
    from shuyun.demo import formats as fmt

    counted = Counter()
    children = Counter()
    for e in manifest["files"]:
        if e["feed"] != "holdings":
            continue
        with open(demo_out / e["path"], "rb") as f:
            for rec in MARCReader(f, to_unicode=True):
                assert rec.leader[9] == "a"
                assert rec["001"].data and rec["245"]["a"] and rec["093"]["a"][0].isalpha()
                child = rec["008"].data[22] == "j"
                isbn = rec["020"]["a"]
                assert fmt._isbn13(isbn[:12]) == isbn
                for item in rec.get_fields("949"):
                    assert len(item["i"]) == 16 and item["s"] in {"available", "on_loan", "lost", "withdrawn",
                                                                  "in_transit"}
                    counted[item["a"]] += 1
                    children[item["a"]] += child
    expected = {r["owning_library"]: int(r["items"]) for r in _expected(demo_out, manifest, "holdings_by_library")}
    assert counted == Counter(expected)
    exp_children = {r["owning_library"]: int(r["children"])
                    for r in _expected(demo_out, manifest, "holdings_by_library")}
    assert children == Counter({k: v for k, v in exp_children.items() if v})


def test_fast_marc_writer_gives_the_bytes_pymarc_gives():
    from shuyun.demo import formats as fmt

    items = [[("a", "530121000"), ("b", "530121003"), ("i", "0121000000000013"), ("d", "20240120"),
              ("s", "on_loan")],
             [("a", "530121001"), ("b", "530121001"), ("i", "0121001000000054"), ("d", "20231206"),
              ("w", "20250101"), ("s", "withdrawn")]]
    bodies = ["  " + "".join(f"\x1f{c}{v}" for c, v in subs) + "\x1e" for subs in items]
    for child in (True, False):
        ref = fmt.marc_record("53012100000001", "I287", "星星儿童文学（第3版）", "9787677487839", child, 2024, items)
        assert fmt.marc_fast("53012100000001", "I287", "星星儿童文学（第3版）", "9787677487839", child, 2024,
                             bodies) == ref


# faults ---------------------------------------------------------------------------------------------------
def test_every_fault_kind_is_injected_the_stated_number_of_times(manifest):
    from shuyun.demo import FAULTS

    got = Counter(f["kind"] for f in manifest["faults"])
    assert got == Counter({k: n for k, (_, _, n) in FAULTS.items()})
    assert all(f["file"] and f["rule"] for f in manifest["faults"])


def _circ_files(demo_out, manifest):
    sources = _sources(demo_out)
    for e in manifest["files"]:
        if e["feed"] == "circulation":
            yield e, sources[e["source"]]


def test_every_declared_fault_is_where_the_manifest_says_and_clean_rows_break_no_rule(demo_out, manifest):
    """Apply the rules of docs/feeds.md to every row independently; the rows they flag must be the faults."""
    ranges = _ranges(demo_out)
    flagged: dict[tuple[str, int], str] = {}
    duplicates: set[tuple[str, int]] = set()
    for e, src in _circ_files(demo_out, manifest):
        data = (demo_out / e["path"]).read_bytes()
        d = DIALECTS[src["dialect"]]
        try:
            header, rows = _csv_rows(data, src["encoding"])
            wrong = header != _csv_rows(data, "utf-8-sig" if src["encoding"] == "utf-8-sig" else src["encoding"])[0] \
                or not any(header[0] == h for h in ("流水号", "txn_id", "datetime"))
        except UnicodeDecodeError:
            wrong = True
        if wrong:
            for i in range(e["rows"]):
                flagged[(e["path"], i + 1)] = "wrong_encoding"
            continue
        file_day = datetime.strptime(e["path"][-12:-4], "%Y%m%d").date()
        seen = set()
        for i, row in enumerate(rows, start=1):
            key = (e["path"], i)
            if len(row) != d["n"]:
                flagged[key] = "malformed_row"
                continue
            ident = row[d["id"]] if d["id"] is not None else ",".join(row)
            if ident in seen:
                duplicates.add(key)
                continue
            seen.add(ident)
            if row[d["reader"]] and not _in_ranges(ranges["reader"], row[d["reader"]]):
                flagged[key] = "reader_barcode_out_of_range"
            elif not _in_ranges(ranges["item"], row[d["item"]]):
                flagged[key] = "item_barcode_out_of_range"
            elif datetime.strptime(row[d["ts"]], d["fmt"]).date() != file_day:
                flagged[key] = "event_outside_delivery_interval"
        if data.endswith(b"\n") is False:
            assert (e["path"], e["rows"]) in flagged
    declared = {(f["file"], f["line"]): f["rule"] for f in manifest["faults"]
                if f["feed"] == "circulation" and f["rule"] not in ("wrong_encoding", "duplicate")}
    wrong_enc = {f["file"] for f in manifest["faults"] if f["rule"] == "wrong_encoding"}
    assert {k: v for k, v in flagged.items() if v != "wrong_encoding"} == declared
    assert {k[0] for k, v in flagged.items() if v == "wrong_encoding"} == wrong_enc
    assert duplicates == {(f["file"], f["line"]) for f in manifest["faults"] if f["rule"] == "duplicate"}
    circ = manifest["expected"]["feeds"]["circulation"]
    assert Counter(flagged.values()) == Counter(circ["rows_quarantined"])
    assert circ["duplicates"] == len(duplicates)


def test_wrong_encoding_file_is_utf8_where_the_registry_says_gbk(demo_out, manifest):
    sources = _sources(demo_out)
    (fault,) = [f for f in manifest["faults"] if f["kind"] == "wrong_encoding"]
    assert sources[fault["source"]]["encoding"] in ("gbk", "gb18030")
    data = (demo_out / fault["file"]).read_bytes()
    assert data.decode("utf-8").startswith("流水号,")
    try:
        text = data.decode(sources[fault["source"]]["encoding"])
    except UnicodeDecodeError:
        return
    assert not text.startswith("流水号,")


def test_negative_counts_and_missing_column_are_where_declared(demo_out, manifest):
    for f in manifest["faults"]:
        if f["kind"] == "negative_count":
            _, rows = _csv_rows((demo_out / f["file"]).read_bytes(), "utf-8")
            negatives = [i for i, r in enumerate(rows, start=1) if int(r[3]) < 0 or int(r[4]) < 0]
            assert negatives == [f["line"]]
        if f["kind"] == "missing_column":
            ws = load_workbook(demo_out / f["file"]).active
            header = [c.value for c in ws[3] if c.value]
            assert "到馆人次" not in header and len(header) == 12
            assert f["rows_affected"] == ws.max_row - 4


# the oracle: exact clean counts ---------------------------------------------------------------------------
def test_expected_clean_circulation_counts_equal_a_recount_of_the_files(demo_out, manifest):
    faults = _fault_index(manifest)
    wrong = {f["file"] for f in manifest["faults"] if f["kind"] == "wrong_encoding"}
    by_county, by_library = Counter(), Counter()
    for e, src in _circ_files(demo_out, manifest):
        if e["path"] in wrong:
            continue
        d = DIALECTS[src["dialect"]]
        _, rows = _csv_rows((demo_out / e["path"]).read_bytes(), src["encoding"])
        day = datetime.strptime(e["path"][-12:-4], "%Y%m%d").date().isoformat()
        for i, row in enumerate(rows, start=1):
            if (e["path"], i) in faults:
                continue
            kind = d["codes"][row[d["kind"]]]
            by_county[(src["county_code"], day, kind)] += 1
            by_library[(row[d["lib"]], day, kind)] += 1
    exp_c = Counter({(r["county_code"], r["date"], r["event_type"]): int(r["events"])
                     for r in _expected(demo_out, manifest, "circulation_by_county_day")})
    exp_l = Counter({(r["library_code"], r["date"], r["event_type"]): int(r["events"])
                     for r in _expected(demo_out, manifest, "circulation_by_library_day")})
    assert by_county == exp_c
    assert by_library == exp_l
    circ = manifest["expected"]["feeds"]["circulation"]
    assert sum(exp_c.values()) == circ["rows_loaded"] - circ["duplicates"]
    assert set(k[2] for k in exp_c) == {"loan", "return", "renew"}


def test_expected_visits_equal_a_recount_of_the_gate_files(demo_out, manifest):
    faults = _fault_index(manifest)
    got = Counter()
    for e in manifest["files"]:
        if e["feed"] != "visits":
            continue
        _, rows = _csv_rows((demo_out / e["path"]).read_bytes(), "utf-8")
        for i, r in enumerate(rows, start=1):
            assert r[0].startswith(r[1]) and r[2].endswith(":00")
            if (e["path"], i) not in faults:
                got[(r[1], r[2][:10])] += int(r[3])
    exp = Counter({(r["library_code"], r["date"]): int(r["entries"])
                   for r in _expected(demo_out, manifest, "visits_by_library_day") if int(r["entries"])})
    assert +got == exp


# barcodes and the hierarchy -------------------------------------------------------------------------------
def _clean_rows(demo_out, manifest):
    faults = _fault_index(manifest)
    wrong = {f["file"] for f in manifest["faults"] if f["kind"] == "wrong_encoding"}
    for e, src in _circ_files(demo_out, manifest):
        if e["path"] in wrong:
            continue
        d = DIALECTS[src["dialect"]]
        _, rows = _csv_rows((demo_out / e["path"]).read_bytes(), src["encoding"])
        day = datetime.strptime(e["path"][-12:-4], "%Y%m%d").date()
        for i, row in enumerate(rows, start=1):
            if (e["path"], i) not in faults:
                yield src, d, day, row


def test_clean_rows_have_barcodes_inside_the_registered_ranges(demo_out, manifest):
    ranges = _ranges(demo_out)
    n = cross = foreign_items = returns_elsewhere = returns = loans = 0
    for _, d, _, row in _clean_rows(demo_out, manifest):
        assert _in_ranges(ranges["item"], row[d["item"]])
        if row[d["reader"]]:
            assert _in_ranges(ranges["reader"], row[d["reader"]])
            cross += row[d["reader"]][:9] != row[d["lib"]]
        owner = row[d["lib"]][:2] + row[d["item"]][:7]  # item barcode = code[2:6] + sub + serial
        kind = d["codes"][row[d["kind"]]]
        loans += kind == "loan"
        foreign_items += kind == "loan" and owner != row[d["lib"]]
        if kind == "return":
            returns += 1
            returns_elsewhere += owner != row[d["lib"]]
        n += 1
    # 通借通还: readers borrow away from their home library, items are lent and returned away from their owner
    assert n > 500 and cross > 0.1 * n and foreign_items > 0.03 * loans and returns_elsewhere > 0.1 * returns


def test_events_happen_only_at_libraries_open_on_that_date_of_their_own_county(demo_out, manifest):
    libs = _libraries(demo_out)
    life = {}
    for r in libs:
        lo, hi = life.get(r["library_code"], (date.max, date.min))
        vt = date.fromisoformat(r["valid_to"]) if r["valid_to"] else date.max
        life[r["library_code"]] = (min(lo, date.fromisoformat(r["valid_from"])), max(hi, vt))
    level = {r["library_code"]: r["level"] for r in libs}
    source_system = {r["library_code"]: r["source_system"] for r in libs}
    for src, d, day, row in _clean_rows(demo_out, manifest):
        code = row[d["lib"]]
        assert code.startswith(src["county_code"])
        lo, hi = life[code]
        assert lo <= day < hi, (code, day)
        assert source_system[code] == src["name"]  # service points without an ILS never appear
        if level[code] == "mobile":
            assert datetime.strptime(row[d["ts"]], d["fmt"]).weekday() < 6


def test_hierarchy_changes_are_scd2_rows(demo_out, manifest):
    libs = _libraries(demo_out)
    rows = {}
    for r in libs:
        rows.setdefault(r["library_code"], []).append(r)
    for versions in rows.values():
        versions.sort(key=lambda r: r["valid_from"])
        for a, b in zip(versions, versions[1:], strict=False):
            assert a["valid_to"] == b["valid_from"]  # contiguous, no overlap
    changes = {c["kind"]: c for c in manifest["expected"]["hierarchy"]["changes"]}
    assert set(changes) == {"opened", "closed", "moved", "renamed"}
    start, end = manifest["params"]["start"], manifest["params"]["end"]
    for c in manifest["expected"]["hierarchy"]["changes"]:
        assert start < c["on"] <= end
    assert rows[changes["closed"]["library_code"]][-1]["valid_to"] == changes["closed"]["on"]
    moved = rows[changes["moved"]["library_code"]]
    assert [v["parent_code"] for v in moved] == [changes["moved"]["from_parent"], changes["moved"]["to_parent"]]
    renamed = rows[changes["renamed"]["library_code"]]
    assert [v["name_zh"] for v in renamed] == [changes["renamed"]["from_name_zh"], changes["renamed"]["to_name_zh"]]
    levels = Counter(r["level"] for r in libs)
    assert levels["province"] == 1 and levels["prefecture"] == 2
    assert {"county", "branch", "service_point", "mobile"} <= set(levels)
    assert len(libs) == manifest["expected"]["hierarchy"]["library_rows"]
    # some branches are below the seed-003 standards (area 150 m², 8,000 volumes, 42 h …)
    branches = [r for r in libs if r["level"] == "branch"]
    assert any(float(r["floor_area_m2"]) < 150 or float(r["weekly_open_hours"]) < 42 or int(r["seats"]) < 30
               for r in branches)


def test_sources_registry_follows_the_format(demo_out):
    doc = yaml.safe_load((demo_out / "sources.yml").read_text(encoding="utf-8"))
    assert doc["province"]["code"] == "530000"
    dialects = set()
    for s in doc["sources"]:
        assert s["name"] == "c" + s["county_code"] and s["library_code"] == s["county_code"] + "000"
        assert s["encoding"] in ("gbk", "gb18030", "utf-8-sig", "utf-8")
        assert (demo_out / s["transport"]["path"]).is_dir()
        assert s["marc_items"]["tag"] == "949" and s["credentials_env"] is None
        dialects.add(s["dialect"])
    assert dialects == {"interlib", "libsys", "koha"}


def test_rotations_go_down_the_hierarchy_on_working_days(tmp_path):
    import chinese_calendar

    demo_out = tmp_path / "april"  # a quarter starts: 总馆→分馆 and 分馆→服务点 both ship
    manifest = generate(Params(prefectures=1, counties=1, start=date(2025, 3, 31), days=5, seed=3,
                               loans_scale=0.1, holdings_scale=0.05), demo_out)
    level = {r["library_code"]: r["level"] for r in _libraries(demo_out)}
    n = 0
    for e in manifest["files"]:
        if e["feed"] != "rotations":
            continue
        _, rows = _csv_rows((demo_out / e["path"]).read_bytes(), "utf-8")
        for r in rows:
            assert (level[r[1]], level[r[2]]) in {("county", "branch"), ("branch", "service_point")}
            assert chinese_calendar.is_workday(date.fromisoformat(r[3])) and int(r[4]) > 0
            n += 1
    assert n > 0


# knobs and bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    pytest.param({"prefectures": 0}, id="no-prefecture"),
    pytest.param({"prefectures": 3, "counties": 2}, id="fewer-counties-than-prefectures"),
    pytest.param({"days": 0}, id="no-days"),
    pytest.param({"loans_scale": 0}, id="zero-scale"),
])
def test_impossible_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        Params(**kwargs)


def test_cli_refuses_a_non_demo_folder_and_a_bad_date_with_one_clear_message(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = CliRunner().invoke(demo_cli, ["generate", "--size", "test", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "no manifest.json" in result.output and "Traceback" not in result.output
    assert (tmp_path / "precious.txt").exists()
    result = CliRunner().invoke(demo_cli, ["generate", "--start", "2025-02-30", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "2025-02-30" in result.output and "Traceback" not in result.output


def test_cli_generates_with_knobs_and_regenerates_over_an_earlier_demo(tmp_path):
    out = tmp_path / "d"
    args = ["generate", "--size", "test", "--counties", "4", "--days", "3", "--start", "2025-01-27", "--no-faults",
            "--out", str(out)]
    first = CliRunner().invoke(demo_cli, args)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(demo_cli, args)
    assert again.exit_code == 0, again.output
    doc = yaml.safe_load((out / "sources.yml").read_text(encoding="utf-8"))
    assert len(doc["sources"]) == 4 and "gb18030" in {s["encoding"] for s in doc["sources"]}
    import json

    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["faults"] == [] and len([e for e in m["files"] if e["feed"] == "circulation"]) == 12


def test_spring_festival_closes_all_but_self_service_libraries():
    from shuyun.demo.province import build
    from shuyun.demo.schedule import day_info, hours

    province = build(preset("test"))
    libs = [lib for c in province.counties for lib in c.libraries]
    eve = day_info(date(2025, 1, 28))  # 除夕, first day of the 2025 Spring Festival holiday
    assert eve.spring_closed
    assert all(hours(lib, eve) is None for lib in libs if lib.level != "self_service")
    national = day_info(date(2025, 10, 3))
    assert not national.spring_closed and national.holiday == "National Day"
    assert all(hours(lib, national) == (9, 17) for lib in libs if lib.level == "county")
    assert all(hours(lib, national) is None for lib in libs if lib.level == "branch")


def test_generate_api_refuses_a_file_as_output(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(GenerateError, match="not a folder"):
        generate(preset("test"), f)
