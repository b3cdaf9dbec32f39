-- The outbox of --notify-url: set on a rejected or failed event in the transaction that stores
-- it (when notifications are on), cleared once the message is delivered or given up on. A
-- server killed before delivering sends it after its restart.
ALTER TABLE events ADD COLUMN notify INTEGER;
CREATE INDEX events_notify ON events (received_at, id) WHERE notify IS NOT NULL;
