-- Version 1. Tables mirror Middleware's (repos, repo_workflows, repo_workflow_runs) so the data
-- maps 1:1; plain SQL that PostgreSQL also accepts, except INTEGER PRIMARY KEY (an identity
-- column there). Timestamps are RFC 3339 UTC text with milliseconds, so text order = time order.
-- The REFERENCES clauses document the model (and PostgreSQL enforces them); the SQLite store
-- runs with foreign_keys OFF for write speed and deletes dependent rows itself.

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);

CREATE TABLE repos (
    id         INTEGER PRIMARY KEY,
    host       TEXT NOT NULL,
    org        TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX repos_identity ON repos (lower(host), lower(org), lower(name));

CREATE TABLE repo_workflows (
    id                   INTEGER PRIMARY KEY,
    repo_id              INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    type                 TEXT NOT NULL,
    provider             TEXT NOT NULL,
    provider_workflow_id TEXT NOT NULL,
    name                 TEXT NOT NULL,
    meta                 TEXT,
    is_active            BOOLEAN NOT NULL DEFAULT TRUE,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (repo_id, provider, provider_workflow_id)
);

CREATE TABLE repo_workflow_runs (
    id                       INTEGER PRIMARY KEY,
    repo_workflow_id         INTEGER NOT NULL REFERENCES repo_workflows (id) ON DELETE CASCADE,
    provider_workflow_run_id TEXT NOT NULL,
    event_actor              TEXT NOT NULL,
    head_branch              TEXT NOT NULL,
    status                   TEXT NOT NULL,
    conducted_at             TEXT NOT NULL,
    duration                 INTEGER,
    html_url                 TEXT,
    commit_sha               TEXT,
    meta                     TEXT,
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL,
    UNIQUE (repo_workflow_id, provider_workflow_run_id)
);
CREATE INDEX repo_workflow_runs_conducted ON repo_workflow_runs (conducted_at, id);

CREATE TABLE events (
    id             TEXT PRIMARY KEY,
    key_id         TEXT NOT NULL REFERENCES api_keys (id),
    request_type   TEXT NOT NULL,
    webhook_id     TEXT,
    received_at    TEXT NOT NULL,
    response       TEXT NOT NULL,
    status         TEXT NOT NULL,
    error          TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    processed_at   TEXT,
    runs_received  INTEGER NOT NULL DEFAULT 0,
    runs_created   INTEGER NOT NULL DEFAULT 0,
    runs_updated   INTEGER NOT NULL DEFAULT 0,
    runs_unchanged INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_status ON events (status, id);
-- Deduplication of webhook-ids, race-safe: only accepted events that still stand count, so a
-- request rejected, failed or pruned can be sent again with the same webhook-id.
CREATE UNIQUE INDEX events_webhook_id ON events (key_id, webhook_id)
    WHERE webhook_id IS NOT NULL AND status IN ('WAITING', 'RUNNING', 'SUCCESS');

-- The request body as received (decompressed), apart from events: SQLite rewrites a whole row,
-- overflow pages included, when an update changes its size, and the worker updates every event.
CREATE TABLE event_bodies (
    event_id TEXT PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    body     BLOB NOT NULL
);

CREATE TABLE event_runs (
    event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    run_id   INTEGER NOT NULL REFERENCES repo_workflow_runs (id) ON DELETE CASCADE,
    action   TEXT NOT NULL,
    PRIMARY KEY (event_id, run_id)
) WITHOUT ROWID; -- SQLite only: one b-tree instead of two (PostgreSQL: drop the clause)
CREATE INDEX event_runs_run ON event_runs (run_id);
