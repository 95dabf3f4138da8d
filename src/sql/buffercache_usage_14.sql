-- Extension 1.4 (PostgreSQL 16) on: buffers per usage count (unused buffers count as 0).
select usage_count::int4 as usage_count,
       buffers::int8 as buffers,
       dirty::int8 as dirty,
       pinned::int8 as pinned,
       null::int8 as used
from @extschema@.pg_buffercache_usage_counts()
order by usage_count
