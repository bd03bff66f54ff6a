-- Recorded broadcasts (issue 5): one row per stream whose recording was
-- finalised. The media lives in the object store under `prefix`.
CREATE TABLE vods (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id BIGINT NOT NULL UNIQUE REFERENCES streams(id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    title TEXT NOT NULL DEFAULT '',
    started_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    renditions TEXT NOT NULL DEFAULT '',
    prefix TEXT NOT NULL,
    -- The poster image's object name under prefix; empty: none.
    thumbnail TEXT NOT NULL DEFAULT '',
    published BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE INDEX vods_by_channel ON vods(channel_id, id);
