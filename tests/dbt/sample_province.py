"""A small hand-made province for the dbt tests, inserted into raw.* of the session's test database.

Two counties of 文山州 (532600): 砚山县 532622 (总馆 000, 分馆 001 and 002, 服务点 101) and
西畴县 532623 (总馆 000, 分馆 001). 服务点 532622101 moves from 砚山's 分馆 001 to 西畴's 总馆 on
2024-03-10 (a new registry version: its events count for 西畴 from that day). Events over 2024-03-09/10
in four daily batches (one per county per day), with: a duplicated event re-delivered in the next
day's batch (A-0001), a loan of a 砚山 item by a 砚山 reader at 西畴 returned in 砚山 (B-0002 / A-0011),
a loan returned at another branch (A-0002 / A-0005), a renewal, a return without any known loan,
one quarantined line; plus gate counts, holdings, a form, an activity and a rotation.
`add_day_three` is the next delivery (2024-03-11) for the incremental test; it also carries a late
event of 2024-03-10 and closes a loan of 2024-03-09.
"""

from __future__ import annotations

import psycopg

REGISTRY = "2024-03-01 08:00+08"
SINCE = "2020-01-01"  # first day of the registry versions
A1, A2, A3 = "batch-a-0309", "batch-a-0310", "batch-a-0311"
B1, B2 = "batch-b-0309", "batch-b-0310"
LOADED = {
    A1: "2024-03-10 01:00+08", B1: "2024-03-10 01:05+08",
    A2: "2024-03-11 01:00+08", B2: "2024-03-11 01:05+08",
    A3: "2024-03-12 01:00+08",
}
SOURCE = {A1: "c532622", A2: "c532622", A3: "c532622", B1: "c532623", B2: "c532623"}
FILE = {
    A1: "c532622/circulation/circ_20240309.csv", A2: "c532622/circulation/circ_20240310.csv",
    A3: "c532622/circulation/circ_20240311.csv",
    B1: "c532623/circulation/circ_20240309.csv", B2: "c532623/circulation/circ_20240310.csv",
}

LIBRARIES = [
    # code, name_zh, level, parent, division, population, valid_from, valid_to, area, seats, children, pcs, hours, staff
    ("532600000", "文山州图书馆", "prefecture", None, "532600", 3500000, SINCE, None, 12000, 900, 200, 80, 70, 60),
    ("532622000", "砚山县图书馆", "county", "532600000", "532622", 480000, SINCE, None, 6000, 500, 120, 40, 63, 18),
    ("532622001", "砚山县江那镇分馆", "branch", "532622000", "532622100", 90000, SINCE, None, 180, 40, 12, 3, 42, 2),
    ("532622002", "砚山县平远镇分馆", "branch", "532622000", "532622101", 85000, SINCE, None, 160, 32, 10, 2, 45, 2),
    ("532622101", "砚山县盘龙村服务点", "service_point", "532622001", "532622100", 3000, SINCE, "2024-03-10",
     110, 20, 6, 1, 35, 1),
    ("532622101", "西畴县盘龙村服务点", "service_point", "532623000", "532623100", 3000, "2024-03-10", None,
     110, 20, 6, 1, 35, 1),
    ("532623000", "西畴县图书馆", "county", "532600000", "532623", 260000, SINCE, None, 3000, 300, 80, 20, 56, 9),
    ("532623001", "西畴县西洒镇分馆", "branch", "532623000", "532623100", 60000, SINCE, None, 150, 30, 10, 2, 42, 2),
]

ITEM_RANGES = [
    ("2622000000000001", "2622000999999999", "532622000"),
    ("2622001000000001", "2622001999999999", "532622001"),
    ("2622002000000001", "2622002999999999", "532622002"),
    ("2622101000000001", "2622101999999999", "532622101"),
    ("2623000000000001", "2623000999999999", "532623000"),
    ("2623001000000001", "2623001999999999", "532623001"),
]
READER_RANGES = [(f"{code}000001", f"{code}999999", code) for _, _, code in ITEM_RANGES]

# source_event_id, batch, line, county, library, type, local time, item, reader_key, reader home, due, channel
EVENTS = [
    ("A-0001", A1, 1, "532622", "532622000", "loan", "2024-03-09 10:00", "2622000000000001", "rA1", "532622000",
     "2024-04-08", "desk"),
    ("A-0002", A1, 2, "532622", "532622001", "loan", "2024-03-09 10:30", "2622000000000002", "rA2", "532622001",
     "2024-04-08", "self_check"),
    ("A-0003", A1, 3, "532622", "532622101", "loan", "2024-03-09 11:00", "2622101000000001", "rA3", "532622101",
     "2024-04-08", "van"),
    ("A-0004", A1, 5, "532622", "532622000", "return", "2024-03-09 14:00", "2622000000000003", None, None, None,
     "desk"),
    ("A-0005", A2, 1, "532622", "532622002", "return", "2024-03-10 09:00", "2622000000000002", None, None, None,
     "desk"),
    ("A-0006", A2, 2, "532622", "532622000", "renew", "2024-03-10 15:00", "2622000000000001", "rA1", "532622000",
     "2024-05-08", "desk"),
    ("A-0007", A2, 3, "532622", "532622101", "loan", "2024-03-10 16:00", "2622101000000002", "rA3", "532622101",
     "2024-04-09", "van"),
    ("A-0001", A2, 4, "532622", "532622000", "loan", "2024-03-09 10:00", "2622000000000001", "rA1", "532622000",
     "2024-04-08", "desk"),  # the same event delivered again the next day: a duplicate
    ("A-0011", A2, 5, "532622", "532622000", "return", "2024-03-10 17:00", "2622000000000004", None, None, None,
     "self_check"),
    ("B-0001", B1, 1, "532623", "532623000", "loan", "2024-03-09 09:00", "2623000000000001", "rB1", "532623000",
     "2024-04-08", "desk"),
    ("B-0002", B1, 2, "532623", "532623001", "loan", "2024-03-09 10:00", "2622000000000004", "rB2", "532622000",
     "2024-04-08", "desk"),
    ("B-0003", B2, 1, "532623", "532623000", "return", "2024-03-10 11:00", "2623000000000001", None, None, None,
     "desk"),
]
DAY_THREE_EVENTS = [
    ("A-0012", A3, 1, "532622", "532622000", "return", "2024-03-11 10:00", "2622000000000001", None, None, None,
     "desk"),
    ("A-0013", A3, 2, "532622", "532622000", "loan", "2024-03-11 11:00", "2622000000000005", "rA2", "532622001",
     "2024-04-10", "desk"),
    ("A-0014", A3, 3, "532622", "532622002", "loan", "2024-03-10 16:30", "2622002000000001", "rA1", "532622000",
     "2024-04-09", "desk"),  # late: an event of 03-10 delivered with 03-11
]

VISITS = [
    # library, gate, local hour, entries
    ("532622000", "g1", "2024-03-09 09:00", 40),
    ("532622000", "g1", "2024-03-09 10:00", 35),
    ("532622000", "g1", "2024-03-10 09:00", 50),
    ("532622001", "g1", "2024-03-09 09:00", 12),
    ("532623000", "g1", "2024-03-09 09:00", 20),
]

HOLDINGS = [
    # item, owning library, clc class, children, acquired, withdrawn, status
    ("2622000000000001", "532622000", "I247.5", False, "2023-05-10", None, "on_loan"),
    ("2622000000000002", "532622000", "G624", True, "2024-01-15", None, "available"),
    ("2622000000000003", "532622000", "B82", False, SINCE, None, "available"),
    ("2622000000000004", "532622000", "I287", True, "2024-03-01", None, "available"),
    ("2622000000000009", "532622000", "K928", False, "2017-06-01", "2024-02-20", "withdrawn"),
    ("2622101000000001", "532622101", "S5", False, "2023-12-01", None, "on_loan"),
    ("2623000000000001", "532623000", "R1", False, "2022-01-01", None, "available"),
]


def _insert(conn: psycopg.Connection, table: str, rows: list[tuple]) -> None:
    if not rows:
        return
    placeholders = ", ".join(["%s"] * len(rows[0]))
    with conn.cursor() as cur:
        cur.executemany(f"insert into {table} values ({placeholders})", rows)


def _batch(batch_id, source, feed, county, file_name, loaded_at, rows, quarantined=0):
    return (batch_id, source, feed, county, file_name, "0" * 64, None, rows + quarantined, rows, quarantined, None,
            "loaded", None, loaded_at, loaded_at, None)


def _event_rows(events):
    return [
        (eid, county, lib, etype, f"{at}+08", item, reader, home, due, channel,
         batch, SOURCE[batch], FILE[batch], line, LOADED[batch])
        for eid, batch, line, county, lib, etype, at, item, reader, home, due, channel in events
    ]


def load_first_two_days(conn: psycopg.Connection) -> None:
    reg = ("batch-registry", "registry", "registry/libraries.csv", REGISTRY)
    _insert(conn, "raw.libraries", [
        (code, name, None, level, parent, division, pop, vf, vt, area, seats, kids, pcs, hours, staff, 30, "registry",
         reg[0], reg[1], reg[2], i, reg[3])
        for i, (code, name, level, parent, division, pop, vf, vt, area, seats, kids, pcs, hours, staff)
        in enumerate(LIBRARIES, start=1)
    ])
    _insert(conn, "raw.barcode_ranges", [
        (kind, int(first), int(last), code, "batch-ranges", "registry", "registry/barcode_ranges.csv", i, REGISTRY)
        for i, (kind, (first, last, code)) in enumerate(
            [("item", r) for r in ITEM_RANGES] + [("reader", r) for r in READER_RANGES], start=1)
    ])
    counts: dict[str, int] = {}
    for event in EVENTS:
        counts[event[1]] = counts.get(event[1], 0) + 1
    _insert(conn, "raw.ingest_batches", [
        _batch(b, SOURCE[b], "circulation", "532622" if b.startswith("batch-a") else "532623", FILE[b], LOADED[b],
               n, quarantined=1 if b == A1 else 0)
        for b, n in counts.items()
    ])
    _insert(conn, "raw.circulation_events", _event_rows(EVENTS))
    _insert(conn, "quarantine.rejected_rows", [
        (A1, "c532622", "circulation", FILE[A1], 4, "item_barcode_out_of_range",
         "item barcode 9999000000000001 is outside every registered item range", None, LOADED[A1]),
    ])
    _insert(conn, "raw.visitor_counts", [
        (lib[:6], lib, gate, f"{hour}+08", 60, entries, entries - 1, "batch-gates", f"c{lib[:6]}",
         f"c{lib[:6]}/visits/gate_{hour[:10].replace('-', '')}.csv", i, LOADED[A1])
        for i, (lib, gate, hour, entries) in enumerate(VISITS, start=1)
    ])
    _insert(conn, "raw.holdings_items", [
        (item[:4] == "2622" and "532622" or "532623", item, owner, owner, f"bib{i}", None, f"title {i}", clc, kids,
         acquired, withdrawn, status, "batch-holdings", "c532622", "c532622/holdings/holdings_20240331.mrc", i,
         "2024-03-31 23:00+08")
        for i, (item, owner, clc, kids, acquired, withdrawn, status) in enumerate(HOLDINGS, start=1)
    ])
    _insert(conn, "raw.monthly_reports", [
        ("532622", "532622101", "month", "2024-02-01", 300, 80, 40, 120, 1600, 20, 25, 1, 30, 140.0, None,
         "batch-form-1", "c532622", "c532622/monthly_report/report_202402.xlsx", 1, "2024-03-05 09:00+08"),
        # a corrected form for the same month, delivered later: it replaces the first
        ("532622", "532622101", "month", "2024-02-01", 310, 80, 40, 120, 1600, 20, 25, 1, 30, 140.0, None,
         "batch-form-2", "c532622", "c532622/monthly_report/report_202402.xlsx", 1, "2024-03-06 09:00+08"),
    ])
    _insert(conn, "raw.activities", [
        ("532622", "act-1", "532622000", "2024-03-09", "lecture", "春季读书讲座", 45, "532622001;532622002",
         "batch-act", "c532622", "c532622/activities/activities_202403.csv", 1, LOADED[A1]),
    ])
    _insert(conn, "raw.rotations", [
        ("532622", "rot-1", "532622000", "532622001", "2024-01-05", 500,
         "batch-rot", "c532622", "c532622/rotations/rotations_202401.csv", 1, LOADED[A1]),
    ])


def add_day_three(conn: psycopg.Connection) -> None:
    _insert(conn, "raw.ingest_batches", [_batch(A3, SOURCE[A3], "circulation", "532622", FILE[A3], LOADED[A3], 3)])
    _insert(conn, "raw.circulation_events", _event_rows(DAY_THREE_EVENTS))


RAW_TABLES = (
    "raw.libraries", "raw.barcode_ranges", "raw.ingest_batches", "raw.circulation_events", "raw.visitor_counts",
    "raw.holdings_items", "raw.monthly_reports", "raw.activities", "raw.rotations", "quarantine.rejected_rows",
)
