-- Least-privilege grants, applied by `shuyun warehouse up` after ingestion/sql/raw.sql.
-- {database} is filled in by shuyun/warehouse.py. Idempotent.

-- Schemas dbt and GX write into belong to the transformer; raw and quarantine to the owner.
create schema if not exists staging authorization shuyun_transformer;
create schema if not exists intermediate authorization shuyun_transformer;
create schema if not exists marts authorization shuyun_transformer;
create schema if not exists quality authorization shuyun_transformer;

revoke all on database {database} from public;
revoke create on schema public from public;
grant connect, temporary on database {database} to shuyun_loader, shuyun_transformer, shuyun_reader;
-- dbt builds dev/CI copies into schemas of their own (generate_schema_name), so it may create schemas.
grant create on database {database} to shuyun_transformer;

-- loader: writes raw and quarantine (delete too: a corrected re-delivery replaces its batch).
grant usage on schema raw, quarantine to shuyun_loader;
grant select, insert, update, delete on all tables in schema raw, quarantine to shuyun_loader;
alter default privileges in schema raw, quarantine grant select, insert, update, delete on tables to shuyun_loader;

-- transformer: reads raw and quarantine, owns the rest.
grant usage on schema raw, quarantine to shuyun_transformer;
grant select on all tables in schema raw, quarantine to shuyun_transformer;
alter default privileges in schema raw, quarantine grant select on tables to shuyun_transformer;

-- reader (Superset): marts only, read only -- including tables dbt creates later.
grant usage on schema marts to shuyun_reader;
grant select on all tables in schema marts to shuyun_reader;
alter default privileges for role shuyun_transformer in schema marts grant select on tables to shuyun_reader;
revoke all on schema raw, quarantine, staging, intermediate, quality from shuyun_reader;
