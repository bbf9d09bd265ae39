"""A small client for Superset's REST API (login, chart data), for tests, benchmarks and smoke checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import requests


class SupersetApiError(RuntimeError):
    pass


@dataclass
class SupersetClient:
    url: str
    username: str
    password: str
    timeout: float = 60.0
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def login(self) -> SupersetClient:
        resp = self.session.post(
            f"{self.url}/api/v1/security/login",
            json={"username": self.username, "password": self.password, "provider": "db", "refresh": False},
            timeout=self.timeout,
        )
        if resp.status_code != 200:
            raise SupersetApiError(f"login as {self.username} failed: HTTP {resp.status_code} {resp.text[:300]}")
        self.session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        return self

    def get(self, path: str, **params) -> dict:
        resp = self.session.get(f"{self.url}{path}", params=params, timeout=self.timeout)
        if resp.status_code != 200:
            raise SupersetApiError(f"GET {path}: HTTP {resp.status_code} {resp.text[:500]}")
        return resp.json()

    def chart_data(self, dataset_id: int, columns: list[str], metrics: list, filters: list[dict] | None = None,
                   row_limit: int = 10000, orderby: list | None = None) -> list[dict]:
        """Rows of one query through /api/v1/chart/data (row-level security and permissions apply, no cache)."""
        body = {
            "datasource": {"id": dataset_id, "type": "table"},
            "force": True,
            "queries": [{
                "columns": columns, "metrics": metrics, "filters": filters or [], "row_limit": row_limit,
                "orderby": orderby or [], "extras": {"having": "", "where": ""},
            }],
            "result_format": "json",
            "result_type": "full",
        }
        resp = self.session.post(f"{self.url}/api/v1/chart/data", json=body, timeout=self.timeout)
        if resp.status_code != 200:
            raise SupersetApiError(f"chart data on dataset {dataset_id}: HTTP {resp.status_code} {resp.text[:500]}")
        return resp.json()["result"][0]["data"]
