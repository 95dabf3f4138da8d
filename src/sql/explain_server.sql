-- shared_buffers in bytes (pg_settings counts it in blocks of block_size) and the server
-- version, for judging the sequential scans of an EXPLAIN plan.
select (select setting::int8 from pg_settings where name = 'shared_buffers')
         * current_setting('block_size')::int8 as shared_buffers_bytes,
       current_setting('server_version_num')::int4 as version_num
