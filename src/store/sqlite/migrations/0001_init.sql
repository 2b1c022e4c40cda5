-- davit schema, version 1. Timestamps are Unix seconds (UTC).

CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

-- Users, rooms and teams are all principals (RFC 3744 §2); slug is their URL segment.
CREATE TABLE principals (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('user', 'room', 'team')),
    slug          TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    email         TEXT UNIQUE COLLATE NOCASE,
    org_id        INTEGER REFERENCES organizations(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL
);

CREATE TABLE users (
    principal_id         INTEGER PRIMARY KEY REFERENCES principals(id) ON DELETE CASCADE,
    password_hash        TEXT NOT NULL,
    password_changed_at  INTEGER NOT NULL,
    disabled             INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE memberships (
    org_id   INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'collaborator', 'external')),
    PRIMARY KEY (org_id, user_id)
);

-- Homes have no parent; every other collection lives under a home (plain WebDAV collections
-- may nest). rev is the collection's sync revision; sync_floor is the oldest revision whose
-- token is still answerable from the change log.
CREATE TABLE collections (
    id            INTEGER PRIMARY KEY,
    owner_id      INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    parent_id     INTEGER REFERENCES collections(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN
                    ('calendar-home', 'addressbook-home', 'plain', 'calendar', 'addressbook', 'subscription')),
    segment       TEXT NOT NULL,
    displayname   TEXT,
    description   TEXT,
    color         TEXT,
    sort_order    TEXT,
    timezone      TEXT,
    components    TEXT,
    rev           INTEGER NOT NULL DEFAULT 0,
    sync_floor    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    modified_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX collections_by_parent ON collections(parent_id, segment)
    WHERE parent_id IS NOT NULL;
CREATE UNIQUE INDEX collections_home ON collections(owner_id, kind) WHERE parent_id IS NULL;

-- Bodies are stored byte-for-byte as received; etag is a hash of body.
CREATE TABLE objects (
    id             INTEGER PRIMARY KEY,
    collection_id  INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    segment        TEXT NOT NULL,
    uid            TEXT,
    etag           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           INTEGER NOT NULL,
    body           BLOB NOT NULL,
    comp_type      TEXT,
    first_start    INTEGER,
    last_end       INTEGER,
    created_at     INTEGER NOT NULL,
    modified_at    INTEGER NOT NULL,
    UNIQUE (collection_id, segment)
);
CREATE UNIQUE INDEX objects_by_uid ON objects(collection_id, uid) WHERE uid IS NOT NULL;
-- calendar-query prefilter: component type and start of the occurrence span.
CREATE INDEX objects_by_time ON objects(collection_id, comp_type, first_start);
-- Streaming a collection in id order (public feeds) without a sort per batch.
CREATE INDEX objects_by_collection ON objects(collection_id, id);

-- Searchable vCard fields for addressbook-query, folded with i;unicode-casemap.
CREATE TABLE card_index (
    object_id  INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
    field      TEXT NOT NULL,
    value      TEXT NOT NULL
);
CREATE INDEX card_index_by_object ON card_index(object_id);
CREATE INDEX card_index_by_field ON card_index(field, value);

-- Change log for sync-collection (RFC 6578): one row per member per change; older rows of
-- the same member are pruned on write, so the log stays proportional to the members.
CREATE TABLE changes (
    collection_id  INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    rev            INTEGER NOT NULL,
    segment        TEXT NOT NULL,
    is_collection  INTEGER NOT NULL,
    deleted        INTEGER NOT NULL,
    changed_at     INTEGER NOT NULL,
    PRIMARY KEY (collection_id, rev)
) WITHOUT ROWID;
CREATE INDEX changes_by_member ON changes(collection_id, segment, is_collection);

-- Per-device app passwords (shown once; stored as SHA-256: they are 125-bit random secrets,
-- so a slow hash would only cost every sync request without adding safety).
-- scope_collections: comma-separated collection ids, NULL = every collection.
CREATE TABLE app_passwords (
    id                 INTEGER PRIMARY KEY,
    user_id            INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    label              TEXT NOT NULL,
    secret_hash        TEXT NOT NULL UNIQUE,
    read_only          INTEGER NOT NULL DEFAULT 0,
    scope_collections  TEXT,
    created_at         INTEGER NOT NULL,
    last_used_at       INTEGER,
    last_user_agent    TEXT,
    last_ip            TEXT,
    revoked_at         INTEGER
);
CREATE INDEX app_passwords_by_user ON app_passwords(user_id) WHERE revoked_at IS NULL;

-- Public read-only .ics feeds: the token itself is never stored, only its SHA-256.
CREATE TABLE feeds (
    collection_id   INTEGER PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL UNIQUE,
    busy_only       INTEGER NOT NULL DEFAULT 0,
    show_attendees  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);

-- Dead properties (RFC 4918 §4.3) as self-contained XML fragments.
CREATE TABLE dead_props (
    collection_id  INTEGER REFERENCES collections(id) ON DELETE CASCADE,
    object_id      INTEGER REFERENCES objects(id) ON DELETE CASCADE,
    ns             TEXT NOT NULL,
    name           TEXT NOT NULL,
    xml            TEXT NOT NULL,
    CHECK ((collection_id IS NULL) <> (object_id IS NULL))
);
CREATE UNIQUE INDEX dead_props_of_collection ON dead_props(collection_id, ns, name)
    WHERE collection_id IS NOT NULL;
CREATE UNIQUE INDEX dead_props_of_object ON dead_props(object_id, ns, name)
    WHERE object_id IS NOT NULL;
