-- Checkpoint counters, PostgreSQL 18 on: pg_stat_checkpointer as in 17, plus num_done,
-- the checkpoints actually performed (num_timed includes skipped idle ones).
select num_timed as timed,
       num_requested as requested,
       num_done as done,
       null::int8 as buffers_checkpoint,
       null::int8 as buffers_clean,
       null::int8 as buffers_backend,
       null::int8 as buffers_backend_fsync,
       extract(epoch from stats_reset)::float8 as stats_reset_epoch
from pg_stat_checkpointer
