-- Query texts of the entries a report shows when the counters pass read none (see
-- statement_texts_18.sql; extension 1.9 on: top-level entries only),
-- shortened on the server. $1: characters to keep; $2: queryids.
select userid,
       dbid,
       queryid,
       -- A text of at most $1 bytes has at most $1 characters and goes as is: left() would
       -- walk every character of every entry (2 of the call's ~24 ms over 4,800 entries).
       case when octet_length(query) <= $1::int4 then query
            else left(query, $1::int4) end as query
from {schema}.pg_stat_statements(true)
where queryid = any($2::int8[])
  and toplevel
