"""Superset configuration for Shuyun. Loaded by Superset through SUPERSET_CONFIG_PATH, which
`dashboards.service.start()` sets; every secret and address arrives in the environment from there
(never committed): SUPERSET_SECRET_KEY, SHUYUN_SUPERSET_METADATA_URL, SUPERSET_HOME.
"""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]

# Metadata (dashboards, users, RLS) in PostgreSQL: on SQLite a unique constraint on dataset table
# names breaks re-imports of the bundle.
SQLALCHEMY_DATABASE_URI = os.environ["SHUYUN_SUPERSET_METADATA_URL"]
SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

# No caching of chart data or metadata: every chart request runs its query on the marts, so numbers
# are as fresh as the last dbt run and the dashboard benchmark measures the warehouse, not a cache.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
CACHE_DEFAULT_TIMEOUT = 0

# Local, plain-HTTP deployment behind the project's own start/stop; no CSP nonce injection.
TALISMAN_ENABLED = False
RATELIMIT_ENABLED = False
WTF_CSRF_ENABLED = True
SESSION_COOKIE_SAMESITE = "Lax"

# Chinese first: the users are Chinese library staff; English stays selectable.
BABEL_DEFAULT_LOCALE = "zh"
LANGUAGES = {
    "zh": {"flag": "cn", "name": "简体中文"},
    "en": {"flag": "us", "name": "English"},
}

# Security REST API (roles, users) for the publisher and the tests.
FAB_ADD_SECURITY_API = True

FEATURE_FLAGS = {
    "DASHBOARD_RBAC": True,
    "ENABLE_TEMPLATE_PROCESSING": False,
    "ALERT_REPORTS": False,
    # render every chart of a dashboard at once (headless screenshots, benchmarks), not only those in view
    "DASHBOARD_VIRTUALIZATION": False,
}

# Row limits that suit a province-wide mart on 2 cores.
ROW_LIMIT = 50000
SQL_MAX_ROW = 100000
SUPERSET_WEBSERVER_TIMEOUT = 120

# The network is closed: no map tiles or external avatars.
MAPBOX_API_KEY = ""
