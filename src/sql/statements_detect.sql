-- pg_stat_statements as the connected database sees it (one row): the installed version and
-- its schema (NULL when the extension is not created here), whether the library is loaded
-- (its settings exist only then; readable by any role, unlike shared_preload_libraries), how
-- many entries it keeps (which bounds the memory of reading every entry's text),
-- track_io_timing, and the server's version (which tells what contrib ships: see
-- statements_available.sql).
select e.extversion as installed_version,
       n.nspname::text as schema,
       current_setting('pg_stat_statements.max', true) is not null as preloaded,
       case when current_setting('pg_stat_statements.max', true) ~ '^[0-9]{1,9}$'
            then current_setting('pg_stat_statements.max', true)::int4 end as max_entries,
       current_setting('track_io_timing')::bool as track_io_timing,
       current_setting('server_version_num')::int4 as version_num
from (select) as one
left join pg_extension e on e.extname = 'pg_stat_statements'
left join pg_namespace n on n.oid = e.extnamespace
