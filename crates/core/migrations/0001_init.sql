-- Booleans are BIGINT 0/1: sqlx's Any driver decodes no SQLite BOOLEAN.
-- Users: the operator/creator who owns channels (viewer accounts come later).
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    email TEXT,
    password_hash TEXT,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id BIGINT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    stream_key_hash TEXT NOT NULL UNIQUE,
    members_only BIGINT NOT NULL DEFAULT 0,
    enabled BIGINT NOT NULL DEFAULT 1,
    branding TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    key_rotated_at BIGINT NOT NULL
);

CREATE TABLE streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    peak_viewers BIGINT NOT NULL DEFAULT 0,
    hls_path TEXT,
    vod_path TEXT,
    members_only BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX streams_by_channel ON streams(channel_id, id);
-- At most one live stream per channel, whichever ingest node asks.
CREATE UNIQUE INDEX streams_one_live ON streams(channel_id) WHERE status = 'live';

CREATE TABLE stream_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id BIGINT NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    at BIGINT NOT NULL
);
CREATE INDEX stream_events_by_stream ON stream_events(stream_id, id);
