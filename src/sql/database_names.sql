-- Every database's OID and name: what `queries` needs to name the database of each
-- pg_stat_statements entry. pg_database alone, without pg_stat_database's counters (which
-- cost a fresh session more: about 2 ms of a `queries` run's server CPU).
select oid as datid,
       datname::text as name
from pg_database
