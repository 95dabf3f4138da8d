-- The cluster's identity: tells snapshots of different clusters apart.
-- Run only when control_privilege.sql says the role may.
select system_identifier::text as system_identifier
from pg_control_system()
