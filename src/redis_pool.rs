//! A few reusable Redis connections, each bounded by the configured timeout.
//!
//! There is no background reconnect loop: a connection that fails is simply
//! dropped, and the next request dials again. That is what makes pitstop
//! recover by itself when Redis comes back, without a restart, and it keeps
//! a dead Redis from costing more than one connect timeout per request.

use std::sync::Mutex;
use std::time::Duration;

use crate::error::{Error, Result, describe_redis_error};

/// Idle connections kept for reuse. The HTTP pool has a handful of
/// threads, so a handful of connections is all that is ever busy.
const MAX_IDLE: usize = 8;

pub struct RedisPool {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    timeout: Duration,
}

impl RedisPool {
    /// Validates the URL; does not connect (pitstop must start without Redis).
    pub fn new(url: &str, timeout: Duration) -> Result<RedisPool> {
        let client =
            redis::Client::open(url).map_err(|e| Error::Redis(describe_redis_error(&e)))?;
        Ok(RedisPool {
            client,
            idle: Mutex::new(Vec::new()),
            timeout,
        })
    }

    /// Runs `work` on a connection. The connection goes back to the pool
    /// only if `work` succeeded; after any error it is dropped, since it may
    /// hold half a reply.
    ///
    /// A pooled connection may have died with a Redis restart since it was
    /// last used; when it fails at the socket level, `work` runs once more
    /// on a fresh connection, so the first request after Redis comes back
    /// succeeds instead of answering 503.
    pub fn with<T>(
        &self,
        mut work: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let pooled = crate::lock(&self.idle).pop();
        let result = match pooled {
            Some(mut conn) => match work(&mut conn) {
                Err(err) if err.is_io_error() || err.is_connection_dropped() => {
                    let mut conn = self.fresh()?;
                    work(&mut conn).map(|v| (v, conn))
                }
                other => other.map(|v| (v, conn)),
            },
            None => {
                let mut conn = self.fresh()?;
                work(&mut conn).map(|v| (v, conn))
            }
        };
        match result {
            Ok((value, conn)) => {
                let mut idle = crate::lock(&self.idle);
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
                Ok(value)
            }
            Err(err) => Err(Error::Redis(describe_redis_error(&err))),
        }
    }

    /// A new connection that is not pooled, for one-off work such as a
    /// probe that must report its own connect failure.
    pub fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let conn = self.client.get_connection_with_timeout(self.timeout)?;
        conn.set_read_timeout(Some(self.timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        Ok(conn)
    }

    fn fresh(&self) -> Result<redis::Connection> {
        self.connect()
            .map_err(|e| Error::Redis(describe_redis_error(&e)))
    }
}
