//! The Redis layer: reads, stamp-guarded fills, invalidations with pub/sub, and a breaker that
//! sends everything to the backend while Redis is unreachable.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mlstore_core::{redact_url, Error, Result};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;

use crate::config::CacheConfig;
use crate::key::{channel, stamp_key, Key, Value};
use crate::stats::{bump, Counters};

/// Writes a value only if the model's stamp is what it was when the read that produced the value
/// began: a write in between (by any instance) moved the stamp, and the value may be stale.
const FILL_IF_STAMP_UNCHANGED: &str = r#"
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[1] then return 0 end
if ARGV[4] == '' then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3], 'NX')
end
return 1
"#;

/// How often a Redis failure is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The invalidation message: the sender (to skip its own) and the keys.
pub(crate) type Announcement = (u128, Vec<Key>);

pub(crate) struct RedisLayer {
    client: redis::Client,
    connection: ConnectionManager,
    namespace: String,
    channel: String,
    ttl_seconds: u64,
    timeout: Duration,
    retry_after: Duration,
    origin: Instant,
    down_until_ms: AtomicU64,
    last_log_ms: AtomicU64,
    /// Invalidations that could not be delivered; sent before Redis is read again.
    pending: Mutex<HashSet<Key>>,
    counters: Arc<Counters>,
    pub(crate) instance: u128,
    fill: redis::Script,
}

impl fmt::Debug for RedisLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLayer")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl RedisLayer {
    pub(crate) fn new(
        url: &str,
        namespace: String,
        config: &CacheConfig,
        counters: Arc<Counters>,
    ) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|e| {
            Error::configuration(format!(
                "cache Redis URL {:?}: {}",
                redact_url(url),
                mlstore_core::redact_url(&e.to_string())
            ))
        })?;
        let manager_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.redis_timeout()))
            .set_response_timeout(Some(config.redis_timeout()))
            .set_number_of_retries(1);
        // Lazy: a store starts even when Redis is down, and caches once it is up.
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(|e| Error::configuration(format!("cache Redis: {e}")))?;
        Ok(Self {
            client,
            connection,
            channel: channel(&namespace),
            namespace,
            ttl_seconds: config.ttl().as_secs().max(1),
            timeout: config.redis_timeout(),
            retry_after: config.redis_retry_after(),
            origin: Instant::now(),
            down_until_ms: AtomicU64::new(0),
            last_log_ms: AtomicU64::new(0),
            pending: Mutex::new(HashSet::new()),
            counters,
            instance: uuid::Uuid::new_v4().as_u128(),
            fill: redis::Script::new(FILL_IF_STAMP_UNCHANGED),
        })
    }

    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn available(&self) -> bool {
        self.now_ms() >= self.down_until_ms.load(Ordering::Relaxed)
    }

    /// Counts and (at most every [`LOG_EVERY`]) logs a failure, and skips Redis for a while.
    fn failed(&self, what: &str, err: &dyn fmt::Display) {
        bump(&self.counters.redis_errors);
        let now = self.now_ms();
        self.down_until_ms
            .store(now + self.retry_after.as_millis() as u64, Ordering::Relaxed);
        let last = self.last_log_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= LOG_EVERY.as_millis() as u64)
            && self
                .last_log_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                error = %redact_url(&err.to_string()),
                "cache: Redis {what} failed; serving from the backend and retrying in {:?}",
                self.retry_after
            );
        }
    }

    /// Runs one Redis call with the timeout; `None` (counted, logged) when it fails.
    async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                self.failed(what, &e);
                None
            }
            Err(_) => {
                self.failed(what, &format!("no answer within {:?}", self.timeout));
                None
            }
        }
    }

    /// Reads a key: `None` when Redis cannot be used now; otherwise the value, if cached, and
    /// the model's stamp at the time of the read (for [`RedisLayer::fill`]).
    pub(crate) async fn read(&self, key: &Key) -> Option<(Option<Value>, String)> {
        if !self.available() || !self.flush_pending().await {
            return None;
        }
        let (redis_key, field) = key.redis(&self.namespace);
        let stamp = stamp_key(&self.namespace, key.model());
        let mut pipe = redis::pipe();
        match &field {
            Some(field) => pipe.hget(&redis_key, field),
            None => pipe.get(&redis_key),
        };
        pipe.get(&stamp);
        let mut conn = self.connection.clone();
        let (bytes, stamp): (Option<Vec<u8>>, Option<String>) =
            self.call("read", pipe.query_async(&mut conn)).await?;
        let value = bytes.and_then(|b| match rmp_serde::from_slice::<Value>(&b) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, key = %redis_key, "cache: undecodable Redis value ignored");
                None
            }
        });
        Some((value, stamp.unwrap_or_default()))
    }

    /// Stores a value read from the backend, in the background, unless the model's stamp moved
    /// since `stamp` was read.
    pub(crate) fn fill(self: &Arc<Self>, key: &Key, value: &Value, stamp: String) {
        let Ok(bytes) = rmp_serde::to_vec(value) else {
            return;
        };
        let (redis_key, field) = key.redis(&self.namespace);
        let stamp_key = stamp_key(&self.namespace, key.model());
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut conn = this.connection.clone();
            let mut invocation = this.fill.key(redis_key);
            invocation
                .key(stamp_key)
                .arg(stamp)
                .arg(bytes)
                .arg(this.ttl_seconds)
                .arg(field.unwrap_or_default());
            let _: Option<i64> = this.call("fill", invocation.invoke_async(&mut conn)).await;
        });
    }

    /// Deletes the keys, moves the stamps of their models and announces the keys to the other
    /// instances, in one round trip. If Redis cannot be reached, the keys are kept and sent
    /// before Redis is read again.
    pub(crate) async fn invalidate(&self, keys: &[Key]) {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.extend(keys.iter().cloned());
        }
        if self.available() {
            self.flush_pending().await;
        }
    }

    /// Sends the pending invalidations; true when there are none left.
    async fn flush_pending(&self) -> bool {
        let keys: Vec<Key> = {
            let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.is_empty() {
                return true;
            }
            pending.iter().cloned().collect()
        };
        let mut pipe = redis::pipe();
        let models: BTreeSet<String> = keys
            .iter()
            .map(|k| stamp_key(&self.namespace, k.model()))
            .collect();
        for stamp in &models {
            pipe.incr(stamp, 1).ignore();
            pipe.expire(stamp, (self.ttl_seconds * 2) as i64).ignore();
        }
        let redis_keys: BTreeSet<String> =
            keys.iter().map(|k| k.redis(&self.namespace).0).collect();
        for key in &redis_keys {
            pipe.del(key).ignore();
        }
        let announcement: Announcement = (self.instance, keys.clone());
        if let Ok(payload) = rmp_serde::to_vec(&announcement) {
            pipe.publish(&self.channel, payload).ignore();
        }
        let mut conn = self.connection.clone();
        let sent: Option<()> = self.call("invalidate", pipe.query_async(&mut conn)).await;
        if sent.is_none() {
            return false;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for key in &keys {
            pending.remove(key);
        }
        pending.is_empty()
    }

    /// Whether Redis answers now (for health checks and tests).
    pub(crate) async fn ping(&self) -> bool {
        let mut conn = self.connection.clone();
        let pong: Option<String> = self.call("ping", conn.ping()).await;
        pong.is_some()
    }
}
