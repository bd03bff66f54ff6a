-- Whether a channel's live streams are recorded (issue 5): on by default;
-- `stagectl channel set NAME --record false` turns it off.
ALTER TABLE channels ADD COLUMN record BIGINT NOT NULL DEFAULT 1;
