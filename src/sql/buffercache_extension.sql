-- pg_buffercache in the connected database: its schema (quoted by the server, for the
-- queries that name its view and functions), installed version, whether this role may read
-- it (the extension grants to pg_monitor), the block size and shared_buffers in buffers.
-- No row when the extension is not created here.
select quote_ident(n.nspname) as schema,
       e.extversion as version,
       has_function_privilege(format('%I.pg_buffercache_pages()', n.nspname), 'execute')
           and has_table_privilege(format('%I.pg_buffercache', n.nspname), 'select') as may_read,
       current_setting('block_size')::int8 as block_size,
       (select setting::int8 from pg_settings where name = 'shared_buffers') as buffers_total
from pg_extension e
join pg_namespace n on n.oid = e.extnamespace
where e.extname = 'pg_buffercache'
