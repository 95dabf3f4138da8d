-- Materialized views of the connected database with the counters pg_stat_user_tables and
-- pg_statio_user_tables show for them, computed as those views do but only for relkind 'm':
-- going through the views would evaluate every table's counters first (20,000 tables make
-- that the slow part). Size over all forks, TOAST and indexes, since a refresh rewrites it.
select c.oid as relid,
       n.nspname as schema,
       c.relname as name,
       pg_total_relation_size(c.oid)::int8 as size_bytes,
       c.relispopulated as populated,
       pg_stat_get_blocks_hit(c.oid)::int8 as heap_blks_hit,
       (pg_stat_get_blocks_fetched(c.oid) - pg_stat_get_blocks_hit(c.oid))::int8 as heap_blks_read,
       i.idx_blks_hit,
       i.idx_blks_read,
       pg_stat_get_numscans(c.oid)::int8 as seq_scan,
       i.idx_scan
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join lateral (
    select sum(pg_stat_get_blocks_hit(x.indexrelid))::int8 as idx_blks_hit,
           sum(pg_stat_get_blocks_fetched(x.indexrelid)
               - pg_stat_get_blocks_hit(x.indexrelid))::int8 as idx_blks_read,
           sum(pg_stat_get_numscans(x.indexrelid))::int8 as idx_scan
    from pg_index x
    where x.indrelid = c.oid
) i on true
where c.relkind = 'm'
order by n.nspname, c.relname
