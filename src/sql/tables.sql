-- Block and scan counters of the connected database's user tables, the columns of
-- pg_statio_user_tables and pg_stat_user_tables' seq_scan, seq_tup_read and idx_scan. No
-- sizes: pg_table_size stats every file of every table, which is most of the cost on 20,000
-- tables; sizes are read later for the few rows a report keeps (table_sizes.sql).
-- Computed from pg_class as those views do, not through them: joining the two views made the
-- server evaluate every column of pg_stat_user_tables (some twenty counter functions per
-- table) and look up each table's indexes and its TOAST table's indexes one index scan at a
-- time. Here every counter function runs once per relation, and the index counters are
-- summed in one pass over pg_index (one hash aggregate, joined twice: the table's indexes and
-- its TOAST table's). Same rows as the views: relkind r, t, m outside pg_catalog,
-- information_schema and pg_toast*; idx_* and idx_scan NULL for a table without indexes,
-- toast_* and tidx_* NULL for a table without a TOAST table.
with ix as materialized (
    select x.indrelid,
           sum(pg_stat_get_blocks_hit(x.indexrelid))::int8 as hit,
           sum(pg_stat_get_blocks_fetched(x.indexrelid))::int8 as fetched,
           sum(pg_stat_get_numscans(x.indexrelid))::int8 as scans
    from pg_index x
    group by x.indrelid
)
select c.oid as relid,
       n.nspname::text as schema,
       c.relname::text as name,
       s.hit as heap_blks_hit,
       s.fetched - s.hit as heap_blks_read,
       i.hit as idx_blks_hit,
       i.fetched - i.hit as idx_blks_read,
       s.toast_hit as toast_blks_hit,
       s.toast_fetched - s.toast_hit as toast_blks_read,
       ti.hit as tidx_blks_hit,
       ti.fetched - ti.hit as tidx_blks_read,
       s.seq_scan,
       s.seq_tup_read,
       i.scans as idx_scan
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
-- offset 0 keeps the planner from inlining these into each expression that uses them.
cross join lateral (
    select pg_stat_get_blocks_hit(c.oid) as hit,
           pg_stat_get_blocks_fetched(c.oid) as fetched,
           pg_stat_get_blocks_hit(nullif(c.reltoastrelid, 0)) as toast_hit,
           pg_stat_get_blocks_fetched(nullif(c.reltoastrelid, 0)) as toast_fetched,
           pg_stat_get_numscans(c.oid) as seq_scan,
           pg_stat_get_tuples_returned(c.oid) as seq_tup_read
    offset 0
) s
left join ix i on i.indrelid = c.oid
left join ix ti on ti.indrelid = nullif(c.reltoastrelid, 0)
where c.relkind in ('r', 't', 'm')
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname !~ '^pg_toast'
