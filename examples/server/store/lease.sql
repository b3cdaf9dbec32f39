-- Claims under a lease (issue 10): the worker that holds a RUNNING event and until when; the
-- notification outbox likewise (until when a sender holds the notification). A claim whose
-- lease ran out is taken over by another worker (or, in SQLite, by the restarted server).
ALTER TABLE events ADD COLUMN lease_owner TEXT;
ALTER TABLE events ADD COLUMN lease_until TEXT;
ALTER TABLE events ADD COLUMN notify_until TEXT;
