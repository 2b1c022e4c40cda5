-- davit schema, version 3: two-factor login (TOTP, RFC 6238) and web sessions.
-- Timestamps are Unix seconds (UTC).

-- One row per user who started or finished TOTP enrolment. The key must be readable to compute
-- codes, so it is stored as is (like any TOTP server without a separate key store). enabled = 0
-- while the enrolment waits for its first code. last_step is the RFC 6238 time step of the
-- last accepted code: a code of that step or an earlier one is a replay (§5.2).
CREATE TABLE two_factor (
    user_id     INTEGER PRIMARY KEY REFERENCES principals(id) ON DELETE CASCADE,
    secret      BLOB NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 0,
    last_step   INTEGER,
    created_at  INTEGER NOT NULL
);

-- Single-use recovery codes, stored as SHA-256 (they are ~80-bit random secrets).
CREATE TABLE recovery_codes (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    INTEGER
);
CREATE INDEX recovery_codes_by_user ON recovery_codes(user_id, code_hash);

-- Web sessions: the cookie value is never stored, only its SHA-256. A session whose
-- second_factor_pending = 1 only allows entering the TOTP or recovery code.
CREATE TABLE web_sessions (
    id_hash                TEXT PRIMARY KEY,
    user_id                INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    csrf_token             TEXT NOT NULL,
    second_factor_pending  INTEGER NOT NULL DEFAULT 0,
    created_at             INTEGER NOT NULL,
    last_seen_at           INTEGER NOT NULL,
    expires_at             INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_sessions_by_user ON web_sessions(user_id);
CREATE INDEX web_sessions_by_expiry ON web_sessions(expires_at);
