-- Checkpoint counters, PostgreSQL 13 to 16: kept in pg_stat_bgwriter (whose stats_reset
-- also covers them), with who wrote buffers out (these columns left for pg_stat_io in 17).
select checkpoints_timed as timed,
       checkpoints_req as requested,
       null::int8 as done,
       buffers_checkpoint,
       buffers_clean,
       buffers_backend,
       buffers_backend_fsync,
       extract(epoch from stats_reset)::float8 as stats_reset_epoch
from pg_stat_bgwriter
