-- Two PostgreSQL roles for Rectiflow: the owner runs the migrations and owns every table and the audit log's
-- triggers; the application (web workers, scheduler) may only read and write rows, so it cannot drop or disable the
-- triggers that keep `events` append-only, nor TRUNCATE a table.
-- Run once as a superuser:  psql -v ON_ERROR_STOP=1 -d postgres -f scripts/postgres-roles.sql
-- (change the names and passwords first; tests/integration/test_audit_roles.py runs this file as it is written).

CREATE ROLE rectiflow_owner LOGIN PASSWORD 'change-me-owner';
CREATE ROLE rectiflow_app LOGIN PASSWORD 'change-me-app';
CREATE DATABASE rectiflow OWNER rectiflow_owner;

\connect rectiflow

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO rectiflow_app;
-- Every table and sequence the owner's migrations create: rows only, for the application.
ALTER DEFAULT PRIVILEGES FOR ROLE rectiflow_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO rectiflow_app;
ALTER DEFAULT PRIVILEGES FOR ROLE rectiflow_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO rectiflow_app;
-- Tables that exist already (a database created before these roles; ALTER ... OWNER TO rectiflow_owner first):
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO rectiflow_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO rectiflow_app;
