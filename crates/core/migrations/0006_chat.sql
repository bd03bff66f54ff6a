-- Viewer accounts, chat, moderation and polls (issue 6).

-- Accounts: viewers register themselves (role 'viewer'); 'owner' is the
-- operator. A platform-wide ban keeps an account out of every chat and its
-- login refused.
ALTER TABLE users ADD COLUMN banned BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX users_email ON users(email);

-- Per-channel chat settings.
ALTER TABLE channels ADD COLUMN chat_slow_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN chat_members_only BIGINT NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN chat_guests BIGINT NOT NULL DEFAULT 0;
-- Blocked words, one per line, matched case-insensitively inside messages.
ALTER TABLE channels ADD COLUMN chat_blocked_words TEXT NOT NULL DEFAULT '';

-- Channel moderators (the channel's owner moderates without a row).
CREATE TABLE channel_moderators (
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);

-- Memberships (billing fills these in with issue 7); an active one makes its
-- holder a 'member' of the channel.
CREATE TABLE memberships (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    tier TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    current_period_end BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, channel_id)
);

-- Per-channel bans and timeouts: until NULL is a ban, otherwise a timeout.
CREATE TABLE chat_bans (
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    until_ms BIGINT,
    reason TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);

-- Chat messages. Ids are made by chatd (sortable, unique across nodes) so a
-- message is fanned out before it is written; deleted ones are flagged.
CREATE TABLE chat_messages (
    id TEXT PRIMARY KEY,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    stream_id BIGINT,
    user_id BIGINT,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    body TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX chat_messages_by_channel ON chat_messages(channel_id, created_at);
CREATE INDEX chat_messages_by_stream ON chat_messages(stream_id, created_at);

-- The moderation audit log: every action, who took it, on whom.
CREATE TABLE chat_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '{}',
    at BIGINT NOT NULL
);
CREATE INDEX chat_actions_by_channel ON chat_actions(channel_id, id);

-- Polls: options as a JSON array of strings; one vote per account.
CREATE TABLE polls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    stream_id BIGINT,
    question TEXT NOT NULL,
    options TEXT NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX polls_by_channel ON polls(channel_id, id);
CREATE TABLE poll_votes (
    poll_id BIGINT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    choice BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (poll_id, user_id)
);
