-- Evictions and the last reset of pg_stat_statements (extension 1.9 on, one row).
select dealloc,
       extract(epoch from stats_reset)::float8 as stats_reset_epoch
from {schema}.pg_stat_statements_info
