-- One row per HLS playback session (issue 3): the raw material for analytics.
-- session_key is a hash: of the player's random session id, or (identified = 0)
-- of the client address and user agent. No address is stored.
CREATE TABLE viewer_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id BIGINT NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
    session_key TEXT NOT NULL,
    identified BIGINT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    joined_at BIGINT NOT NULL,
    left_at BIGINT,
    watch_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX viewer_sessions_by_stream ON viewer_sessions(stream_id, joined_at);
