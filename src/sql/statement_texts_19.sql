-- Query texts of the entries a report shows when the counters pass read none (see
-- statement_texts_18.sql; extension 1.9 on: top-level entries only),
-- shortened on the server. $1: characters to keep; $2: queryids.
select userid,
       dbid,
       queryid,
       left(query, $1::int4) as query
from {schema}.pg_stat_statements(true)
where queryid = any($2::int8[])
  and toplevel
