-- Block counters of the connected database's user tables. No sizes: pg_table_size stats
-- every file of every table, which is most of the cost on 20,000 tables; sizes are read
-- later for the few rows a report keeps (table_sizes.sql).
-- The idx_* columns are NULL for a table without indexes, toast_* and tidx_* for a table
-- without a TOAST table. The scan counters come from pg_stat_user_tables (same relations;
-- NULL only for a table dropped between the two views' reads; idx_scan NULL without indexes).
select relid,
       schemaname::text as schema,
       relname::text as name,
       heap_blks_hit,
       heap_blks_read,
       idx_blks_hit,
       idx_blks_read,
       toast_blks_hit,
       toast_blks_read,
       tidx_blks_hit,
       tidx_blks_read,
       seq_scan,
       seq_tup_read,
       idx_scan
from pg_statio_user_tables
left join pg_stat_user_tables using (relid, schemaname, relname)
