-- The cluster's identity: tells snapshots of different clusters apart.
-- Run only when has_function_privilege('pg_control_system()', 'EXECUTE') is true.
select system_identifier::text as system_identifier
from pg_control_system()
