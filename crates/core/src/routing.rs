//! Where reads go, for stores that spread them over read replicas.
//!
//! A store with read replicas (the PostgreSQL store with `?replica=...`) reads from a replica
//! only when that replica has replayed every write made through the same store; reads made by
//! other handles may see a state as old as the replica's lag. Code that must see the latest
//! commit whatever handle made it runs its reads inside [`from_primary`]: the caching layer does
//! so for every read that fills a cache, so that a cache never learns a value older than one it
//! dropped.

use std::future::Future;

tokio::task_local! {
    static FROM_PRIMARY: ();
}

/// Runs `f` with every read it makes served by the primary (a store without replicas reads
/// there anyway).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use mlstore_core::routing::{from_primary, reads_from_primary};
/// assert!(!reads_from_primary());
/// assert!(from_primary(async { reads_from_primary() }).await);
/// # });
/// ```
pub async fn from_primary<F: Future>(f: F) -> F::Output {
    FROM_PRIMARY.scope((), f).await
}

/// Whether the current task is inside [`from_primary`].
pub fn reads_from_primary() -> bool {
    FROM_PRIMARY.try_with(|()| ()).is_ok()
}
