//! pitstop's own SQLite database: the history of action runs and
//! emergency stops. The only module that issues SQL for pitstop's state.
//!
//! The schema is versioned with `PRAGMA user_version` and migrated forward
//! on open; a database written by a newer pitstop is refused rather than
//! guessed at. The one connection sits behind a mutex: writes are a row per
//! run, so contention is not a concern, and `rusqlite::Connection` is not
//! `Sync`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::error::{Error, Result};

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE runs (
        seq         INTEGER PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        action      TEXT NOT NULL,
        kind        TEXT NOT NULL,
        service     TEXT,
        client      TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        status      TEXT NOT NULL,
        message     TEXT NOT NULL,
        details     TEXT
    );
"];

pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// One row of history: who ran what, when, for how long, and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub action: String,
    /// `maintenance`, `deploy` or `stop`.
    pub kind: String,
    pub service: Option<String>,
    /// The client's address, or `cli` for the command line.
    pub client: String,
    pub started_at: String,
    pub duration_ms: u64,
    /// `success`, `error`, `partial` or `timeout`.
    pub status: String,
    pub message: String,
    /// The run's result as JSON text, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl Store {
    /// Opens (creating it and its folder on first start) and migrates.
    pub fn open(path: &Path) -> Result<Store> {
        let fail = |what: &str, err: &dyn std::fmt::Display| {
            Error::Store(format!("cannot {what} `{}`: {err}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail("create the folder of", &e))?;
        }
        let conn = Connection::open(path).map_err(|e| fail("open", &e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| fail("configure", &e))?;
        // WAL lets `history` read while a run is being recorded; NORMAL
        // sync is safe with WAL (a power cut loses at most the last run).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| fail("configure", &e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| fail("configure", &e))?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| fail("read the schema version of", &e))?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(Error::Store(format!(
                "`{}` has schema version {version}, newer than this pitstop knows ({}); \
                 run the newer pitstop, or move the file away to start a new history",
                path.display(),
                MIGRATIONS.len()
            )));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn
                .unchecked_transaction()
                .map_err(|e| fail("migrate", &e))?;
            tx.execute_batch(sql).map_err(|e| fail("migrate", &e))?;
            tx.pragma_update(None, "user_version", (index + 1) as i64)
                .map_err(|e| fail("migrate", &e))?;
            tx.commit().map_err(|e| fail("migrate", &e))?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record(&self, run: &RunRecord) -> Result<()> {
        let conn = crate::lock(&self.conn);
        conn.execute(
            "INSERT INTO runs (id, action, kind, service, client, started_at, duration_ms, status, message, details)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                run.id,
                run.action,
                run.kind,
                run.service,
                run.client,
                run.started_at,
                run.duration_ms as i64,
                run.status,
                run.message,
                run.details.as_ref().map(|d| d.to_string()),
            ],
        )?;
        Ok(())
    }

    /// One run by id.
    pub fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        let conn = crate::lock(&self.conn);
        let mut stmt = conn.prepare_cached(
            "SELECT id, action, kind, service, client, started_at, duration_ms, status, message, details
             FROM runs WHERE id = ?1",
        )?;
        let mut rows = stmt.query_map(params![id], row_to_record)?;
        Ok(rows.next().transpose()?)
    }

    /// Newest first.
    pub fn history(&self, offset: usize, limit: usize) -> Result<Vec<RunRecord>> {
        let conn = crate::lock(&self.conn);
        let mut stmt = conn.prepare_cached(
            "SELECT id, action, kind, service, client, started_at, duration_ms, status, message, details
             FROM runs ORDER BY seq DESC LIMIT ?1 OFFSET ?2",
        )?;
        let rows = stmt.query_map(params![limit as i64, offset as i64], row_to_record)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let details: Option<String> = row.get(9)?;
    Ok(RunRecord {
        id: row.get(0)?,
        action: row.get(1)?,
        kind: row.get(2)?,
        service: row.get(3)?,
        client: row.get(4)?,
        started_at: row.get(5)?,
        duration_ms: row.get::<_, i64>(6)? as u64,
        status: row.get(7)?,
        message: row.get(8)?,
        details: details.and_then(|d| serde_json::from_str(&d).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pitstop-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sub").join("state.db")
    }

    #[test]
    fn records_and_lists_newest_first() {
        let path = temp_db("records");
        let store = Store::open(&path).unwrap();
        for i in 0..3 {
            store
                .record(&RunRecord {
                    id: format!("r{i}"),
                    action: "stop".into(),
                    kind: "stop".into(),
                    service: None,
                    client: "cli".into(),
                    started_at: "2026-11-24T00:00:00Z".into(),
                    duration_ms: i,
                    status: "success".into(),
                    message: "ok".into(),
                    details: Some(serde_json::json!({"n": i})),
                })
                .unwrap();
        }
        drop(store);
        let store = Store::open(&path).unwrap(); // reopen: no migration rerun
        let runs = store.history(0, 2).unwrap();
        assert_eq!(
            runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["r2", "r1"]
        );
        assert_eq!(runs[0].details, Some(serde_json::json!({"n": 2})));
    }

    #[test]
    fn refuses_a_newer_schema() {
        let path = temp_db("newer");
        drop(Store::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = Store::open(&path).err().unwrap().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }
}
