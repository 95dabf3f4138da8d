-- pg_stat_statements counters, extension 1.8 (PostgreSQL 13): no `toplevel` yet, read time
-- in blk_read_time. $1: characters of query text to keep per entry, cut on the server (a
-- text can hold megabytes); 0 asks for no text at all (showtext false), when the caller
-- needs none or pg_stat_statements.max is too large to hold every entry's text. Texts in
-- this same pass spare a second call of the function, which costs as much as the first
-- (it materializes every entry before any `where`). {schema} is the
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
       wal_records,
       null::float8 as stats_since_epoch,
       -- A text of at most $1 bytes has at most $1 characters and goes as is: left() would
       -- walk every character of every entry (2 of the call's ~24 ms over 4,800 entries).
       case when octet_length(query) <= $1::int4 then query
            else left(query, $1::int4) end as query
from {schema}.pg_stat_statements($1::int4 > 0)
