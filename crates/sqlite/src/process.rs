//! Process-wide SQLite settings, applied once before the first connection of the process.
//!
//! Two of SQLite's shared structures serialize point reads across threads:
//!
//! - **Memory statistics** are kept under one global mutex taken on every allocation; mlstore
//!   never reads them, so they are off.
//! - **Mutexes that sleep at once.** Each read transaction on a WAL file takes and releases a
//!   shared lock on a read mark of the WAL index and on the file, under mutexes shared by every
//!   connection of the process to that file (`unixShmLock`, `unixLock`), sometimes with an
//!   `fcntl` call inside. SQLite's POSIX mutexes put a thread that finds one held to sleep in
//!   the kernel at once, and the holder then pays a wake-up on release: with reads of a few
//!   microseconds on two threads, profiles of `mlstore-bench --clients` showed the futex wake
//!   in `unixShmLock` as the largest single cost, and 8 clients served fewer reads than 1.
//!   SQLite lets an application supply its mutexes (`SQLITE_CONFIG_MUTEX`): mlstore keeps
//!   SQLite's own and only changes how one is entered, trying it a few times with a short
//!   pause before waiting as SQLite would (critical sections here last well under a
//!   microsecond, a sleep and a wake-up several).
//!
//! SQLite accepts both settings only before it initializes. In a process that used SQLite
//! before mlstore's first connection, they change nothing and SQLite runs as it would anyway
//! ([`spinning_mutexes`] says which).

use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use rusqlite::ffi;

/// SQLite's own mutex methods, as it installed them; the entry point wraps them.
static SQLITE_MUTEX: OnceLock<ffi::sqlite3_mutex_methods> = OnceLock::new();

/// Set once the spinning entry is installed.
static SPINNING: AtomicBool = AtomicBool::new(false);

/// Whether SQLite's mutexes in this process are entered by mlstore's spinning entry (see the
/// module docs of `process`). False until the first store is opened, and for good in a process that
/// used SQLite before it.
pub fn spinning_mutexes() -> bool {
    SPINNING.load(Ordering::Acquire)
}

/// Tries of a held mutex before waiting for it the way SQLite does; between them 4, 8 and 16
/// pauses (`spin_loop`): 28 in all, shorter than a sleep and a wake-up.
const TRIES: u32 = 4;

/// Applies the settings, once per process, before the first connection.
///
/// `sqlite3_config` is not thread-safe: the settings are made when mlstore opens SQLite first,
/// and a program that also uses SQLite without mlstore should open its first store before
/// other threads use SQLite. (Were another thread to initialize SQLite meanwhile, the mutex
/// methods it reads are either SQLite's or the same methods with only the entry point, one
/// pointer, replaced, and both work on the same mutexes.)
pub(crate) fn configure() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int argument. Before sqlite3_initialize
        // the call sets the option; after it, SQLite returns SQLITE_MISUSE and changes
        // nothing. Every connection of this crate is opened after this call returns.
        let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) };
        if rc != ffi::SQLITE_OK {
            return;
        }
        // SAFETY: SQLite is not initialized (the call above succeeded). Allocating a static
        // mutex runs only SQLite's mutex set-up (sqlite3MutexInit), which copies SQLite's own
        // mutex methods into its configuration without initializing the rest of SQLite, where
        // SQLITE_CONFIG_GETMUTEX reads them. The copy with one entry point replaced is
        // installed with SQLITE_CONFIG_MUTEX (SQLite copies the struct) and used from then on:
        // every other method, and so every mutex, stays SQLite's. Both configuration calls
        // take one pointer to a `sqlite3_mutex_methods`; a static mutex is never freed.
        unsafe {
            if ffi::sqlite3_mutex_alloc(ffi::SQLITE_MUTEX_STATIC_APP1).is_null() {
                return;
            }
            let mut methods: ffi::sqlite3_mutex_methods = std::mem::zeroed();
            let rc = ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_GETMUTEX,
                &mut methods as *mut ffi::sqlite3_mutex_methods,
            );
            if rc != ffi::SQLITE_OK
                || methods.xMutexAlloc.is_none()
                || methods.xMutexEnter.is_none()
                || methods.xMutexTry.is_none()
            {
                return;
            }
            let mut spinning = methods;
            spinning.xMutexEnter = Some(enter);
            if SQLITE_MUTEX.set(methods).is_err() {
                return;
            }
            let rc = ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_MUTEX,
                &spinning as *const ffi::sqlite3_mutex_methods,
            );
            if rc == ffi::SQLITE_OK {
                SPINNING.store(true, Ordering::Release);
            } else {
                tracing::debug!(rc, "SQLite kept its own mutex entry");
            }
        }
    });
}

/// Enters `mutex`: tries it a few times, pausing a little longer after each try, then waits
/// for it as SQLite does. A successful try is an entry with the same meaning (SQLite's try of
/// a recursive mutex succeeds for its holder, as its entry does).
unsafe extern "C" fn enter(mutex: *mut ffi::sqlite3_mutex) {
    // Installed only after SQLITE_MUTEX was set with both methods present; returning without
    // the mutex would be unsound, so the impossible case stops the process.
    let Some(methods) = SQLITE_MUTEX.get() else {
        std::process::abort()
    };
    let (Some(try_enter), Some(wait)) = (methods.xMutexTry, methods.xMutexEnter) else {
        std::process::abort()
    };
    for attempt in 0..TRIES {
        // SAFETY: `mutex` comes from SQLite's own allocation method, as the callers' do.
        if unsafe { try_enter(mutex) } == ffi::SQLITE_OK {
            return;
        }
        if attempt + 1 < TRIES {
            for _ in 0..(4u32 << attempt) {
                std::hint::spin_loop();
            }
        }
    }
    // SAFETY: as above.
    unsafe { wait(mutex) }
}
