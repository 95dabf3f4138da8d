-- Block counters of the connected database's user indexes, without sizes (see tables.sql).
select indexrelid,
       schemaname::text as schema,
       relname::text as "table",
       indexrelname::text as name,
       idx_blks_hit,
       idx_blks_read
from pg_statio_user_indexes
