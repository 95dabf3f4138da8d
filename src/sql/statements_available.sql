-- The pg_stat_statements version contrib would install (no row when contrib is absent).
-- Asked only when the major's own is not known or the extension is not created here: the
-- view reads every extension's control file from disk.
select default_version
from pg_available_extensions
where name = 'pg_stat_statements'
