-- Checkpoint counters, PostgreSQL 13 to 16: kept in pg_stat_bgwriter (whose stats_reset
-- also covers them).
select checkpoints_timed as timed,
       checkpoints_req as requested,
       extract(epoch from stats_reset)::float8 as stats_reset_epoch
from pg_stat_bgwriter
