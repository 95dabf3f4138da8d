-- Checkpoint counters, PostgreSQL 17 on: moved from pg_stat_bgwriter to
-- pg_stat_checkpointer, with new names. num_timed also counts timed checkpoints skipped on
-- an idle server; 18 added num_done, the checkpoints performed, read through to_jsonb so
-- that one query serves both (NULL on 17). Buffer writes by kind come from pg_stat_io.
select c.num_timed as timed,
       c.num_requested as requested,
       (to_jsonb(c) ->> 'num_done')::int8 as done,
       null::int8 as buffers_checkpoint,
       null::int8 as buffers_clean,
       null::int8 as buffers_backend,
       null::int8 as buffers_backend_fsync,
       extract(epoch from c.stats_reset)::float8 as stats_reset_epoch
from pg_stat_checkpointer c
