-- Query texts of the entries a report shows, when the counters pass read none (more than
-- 10,000 entries allowed: see collect/statements.rs), shortened on the server so a
-- megabyte-long generated statement never crosses the wire whole. $1: characters to keep;
-- $2: queryids.
-- Extension 1.8 has no toplevel column.
select userid,
       dbid,
       queryid,
       -- A text of at most $1 bytes has at most $1 characters and goes as is: left() would
       -- walk every character of every entry (2 of the call's ~24 ms over 4,800 entries).
       case when octet_length(query) <= $1::int4 then query
            else left(query, $1::int4) end as query
from {schema}.pg_stat_statements(true)
where queryid = any($2::int8[])
