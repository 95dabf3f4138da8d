-- Rows inserted, updated and deleted since the statistics reset, for the tables a cache
-- candidate reads (by name, $1::text[]; the schema is matched by the caller), and the live
-- rows they hold. Materialized views are in pg_stat_user_tables too.
select schemaname::text as schema,
       relname::text as name,
       n_tup_ins + n_tup_upd + n_tup_del as changes,
       n_live_tup as live_rows
from pg_stat_user_tables
where relname = any($1::text[])
