//! Viewer accounts: validation, argon2id password hashes, and the user rows
//! (with each one's role in a channel).

use crate::db::{Db, DbError, is_unique_violation};
use crate::time::now_ms;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

type Result<T, E = DbError> = std::result::Result<T, E>;

/// An account.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    /// Platform role: `owner` (the operator: moderates every channel) or `viewer`.
    pub role: String,
    pub banned: bool,
    pub created_at: i64,
    #[serde(skip)]
    pub password_hash: Option<String>,
}

/// A user's standing in one channel, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Guest,
    Viewer,
    Member,
    Moderator,
    Owner,
}

impl Role {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Moderator => "moderator",
            Role::Owner => "owner",
        }
    }

    /// Whether this role may moderate.
    pub fn moderates(self) -> bool {
        self >= Role::Moderator
    }
}

fn invalid(field: &'static str, message: &str) -> DbError {
    DbError::Invalid {
        field,
        message: message.into(),
    }
}

/// Usernames: 3–24 of letters, digits and `_` (shown in chat, so no look-alike
/// punctuation or direction overrides).
pub fn validate_username(name: &str) -> Result<()> {
    let ok = (3..=24).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "username",
            "use 3-24 letters, digits or _ (no spaces)",
        ))
    }
}

/// Emails: one `@` with something on each side and a dot in the domain; at
/// most 254 bytes; no spaces. (Delivery is the proof; this catches typos.)
pub fn validate_email(email: &str) -> Result<()> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid("email", "is not an email address"))
    }
}

/// Passwords: 8–128 characters.
pub fn validate_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < 8 {
        return Err(invalid("password", "must be at least 8 characters"));
    }
    if n > 128 {
        return Err(invalid("password", "must be at most 128 characters"));
    }
    Ok(())
}

/// The argon2id hash (PHC string, default parameters: 19 MiB, t=2) of
/// `password`. Slow by design: call it off the async threads.
pub fn hash_password(password: &str) -> String {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    // 16 bytes always make a valid salt, and hashing with valid parameters
    // cannot fail.
    let salt = SaltString::encode_b64(&raw).expect("16-byte salt");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

/// Whether `password` matches the PHC `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the user does not exist, so a login for a
/// missing account costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("not a real password"))
}

macro_rules! user_cols {
    () => {
        "id, username, email, role, banned, created_at, password_hash"
    };
}

fn user_from(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        role: row.try_get("role")?,
        banned: row.try_get::<i64, _>("banned")? != 0,
        created_at: row.try_get("created_at")?,
        password_hash: row.try_get("password_hash")?,
    })
}

impl Db {
    /// Registers a viewer account with an already-hashed password. Usernames
    /// are unique case-insensitively; emails are stored lowercased.
    pub async fn create_user(&self, username: &str, email: &str, hash: &str) -> Result<User> {
        validate_username(username)?;
        validate_email(email)?;
        if self.user_by_name(username).await?.is_some() {
            return Err(DbError::Conflict("username is taken".into()));
        }
        let sql = concat!(
            "INSERT INTO users (username, email, password_hash, role, created_at) VALUES ($1, $2, $3, 'viewer', $4) RETURNING ",
            user_cols!()
        );
        let res = sqlx::query(sql)
            .bind(username)
            .bind(email.to_lowercase())
            .bind(hash)
            .bind(now_ms())
            .fetch_one(self.pool())
            .await;
        match res {
            Ok(row) => user_from(&row),
            Err(e) if is_unique_violation(&e) => Err(DbError::Conflict(
                "username or email is already registered".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The account called `name` (case-insensitive), if any.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let sql = concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE lower(username) = lower($1)"
        );
        let row = sqlx::query(sql)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    /// The account registered with `email` (case-insensitive), if any.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let sql = concat!("SELECT ", user_cols!(), " FROM users WHERE email = $1");
        let row = sqlx::query(sql)
            .bind(email.trim().to_lowercase())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    /// The account with id `id`, if any.
    pub async fn user(&self, id: i64) -> Result<Option<User>> {
        let sql = concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1");
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    /// Accounts, oldest first.
    pub async fn users(&self, limit: i64) -> Result<Vec<User>> {
        let sql = concat!("SELECT ", user_cols!(), " FROM users ORDER BY id LIMIT $1");
        let rows = sqlx::query(sql).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(user_from).collect()
    }

    /// Sets a user's platform role (`owner` or `viewer`).
    pub async fn set_user_role(&self, id: i64, role: &str) -> Result<()> {
        if !["owner", "viewer"].contains(&role) {
            return Err(invalid("role", "platform roles are owner and viewer"));
        }
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Bans (or unbans) an account platform-wide.
    pub async fn set_user_banned(&self, id: i64, banned: bool) -> Result<()> {
        sqlx::query("UPDATE users SET banned = $1 WHERE id = $2")
            .bind(banned as i64)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Makes `user_id` a moderator of `channel_id` (or removes it).
    pub async fn set_moderator(&self, channel_id: i64, user_id: i64, on: bool) -> Result<()> {
        if on {
            sqlx::query(
                "INSERT INTO channel_moderators (channel_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(channel_id)
            .bind(user_id)
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        } else {
            sqlx::query("DELETE FROM channel_moderators WHERE channel_id = $1 AND user_id = $2")
                .bind(channel_id)
                .bind(user_id)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// Channels (by name) that `user_id` moderates.
    pub async fn moderated_channels(&self, user_id: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT c.name FROM channel_moderators m JOIN channels c ON c.id = m.channel_id WHERE m.user_id = $1 ORDER BY c.name",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| r.try_get("name").map_err(DbError::from))
            .collect()
    }

    /// Records a membership's state (billing writes these; tests and
    /// `stagectl` may too).
    pub async fn set_membership(
        &self,
        user_id: i64,
        channel_id: i64,
        status: &str,
        current_period_end: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO memberships (user_id, channel_id, status, current_period_end, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, channel_id) DO UPDATE SET status = excluded.status, current_period_end = excluded.current_period_end",
        )
        .bind(user_id)
        .bind(channel_id)
        .bind(status)
        .bind(current_period_end)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// `user`'s role in the channel `channel_id` owned by `owner_id`:
    /// platform owners and the channel's owner are `Owner`, then moderators,
    /// then active members, then viewers.
    ///
    /// A membership counts while `billing::Membership::active` says so, with
    /// `grace_ms` (the config's `billing.grace`).
    pub async fn channel_role(
        &self,
        user: &User,
        channel_id: i64,
        owner_id: i64,
        grace_ms: i64,
    ) -> Result<Role> {
        if user.role == "owner" || user.id == owner_id {
            return Ok(Role::Owner);
        }
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM channel_moderators WHERE channel_id = $1 AND user_id = $2) AS mods",
        )
        .bind(channel_id)
        .bind(user.id)
        .fetch_one(self.pool())
        .await?;
        if row.try_get::<i64, _>("mods")? > 0 {
            Ok(Role::Moderator)
        } else if self
            .membership(user.id, channel_id)
            .await?
            .is_some_and(|m| m.active(now_ms(), grace_ms))
        {
            Ok(Role::Member)
        } else {
            Ok(Role::Viewer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_emails_and_passwords_are_checked() {
        assert!(validate_username("ana_99").is_ok());
        for bad in ["an", "a b", "ana!", "\u{202e}evil", &"x".repeat(25)] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
        assert!(validate_email("a@b.co").is_ok());
        for bad in ["", "a", "a@b", "@b.co", "a@@b.co", "a @b.co", "a@.co"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password("1234567").is_err());
        assert!(validate_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn argon2id_hashes_verify_only_the_right_password() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(h, hash_password("correct horse"), "salted");
    }
}
