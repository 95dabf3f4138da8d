-- Materialized views of the connected database: pg_stat_user_tables and
-- pg_statio_user_tables list them with the tables (relkind 'm'); size over all forks, TOAST
-- and indexes, since a refresh rewrites all of it.
select s.relid,
       s.schemaname as schema,
       s.relname as name,
       pg_total_relation_size(s.relid)::int8 as size_bytes,
       c.relispopulated as populated,
       coalesce(io.heap_blks_hit, 0)::int8 as heap_blks_hit,
       coalesce(io.heap_blks_read, 0)::int8 as heap_blks_read,
       io.idx_blks_hit::int8 as idx_blks_hit,
       io.idx_blks_read::int8 as idx_blks_read,
       coalesce(s.seq_scan, 0)::int8 as seq_scan,
       s.idx_scan::int8 as idx_scan
from pg_stat_user_tables s
join pg_class c on c.oid = s.relid
left join pg_statio_user_tables io on io.relid = s.relid
where c.relkind = 'm'
order by s.schemaname, s.relname
