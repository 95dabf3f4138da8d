-- pg_stat_statements counters, extension 1.11 on (PostgreSQL 17 on): blk_read_time became
-- shared_blk_read_time, and stats_since says when each entry started counting. Top-level
-- statements only; query texts as in statements_18.sql.
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
       shared_blk_read_time as read_time,
       wal_records,
       extract(epoch from stats_since)::float8 as stats_since_epoch,
       -- A text of at most $1 bytes has at most $1 characters and goes as is: left() would
       -- walk every character of every entry (2 of the call's ~24 ms over 4,800 entries).
       case when octet_length(query) <= $1::int4 then query
            else left(query, $1::int4) end as query
from {schema}.pg_stat_statements($1::int4 > 0)
where toplevel
