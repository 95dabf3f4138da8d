-- Server identity, clocks and the role's privileges, in one row.
-- extract() returns numeric since PostgreSQL 14: cast so every version answers float8.
-- pg_control_system() is not called here: its EXECUTE check happens when the plan starts,
-- even inside a CASE branch never taken, so it gets its own query (system_identifier.sql),
-- run only when control_privilege.sql says so, and only by the commands that compare
-- clusters. Superuser comes from the is_superuser setting (the current role's, kept by the
-- server through SET ROLE): the pg_roles view and the privilege check cost a fresh session
-- nearly 2 ms of CPU, more than the rest of this row.
-- statement_timestamp(), not now(): check --interval takes both samples in one transaction,
-- where now() would stand still.
select current_setting('server_version_num')::int4 as version_num,
       current_setting('server_version') as version,
       extract(epoch from statement_timestamp())::float8 as now_epoch,
       extract(epoch from pg_postmaster_start_time())::float8 as start_epoch,
       current_database()::text as database,
       current_user::text as "user",
       current_setting('is_superuser')::bool as superuser,
       pg_has_role(current_user, 'pg_monitor', 'USAGE') as pg_monitor
