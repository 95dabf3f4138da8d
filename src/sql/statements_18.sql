-- pg_stat_statements counters, extension 1.8 (PostgreSQL 13): no `toplevel` yet, read time
-- in blk_read_time. Without query text (showtext false): the texts live in a file that can
-- hold megabytes per statement, and only the rows shown need them. {schema} is the
-- extension's schema, quoted by the caller. queryid is NULL for other roles' entries when
-- this role lacks pg_read_all_stats.
select userid,
       dbid,
       queryid,
       null::bool as toplevel,
       calls,
       total_exec_time,
       total_plan_time,
       rows,
       shared_blks_hit,
       shared_blks_read,
       shared_blks_dirtied,
       shared_blks_written,
       temp_blks_read,
       temp_blks_written,
       blk_read_time as read_time,
       wal_bytes::float8 as wal_bytes,
       null::float8 as stats_since_epoch
from {schema}.pg_stat_statements(false)
