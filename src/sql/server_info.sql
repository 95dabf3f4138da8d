-- Server identity, clocks and the role's privileges, in one row.
-- extract() returns numeric since PostgreSQL 14: cast so every version answers float8.
-- pg_control_system() is not called here: its EXECUTE check happens when the plan starts,
-- even inside a CASE branch never taken, so it gets its own query (system_identifier.sql),
-- run only when may_read_control says so.
-- statement_timestamp(), not now(): check --interval takes both samples in one transaction,
-- where now() would stand still.
select current_setting('server_version_num')::int4 as version_num,
       current_setting('server_version') as version,
       extract(epoch from statement_timestamp())::float8 as now_epoch,
       extract(epoch from pg_postmaster_start_time())::float8 as start_epoch,
       current_database()::text as database,
       current_user::text as "user",
       coalesce((select r.rolsuper from pg_roles r where r.rolname = current_user), false)
           as superuser,
       pg_has_role(current_user, 'pg_monitor', 'USAGE') as pg_monitor,
       has_function_privilege('pg_control_system()', 'EXECUTE') as may_read_control
