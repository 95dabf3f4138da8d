-- Before extension 1.4: the same distribution aggregated over the per-buffer view (one row
-- per buffer, so it is guarded like the relation scan), with the used buffers per count.
select coalesce(usagecount, 0)::int4 as usage_count,
       count(*)::int8 as buffers,
       count(*) filter (where isdirty)::int8 as dirty,
       count(*) filter (where pinning_backends > 0)::int8 as pinned,
       count(*) filter (where relfilenode is not null)::int8 as used
from @extschema@.pg_buffercache
group by 1
order by 1
