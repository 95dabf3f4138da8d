-- pg_stat_statements counters, extension 1.9 and 1.10 (PostgreSQL 14 to 16): top-level
-- statements only (a top-level entry already includes its nested statements, so summing
-- both would count them twice), read time still in blk_read_time. Query texts as in
-- statements_18.sql.
select userid,
       dbid,
       queryid,
       toplevel,
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
where toplevel
