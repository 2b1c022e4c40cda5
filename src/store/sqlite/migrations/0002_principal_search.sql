-- davit schema, version 2: principal search (RFC 3744 §9.4) and principal visibility.
-- Both ask "who belongs to this organization" (members, rooms, teams) and "which
-- organization does this user belong to"; these indexes answer without a table scan.
-- IF NOT EXISTS: the organizations work may create the same indexes.
CREATE INDEX IF NOT EXISTS principals_by_org ON principals(org_id) WHERE org_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memberships_by_user ON memberships(user_id, org_id);
