-- Checkpoint counters, PostgreSQL 17 on: moved from pg_stat_bgwriter to
-- pg_stat_checkpointer, with new names.
select num_timed as timed,
       num_requested as requested,
       extract(epoch from stats_reset)::float8 as stats_reset_epoch
from pg_stat_checkpointer
