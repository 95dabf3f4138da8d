-- One row per database; the shared-objects row (datid 0, datname NULL) is left out.
-- $1 (bool): whether to read pg_database_size, which walks every file of the database and
-- so is skipped by the fast `check` path. The size is read only where the server would
-- allow it (CONNECT, or pg_read_all_stats like pg_database_size itself checks), so one
-- forbidden database does not fail the whole query. has_database_privilege() is NULL for a
-- database dropped meanwhile, so that row gets no size either.
-- can_connect also needs datallowconn (template0 grants CONNECT but refuses connections)
-- and a valid database (datconnlimit -2 marks one left behind by an interrupted DROP
-- DATABASE, since 15.4 and the matching minor releases); accepts_connections is that part
-- alone, to tell "nobody may connect" from "this role may not".
select s.datid,
       s.datname::text as name,
       s.blks_hit,
       s.blks_read,
       s.blk_read_time,
       s.temp_files,
       s.temp_bytes,
       extract(epoch from s.stats_reset)::float8 as stats_reset_epoch,
       coalesce(has_database_privilege(d.oid, 'CONNECT')
                and d.datallowconn
                and d.datconnlimit <> -2, false) as can_connect,
       d.datallowconn and d.datconnlimit <> -2 as accepts_connections,
       case when $1::bool
                 and (has_database_privilege(d.oid, 'CONNECT')
                      or pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'))
            then pg_database_size(d.oid)
       end as size_bytes
from pg_stat_database s
join pg_database d on d.oid = s.datid
where s.datid <> 0
order by s.datname
