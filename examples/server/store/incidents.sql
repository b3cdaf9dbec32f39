-- Incidents (issue 11). Identity: (provider, incident_key). The merged fields are kept as JSON
-- (`fields`: IncidentFields, what the rules merge and prune restores); the columns the lists
-- filter and sort on are copies of them, written with them: `repo_ids` (the linked repos,
-- ",1,2,", so that `LIKE '%,1,%'` finds one), `status` and `creation_date`.
CREATE TABLE incidents (
    id            INTEGER PRIMARY KEY,
    provider      TEXT NOT NULL,
    incident_key  TEXT NOT NULL,
    repo_ids      TEXT NOT NULL,
    status        TEXT NOT NULL,
    creation_date TEXT NOT NULL,
    fields        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (provider, incident_key)
);
CREATE INDEX incidents_created ON incidents (creation_date, id);

-- What each incident event wrote, as event_runs for runs: its place in the incident's history
-- (seq) and, for an update, the fields it replaced, so that pruning it undoes exactly that.
CREATE TABLE event_incidents (
    event_id    TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    action      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    replaced    TEXT,
    PRIMARY KEY (event_id, incident_id)
);
CREATE INDEX event_incidents_incident ON event_incidents (incident_id, seq);

ALTER TABLE events ADD COLUMN incidents_received INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN incidents_created INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN incidents_updated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN incidents_unchanged INTEGER NOT NULL DEFAULT 0;
