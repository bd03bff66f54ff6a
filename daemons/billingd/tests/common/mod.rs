//! An in-process billingd on 127.0.0.1:0 with its own SQLite (or the
//! database a test names), as chatd's tests have theirs.
#![allow(dead_code)]

use stage_core::{Config, Db};
use std::net::SocketAddr;

#[allow(unused_imports)]
pub use stage_testing::TOKEN_KEY as KEY;

pub struct Billingd {
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub admin_token: String,
    pub db: Db,
    pub cfg: Config,
    running: stage_core::daemon::Running,
    _dir: tempfile::TempDir,
}

impl Billingd {
    /// Starts billingd in a fresh temp dir with a fixed token key, after
    /// `edit` (which sees `billingd.listen` and `admin_listen` as bound).
    pub async fn start(edit: impl FnOnce(&mut Config)) -> Billingd {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = stage_testing::config(dir.path());
        let l = stage_core::http::Listeners::loopback().await.unwrap();
        let (public, admin) = (
            l.public.local_addr().unwrap(),
            l.admin.local_addr().unwrap(),
        );
        cfg.billingd.listen = public;
        cfg.billingd.admin_listen = admin;
        edit(&mut cfg);
        let db = Db::open(&cfg).await.unwrap();
        let c = cfg.clone();
        let running = stage_core::daemon::Running::spawn(|stop| billingd::run_on(c, l, stop));
        let admin_token = stage_core::admin::load_or_create_token(&cfg.data_dir).unwrap();
        Billingd {
            public,
            admin,
            admin_token,
            db,
            cfg,
            running,
            _dir: dir,
        }
    }

    /// Stops billingd and waits for it.
    pub async fn stop(&mut self) {
        self.running.stop().await.unwrap();
    }
}
