-- Checkpoint counters, PostgreSQL 17: moved from pg_stat_bgwriter to
-- pg_stat_checkpointer, with new names. num_timed also counts timed checkpoints skipped on
-- an idle server, and nothing counts the ones performed (a column 18 added). Buffer
-- writes by kind are read from pg_stat_io instead.
select num_timed as timed,
       num_requested as requested,
       null::int8 as done,
       null::int8 as buffers_checkpoint,
       null::int8 as buffers_clean,
       null::int8 as buffers_backend,
       null::int8 as buffers_backend_fsync,
       extract(epoch from stats_reset)::float8 as stats_reset_epoch
from pg_stat_checkpointer
