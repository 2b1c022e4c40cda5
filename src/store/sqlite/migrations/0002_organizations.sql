-- davit schema, version 2: teams, rooms, shares, grants and the sharee's own view of a share.
-- Teams and rooms are principals (kind 'team' / 'room') with org_id set; they own the
-- organization's collections (team calendars, meeting-room calendars, shared address books).

CREATE TABLE team_members (
    team_id  INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
) WITHOUT ROWID;
CREATE INDEX team_members_by_user ON team_members(user_id);

-- A collection shared with a user, a team, a whole organization (never its external members)
-- or an e-mail address without an account yet (a pending invitation, turned into a user share
-- when that address gets an account). access: view < modify < share.
CREATE TABLE shares (
    id             INTEGER PRIMARY KEY,
    collection_id  INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    grantee_kind   TEXT NOT NULL CHECK (grantee_kind IN ('user', 'team', 'org', 'email')),
    grantee_id     INTEGER REFERENCES principals(id) ON DELETE CASCADE,
    org_id         INTEGER REFERENCES organizations(id) ON DELETE CASCADE,
    email          TEXT COLLATE NOCASE,
    access         TEXT NOT NULL CHECK (access IN ('view', 'modify', 'share')),
    created_by     INTEGER REFERENCES principals(id) ON DELETE SET NULL,
    created_at     INTEGER NOT NULL,
    invited_at     INTEGER,
    CHECK ((grantee_kind IN ('user', 'team')) = (grantee_id IS NOT NULL)),
    CHECK ((grantee_kind = 'org') = (org_id IS NOT NULL)),
    CHECK ((grantee_kind = 'email') = (email IS NOT NULL))
);
CREATE UNIQUE INDEX shares_once ON shares(collection_id, grantee_kind, coalesce(grantee_id, org_id, email));
CREATE INDEX shares_by_grantee ON shares(grantee_id) WHERE grantee_id IS NOT NULL;
CREATE INDEX shares_by_org ON shares(org_id) WHERE org_id IS NOT NULL;
CREATE INDEX shares_by_email ON shares(email) WHERE email IS NOT NULL;

-- Rights on organization collections (those owned by a team or a room), given to a user or a
-- team. collection_id NULL means every current and future organization collection of `scope`.
-- use_access: what the grantee may do with the content; manage: rename, recolour, share, delete.
CREATE TABLE grants (
    id             INTEGER PRIMARY KEY,
    org_id         INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    grantee_id     INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    collection_id  INTEGER REFERENCES collections(id) ON DELETE CASCADE,
    scope          TEXT NOT NULL DEFAULT 'all' CHECK (scope IN ('calendars', 'addressbooks', 'all')),
    use_access     TEXT NOT NULL CHECK (use_access IN ('none', 'read', 'write')),
    manage         INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
);
CREATE INDEX grants_by_grantee ON grants(grantee_id);
CREATE INDEX grants_by_org ON grants(org_id);

-- A sharee's own name, colour and order for a collection shown in their home; declined = 1
-- once they removed it from their home (DELETE by the sharee).
CREATE TABLE sharee_settings (
    collection_id  INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    displayname    TEXT,
    color          TEXT,
    sort_order     TEXT,
    declined       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection_id, user_id)
) WITHOUT ROWID;
CREATE INDEX sharee_settings_by_user ON sharee_settings(user_id);

CREATE INDEX principals_by_org ON principals(org_id) WHERE org_id IS NOT NULL;
CREATE INDEX memberships_by_user ON memberships(user_id);
