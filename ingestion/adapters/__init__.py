"""Adapters: third-party data sets turned into canonical deliveries (registry CSV, statistics forms) and
loaded through the normal path (archive, ledger, rules, quarantine) — never written into raw directly.

- `pls`: IMLS Public Libraries Survey FY2018 systems + outlets → registry and annual statistics reports
- `chicago`: Chicago Public Library visitors by location (months as columns) → registry and monthly reports
"""
