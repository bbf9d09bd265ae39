"""Runs INSIDE Superset's environment (`.venv-superset/bin/python`), never imported by the main one.

`dashboards.publish` sends a JSON spec on stdin: the import bundle, the roles with their row-level security
clause, and the demo users. This script, in one Superset app context:
  1. imports the bundle kind by kind with overwrite (same UUIDs → same rows, updated in place),
  2. makes the roles hold exactly `datasource_access` on the bundle's datasets,
  3. makes one Regular RLS filter per county-director role, on every dataset of the bundle, and removes the
     county-director roles (and their filters) of counties the spec no longer has,
  4. creates or updates the demo users (roles + password),
and prints one JSON line with the ids of what it touched.
"""

from __future__ import annotations

import json
import sys
import zipfile


def main() -> None:
    spec = json.load(sys.stdin)

    from superset.app import create_app

    app = create_app()
    with app.app_context():
        result = apply(spec)
    print(json.dumps(result, ensure_ascii=False))


def apply(spec: dict) -> dict:
    from flask import g
    from superset import db
    from superset import security_manager as sm
    from superset.commands.chart.importers.v1 import ImportChartsCommand
    from superset.commands.dashboard.importers.v1 import ImportDashboardsCommand
    from superset.commands.database.importers.v1 import ImportDatabasesCommand
    from superset.commands.dataset.importers.v1 import ImportDatasetsCommand
    from superset.commands.importers.v1.utils import get_contents_from_bundle
    from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable
    from superset.models.dashboard import Dashboard
    from superset.models.slice import Slice
    from superset.utils.core import RowLevelSecurityFilterType

    admin = sm.find_user(username=spec["owner"])
    g.user = admin
    with zipfile.ZipFile(spec["bundle"]) as bundle:
        contents = get_contents_from_bundle(bundle)
    # The dashboard importer imports the databases, datasets and charts a dashboard uses with overwrite=False,
    # so a changed URI, dataset SQL or chart would be ignored. Import each kind itself, with overwrite, first.
    # (The bundle says type: Dashboard; the per-kind commands check that type only when it is present.)
    untyped = {**contents, "metadata.yaml": "version: 1.0.0\n"}
    for command in (ImportDatabasesCommand, ImportDatasetsCommand, ImportChartsCommand):
        command(untyped, overwrite=True).run()
    ImportDashboardsCommand(contents, overwrite=True).run()

    datasets = db.session.query(SqlaTable).filter(SqlaTable.uuid.in_(spec["dataset_uuids"])).all()
    if len(datasets) != len(spec["dataset_uuids"]):
        raise SystemExit(f"imported {len(datasets)} of {len(spec['dataset_uuids'])} datasets")
    permissions = []
    for table in datasets:
        pv = sm.find_permission_view_menu("datasource_access", table.perm) or sm.add_permission_view_menu(
            "datasource_access", table.perm
        )
        permissions.append(pv)

    roles = {}
    for name, role_spec in spec["roles"].items():
        role = sm.find_role(name) or sm.add_role(name)
        role.permissions = list(permissions)
        roles[name] = role
        rls_name = f"rls_{name}"
        rls = db.session.query(RowLevelSecurityFilter).filter_by(name=rls_name).one_or_none()
        clause = role_spec.get("rls_clause")
        if clause:
            if rls is None:
                rls = RowLevelSecurityFilter(name=rls_name)
                db.session.add(rls)
            rls.description = role_spec.get("description")
            rls.filter_type = RowLevelSecurityFilterType.REGULAR.value
            rls.group_key = "county_code"
            rls.clause = clause
            rls.tables = list(datasets)
            rls.roles = [role]
        elif rls is not None:
            db.session.delete(rls)
    # a county director's role whose county is not in the spec (gone from the registry, or a benchmark's province
    # published and then the demo again): its RLS filter and the role go, its demo user is deactivated
    stale = [role for role in db.session.query(sm.role_model).filter(sm.role_model.name.like("county_director_%"))
             if role.name not in roles]
    for role in stale:
        rls = db.session.query(RowLevelSecurityFilter).filter_by(name=f"rls_{role.name}").one_or_none()
        if rls is not None:
            db.session.delete(rls)
        for user in db.session.query(sm.user_model).filter(sm.user_model.roles.contains(role)):
            user.roles = [r for r in user.roles if r.id != role.id]
            if user.username == "director_" + role.name.removeprefix("county_director_"):
                user.active = False
        db.session.delete(role)
    db.session.commit()

    gamma = sm.find_role("Gamma")
    users = {}
    for user_spec in spec["users"]:
        user_roles = [gamma, *(roles[r] for r in user_spec["roles"])]
        user = sm.find_user(username=user_spec["username"])
        if user is None:
            user = sm.add_user(
                user_spec["username"], user_spec["first_name"], user_spec["last_name"], user_spec["email"],
                user_roles, password=user_spec["password"],
            )
            if not user:
                raise SystemExit(f"could not create user {user_spec['username']}")
        else:
            user.roles = user_roles
            user.active = True
            sm.reset_password(user.id, user_spec["password"])
        users[user_spec["username"]] = user.id
    db.session.commit()

    dashboards = db.session.query(Dashboard).filter(Dashboard.uuid.in_(spec["dashboard_uuids"])).all()
    charts = db.session.query(Slice).filter(Slice.uuid.in_(spec["chart_uuids"])).all()
    return {
        "datasets": {str(t.uuid): t.id for t in datasets},
        "dashboards": {str(d.uuid): {"id": d.id, "slug": d.slug, "title": d.dashboard_title} for d in dashboards},
        "charts": {str(c.uuid): c.id for c in charts},
        "roles": sorted(roles),
        "stale_roles_removed": sorted(role.name for role in stale),
        "users": users,
        "rls_filters": db.session.query(RowLevelSecurityFilter).count(),
    }


if __name__ == "__main__":
    main()
