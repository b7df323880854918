//! The PostgreSQL client: one connection per process (`tokio-postgres`), each transaction run as
//! `BEGIN ISOLATION LEVEL ...`, one statement per micro-op, `COMMIT`.
//!
//! As in Jepsen's PostgreSQL list-append test, each key is a row of `txn(k, v, reg)`: `v` holds
//! a list as comma-separated text, an append is an upsert (`INSERT ... ON CONFLICT (k) DO UPDATE
//! SET v = txn.v || ',' || ...`), a read is a `SELECT`. A register write (rw-register) upserts
//! the value and marks the row `reg`, so a read knows to answer an integer rather than a list;
//! a key with no row reads as nil either way.
//!
//! Outcomes: a statement that fails before `COMMIT` was sent (a serialization failure,
//! SQLSTATE 40001, or a deadlock, 40P01, among them) leaves the transaction uncommitted:
//! `fail`, after a `ROLLBACK`. A `COMMIT` the server refuses with an error is `fail` too; a
//! `COMMIT` whose answer was lost (connection gone) is `info`.

use crate::history::Value;
use crate::targets::{Client, FailReason, Outcome, Request};
use std::time::Duration;
use tokio_postgres::{NoTls, Statement};

/// The tables, created once when the server is set up.
pub const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS txn (k BIGINT PRIMARY KEY, v TEXT NOT NULL, reg BOOLEAN NOT NULL)";

const APPEND: &str = "INSERT INTO txn (k, v, reg) VALUES ($1, $2, false) ON CONFLICT (k) DO UPDATE SET v = txn.v || ',' || EXCLUDED.v";
const WRITE: &str = "INSERT INTO txn (k, v, reg) VALUES ($1, $2, true) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, reg = true";
const READ: &str = "SELECT v, reg FROM txn WHERE k = $1";

/// A PostgreSQL isolation level, as `--isolation` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgIsolation {
    /// `READ COMMITTED`.
    ReadCommitted,
    /// `REPEATABLE READ` (snapshot isolation in PostgreSQL).
    RepeatableRead,
    /// `SERIALIZABLE` (serializable snapshot isolation).
    Serializable,
}

impl PgIsolation {
    /// The level called `name` (`read-committed`, `repeatable-read`, `serializable`).
    pub fn from_name(name: &str) -> Option<PgIsolation> {
        match name {
            "read-committed" => Some(PgIsolation::ReadCommitted),
            "repeatable-read" => Some(PgIsolation::RepeatableRead),
            "serializable" => Some(PgIsolation::Serializable),
            _ => None,
        }
    }

    /// The statement that opens a transaction at this level.
    pub fn begin(self) -> &'static str {
        match self {
            PgIsolation::ReadCommitted => "BEGIN ISOLATION LEVEL READ COMMITTED",
            PgIsolation::RepeatableRead => "BEGIN ISOLATION LEVEL REPEATABLE READ",
            PgIsolation::Serializable => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        }
    }
}

/// Connects to the server on 127.0.0.1:`port` as `user`; the connection's task ends when the
/// client is dropped (the server then rolls back whatever was open).
pub async fn connect(port: u16, user: &str) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user(user)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(2))
        .connect(NoTls)
        .await
        .map_err(|e| format!("cannot connect to postgres on 127.0.0.1:{port}: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The prepared statements of one connection.
struct Prepared {
    append: Statement,
    write: Statement,
    read: Statement,
}

/// A client for one process.
pub struct PgClient {
    port: u16,
    user: String,
    level: PgIsolation,
    conn: Option<(tokio_postgres::Client, Prepared)>,
}

impl PgClient {
    /// A client that connects on its first transaction.
    pub fn new(port: u16, user: &str, level: PgIsolation) -> PgClient {
        PgClient {
            port,
            user: user.to_string(),
            level,
            conn: None,
        }
    }

    async fn open(&self) -> Result<(tokio_postgres::Client, Prepared), String> {
        let c = connect(self.port, &self.user).await?;
        let prep = |sql: &'static str| {
            let c = &c;
            async move {
                c.prepare(sql)
                    .await
                    .map_err(|e| format!("cannot prepare {sql:?}: {e}"))
            }
        };
        let prepared = Prepared {
            append: prep(APPEND).await?,
            write: prep(WRITE).await?,
            read: prep(READ).await?,
        };
        Ok((c, prepared))
    }
}

/// Why a statement failed, with its SQLSTATE when the server gave one.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        ),
        None => e.to_string(),
    }
}

/// A list stored as comma-separated text.
fn parse_list(text: &str) -> Result<Value, String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map(Value::Int)
                .map_err(|_| format!("the row holds {text:?}, not a list of integers"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::List)
}

/// Runs the micro-ops inside an open transaction: the completed micro-ops, or the failure.
async fn body(
    c: &tokio_postgres::Client,
    p: &Prepared,
    mops: &[Value],
) -> Result<Vec<Value>, String> {
    let mut done = Vec::with_capacity(mops.len());
    for m in mops {
        let Some([Value::Str(f), key, arg]) = m.as_list() else {
            return Err(format!("not a micro-op: {m}"));
        };
        let Some(k) = key.as_int() else {
            return Err(format!("postgres keys are integers, got {key}"));
        };
        let result = match f.as_str() {
            "append" => {
                let v = arg
                    .as_int()
                    .ok_or_else(|| format!("append needs an integer, got {arg}"))?;
                c.execute(&p.append, &[&k, &v.to_string()])
                    .await
                    .map_err(|e| describe(&e))?;
                arg.clone()
            }
            "w" => {
                let v = arg
                    .as_int()
                    .ok_or_else(|| format!("w needs an integer, got {arg}"))?;
                c.execute(&p.write, &[&k, &v.to_string()])
                    .await
                    .map_err(|e| describe(&e))?;
                arg.clone()
            }
            "r" => {
                let row = c
                    .query_opt(&p.read, &[&k])
                    .await
                    .map_err(|e| describe(&e))?;
                match row {
                    None => Value::Nil,
                    Some(r) => {
                        let v: String = r.try_get(0).map_err(|e| describe(&e))?;
                        let reg: bool = r.try_get(1).map_err(|e| describe(&e))?;
                        if reg {
                            v.parse::<i64>()
                                .map(Value::Int)
                                .map_err(|_| format!("register {k} holds {v:?}, not an integer"))?
                        } else {
                            parse_list(&v)?
                        }
                    }
                }
            }
            other => return Err(format!("unknown micro-op {other:?}")),
        };
        done.push(Value::List(vec![
            Value::Str(f.clone()),
            key.clone(),
            result,
        ]));
    }
    Ok(done)
}

#[async_trait::async_trait]
impl Client for PgClient {
    async fn invoke(&mut self, req: &Request) -> Outcome {
        let Some(mops) = req.value.as_list().filter(|_| req.f == "txn") else {
            return Outcome::Fail(FailReason::NotSent(format!(
                "postgres runs transactions (f txn), not {}: use --workload list-append or rw-register",
                req.f
            )));
        };
        // Taken out while in use: a call abandoned half-way drops its connection, and the
        // server rolls back what it left open.
        let (c, p) = match self.conn.take() {
            Some(conn) => conn,
            None => match self.open().await {
                Ok(conn) => conn,
                Err(e) => return Outcome::Fail(FailReason::NotSent(e)),
            },
        };
        if let Err(e) = c.batch_execute(self.level.begin()).await {
            return Outcome::Fail(FailReason::Refused(format!(
                "BEGIN failed: {}",
                describe(&e)
            )));
        }
        let done = match body(&c, &p, mops).await {
            Ok(done) => done,
            Err(why) => {
                // Not committed: COMMIT was never sent. Keep the connection only if it is
                // clean again.
                if c.batch_execute("ROLLBACK").await.is_ok() {
                    self.conn = Some((c, p));
                }
                return Outcome::Fail(FailReason::Refused(why));
            }
        };
        match c.batch_execute("COMMIT").await {
            Ok(()) => {
                self.conn = Some((c, p));
                Outcome::Ok(Value::List(done))
            }
            // The server answered: it refused to commit (a serialization failure at commit).
            Err(e) if e.code().is_some() => Outcome::Fail(FailReason::Refused(format!(
                "COMMIT failed: {}",
                describe(&e)
            ))),
            Err(e) => Outcome::Info(format!("COMMIT sent, no answer: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_from_text_and_levels_from_names() {
        assert_eq!(
            parse_list("3,1,2").unwrap(),
            Value::List(vec![Value::Int(3), Value::Int(1), Value::Int(2)])
        );
        assert_eq!(parse_list("").unwrap(), Value::List(vec![]));
        assert!(parse_list("1,x").is_err());
        assert_eq!(
            PgIsolation::from_name("repeatable-read").map(PgIsolation::begin),
            Some("BEGIN ISOLATION LEVEL REPEATABLE READ")
        );
        assert_eq!(PgIsolation::from_name("snapshot"), None);
    }
}
