-- Shared-buffer traffic of every process, PostgreSQL 16 on (pg_stat_io did not exist
-- before): relation blocks in the normal context, i.e. through shared_buffers rather than
-- a ring buffer (bulk reads, vacuum) or local buffers (temporary tables). Columns a backend
-- type cannot have are NULL, hence the coalesce; sum(bigint) is numeric, hence the casts.
-- writes covers every process (checkpointer, background writer, autovacuum, …), the
-- denominator of the client backends' share; client backends fsync only when the
-- checkpointer's request queue is full.
select coalesce(sum(reads), 0)::int8 as reads,
       coalesce(sum(hits), 0)::int8 as hits,
       coalesce(sum(evictions), 0)::int8 as evictions,
       coalesce(sum(writes) filter (where backend_type = 'client backend'), 0)::int8
           as backend_writes,
       coalesce(sum(writes), 0)::int8 as writes,
       coalesce(sum(fsyncs) filter (where backend_type = 'client backend'), 0)::int8
           as backend_fsyncs,
       extract(epoch from max(stats_reset))::float8 as stats_reset_epoch
from pg_stat_io
where object = 'relation'
  and context = 'normal'
