-- The ABR ladder a channel's streams use (issue 4): a name from the config's
-- [ladders] table; `default` is built in.
ALTER TABLE channels ADD COLUMN ladder TEXT NOT NULL DEFAULT 'default';
