"""Making the reports: what `shuyun report` and the publish DAG call."""

from __future__ import annotations

from pathlib import Path

from reports import data, render
from reports.periods import Period
from shuyun import settings


def default_out_dir() -> Path:
    return settings.home() / "reports"


def scorecards(out_dir: Path, period: Period | None = None, county_codes: list[str] | None = None,
               pdf: bool = True) -> list[Path]:
    """One scorecard per county (HTML, plus PDF when Chromium is installed) for the period (default: the latest
    complete month). Files: <out>/<period>/scorecard_<county>.html|.pdf."""
    written = []
    with data.connect() as conn:
        period = period or data.latest_period(conn, "month")
        known = {c["county_code"] for c in data.counties(conn, period)}
        wanted = county_codes or sorted(known)
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise data.ReportError(f"no scorecard data for county {', '.join(unknown)} in {period.label} "
                                   f"(counties with data: {', '.join(sorted(known)) or 'none'})")
        folder = out_dir / period.label
        folder.mkdir(parents=True, exist_ok=True)
        for code in wanted:
            html = folder / f"scorecard_{code}.html"
            html.write_text(render.scorecard_html(conn, code, period), encoding="utf-8")
            written.append(html)
            if pdf and render.html_to_pdf(html, html.with_suffix(".pdf")):
                written.append(html.with_suffix(".pdf"))
    return written


def quarterly(out_dir: Path, period: Period | None = None) -> Path:
    """The quarterly statistics report (default: the latest quarter): <out>/<quarter>/quarterly_<quarter>.xlsx."""
    with data.connect() as conn:
        period = period or data.latest_period(conn, "quarter")
        if period.period_type != "quarter":
            raise data.ReportError(f"the quarterly report needs a quarter (YYYYQn), not {period.label}")
        return render.quarterly_xlsx(conn, period, out_dir / period.label / f"quarterly_{period.label}.xlsx")


def export_all(out_dir: Path | None = None, pdf: bool = True) -> list[Path]:
    """Every county's scorecard for the latest month and the latest quarterly report (the publish DAG's task)."""
    out_dir = out_dir or default_out_dir()
    return scorecards(out_dir, pdf=pdf) + [quarterly(out_dir)]
