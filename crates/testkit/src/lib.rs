//! Throwaway PostgreSQL and Redis servers for mlstore's tests and benchmarks.
//!
//! - [`PostgresServer::start`] runs `initdb` into a temporary directory and starts `postgres` on
//!   a free loopback port (as the `postgres` user when running as root, since PostgreSQL refuses
//!   to run as root), with durability off for speed.
//! - [`RedisServer::start`] starts `redis-server` on a free loopback port with no persistence.
//! - [`postgres`] and [`redis`] give one shared server per test process: the one named by
//!   `MLSTORE_TEST_POSTGRES_URL` / `MLSTORE_TEST_REDIS_URL` when set, else one started on first
//!   use. [`fresh_postgres_url`] gives each test a database of its own, so tests run in
//!   parallel; it is dropped once unused ([`PostgresServer::create_test_database`]), so a run's
//!   disk use stays bounded.
//!
//! A started server is bound to this process: it runs under a small shell wrapper that reads
//! this process's end of a pipe, so when the process exits (even without running destructors,
//! as with a `static`) the wrapper stops the server and deletes its directory. Dropping a
//! server stops it at once.
//!
//! When a server binary is missing, the error says which package to install.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Environment variable naming an existing PostgreSQL (a URL of a database where the user may
/// `CREATE DATABASE`), used instead of starting one.
pub const POSTGRES_URL_ENV: &str = "MLSTORE_TEST_POSTGRES_URL";
/// Environment variable naming an existing Redis, used instead of starting one.
pub const REDIS_URL_ENV: &str = "MLSTORE_TEST_REDIS_URL";

/// The role that the throwaway PostgreSQL makes authenticate with a password (every other role
/// is trusted on loopback), for tests of authentication failures. Tests create it.
pub const PASSWORD_ROLE: &str = "mlstore_password_check";

/// Why a server could not be started or used.
#[derive(Debug, Clone)]
pub struct TestkitError(String);

impl fmt::Display for TestkitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TestkitError {}

type Result<T> = std::result::Result<T, TestkitError>;

fn error(message: impl Into<String>) -> TestkitError {
    TestkitError(message.into())
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| error(format!("cannot bind a loopback port: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| error(format!("cannot read the bound port: {e}")))?
        .port();
    Ok(port)
}

/// Finds `name` on `PATH`, then in `extra` directories (glob-free prefixes checked in order).
fn find_binary(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `/usr/lib/postgresql/<N>/bin`, newest first: where Debian installs the server binaries.
fn debian_postgres_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    dirs.into_iter().map(|(_, dir)| dir).collect()
}

/// The uid and gid of a user, from `/etc/passwd`.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() == Some(&user) && fields.len() > 3 {
            Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
        } else {
            None
        }
    })
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A server process under the lifetime wrapper: it stops when `stdin` closes.
struct Supervised {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Shell wrapper: starts the server in the background, waits for its stdin (our pipe) to close,
/// then stops the server with `$STOP_SIGNAL`, waits for it and removes `$CLEANUP_DIR`.
///
/// A line `keep` before the pipe closes stops the server but keeps its directory (a replica
/// stopped to be started again).
const WRAPPER: &str = r#"trap '' INT TERM
"$@" &
pid=$!
read command
kill -s "$STOP_SIGNAL" "$pid" 2>/dev/null
wait "$pid"
[ "$command" = keep ] || rm -rf "$CLEANUP_DIR""#;

impl Supervised {
    fn spawn(
        program: &Path,
        args: &[String],
        log: &Path,
        stop_signal: &str,
        cleanup_dir: &Path,
        user: Option<(u32, u32)>,
    ) -> Result<Self> {
        let log_file = File::create(log)
            .map_err(|e| error(format!("cannot create {}: {e}", log.display())))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| error(format!("cannot clone a file handle: {e}")))?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WRAPPER)
            .arg("mlstore-testkit")
            .arg(program)
            .args(args)
            .env("STOP_SIGNAL", stop_signal)
            .env("CLEANUP_DIR", cleanup_dir)
            .stdin(Stdio::piped())
            .stdout(log_file)
            .stderr(log_err);
        if let Some((uid, gid)) = user {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(gid);
        }
        let mut child = command
            .spawn()
            .map_err(|e| error(format!("cannot start {}: {e}", program.display())))?;
        let stdin = child.stdin.take();
        Ok(Self { child, stdin })
    }

    /// Stops the server and waits for it, keeping its directory.
    fn stop_keeping_files(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"keep\n");
        }
        drop(self);
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `ready()` is true, the process exits, or `timeout` passes.
fn wait_until(
    what: &str,
    process: &mut Supervised,
    log: &Path,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(status) = process.exited() {
            return Err(error(format!(
                "{what} exited ({status}) before it was ready; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )));
        }
        if Instant::now() > deadline {
            return Err(error(format!(
                "{what} was not ready after {timeout:?}; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A PostgreSQL server: started by [`PostgresServer::start`] or named by a URL.
pub struct PostgresServer {
    admin_url: String,
    process: Option<Supervised>,
}

impl fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresServer")
            .field("admin_url", &mlstore_core::redact_url(&self.admin_url))
            .field("started_here", &self.process.is_some())
            .finish()
    }
}

/// The user PostgreSQL runs as: `postgres` when this process is root (PostgreSQL refuses to
/// run as root), else this process's own (`None`).
fn postgres_user() -> Result<Option<(u32, u32)>> {
    if !running_as_root() {
        return Ok(None);
    }
    user_ids("postgres").map(Some).ok_or_else(|| {
        error(
            "running as root, PostgreSQL must run as another user and there is no \
             `postgres` user (Debian: apt-get install postgresql creates it)",
        )
    })
}

/// A new temporary directory for a server, owned by `user` when given.
fn server_root(prefix: &str, user: Option<(u32, u32)>) -> Result<PathBuf> {
    let root = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| error(format!("cannot create a temporary directory: {e}")))?
        .keep();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&root, Some(uid), Some(gid))
            .map_err(|e| error(format!("cannot give {} to postgres: {e}", root.display())))?;
    }
    Ok(root)
}

/// Runs a set-up command (as `user` when given); on failure removes `root` and says what the
/// command printed.
fn run_setup(mut command: Command, user: Option<(u32, u32)>, root: &Path) -> Result<()> {
    command.stdin(Stdio::null());
    if let Some((uid, gid)) = user {
        use std::os::unix::process::CommandExt;
        command.uid(uid).gid(gid);
    }
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .map_err(|e| error(format!("cannot run {program}: {e}")))?;
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(root);
        return Err(error(format!(
            "{program} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(())
}

/// The arguments of `postgres` for a throwaway server in `root` (data in `data`) on `port`;
/// `durable` turns fsync, synchronous commit and full-page writes on; `extra` settings follow.
fn server_args(data: &Path, port: u16, root: &Path, durable: bool, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "-D",
        &data.to_string_lossy(),
        "-p",
        &port.to_string(),
        "-k",
        &root.to_string_lossy(),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        if durable { "fsync=on" } else { "fsync=off" },
        "-c",
        if durable {
            "synchronous_commit=on"
        } else {
            "synchronous_commit=off"
        },
        "-c",
        if durable {
            "full_page_writes=on"
        } else {
            "full_page_writes=off"
        },
        "-c",
        // Each CREATE DATABASE logs its whole template (about 7.5 MiB) to WAL; a small WAL
        // keeps the test server's disk use down (checkpoints are cheap with fsync off).
        if durable {
            "max_wal_size=1GB"
        } else {
            "max_wal_size=256MB"
        },
        "-c",
        // Replicas (PostgresReplica) stream from this server without a slot: keep enough WAL
        // that a base backup or a replica stopped for a while still finds what it needs while
        // parallel tests write.
        "wal_keep_size=512MB",
        "-c",
        "max_connections=400",
        "-c",
        "shared_buffers=128MB",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for setting in extra {
        args.push("-c".into());
        args.push((*setting).to_owned());
    }
    args
}

impl PostgresServer {
    /// Uses an existing server; `admin_url` names a database where the user may create
    /// databases.
    pub fn existing(admin_url: impl Into<String>) -> Self {
        Self {
            admin_url: admin_url.into(),
            process: None,
        }
    }

    /// Runs `initdb` into a new temporary directory and starts `postgres` on a free loopback
    /// port, with fsync and synchronous commit off (a throwaway server).
    ///
    /// # Errors
    /// When `initdb`/`postgres` are missing (the message says what to install), when running as
    /// root without a `postgres` user, or when the server does not start within 60 s.
    pub fn start() -> Result<Self> {
        Self::start_with(false)
    }

    /// As [`start`](Self::start), but with fsync, synchronous commit and full-page writes on,
    /// as a production server keeps them: for figures that depend on what a commit costs
    /// (each commit waits for its WAL to reach the disk).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_durable() -> Result<Self> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Result<Self> {
        let dirs = debian_postgres_dirs();
        let missing = || {
            error(
                "PostgreSQL server binaries (initdb, postgres) not found on PATH or in \
                 /usr/lib/postgresql/*/bin: install them (Debian: apt-get install postgresql), or \
                 set MLSTORE_TEST_POSTGRES_URL to an existing server",
            )
        };
        let initdb = find_binary("initdb", &dirs).ok_or_else(missing)?;
        let postgres = find_binary("postgres", &dirs).ok_or_else(missing)?;
        let user = postgres_user()?;
        let root = server_root("mlstore-postgres-", user)?;
        let data = root.join("data");
        let mut init = Command::new(&initdb);
        init.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run_setup(init, user, &root)?;
        // Trust on loopback, except for the role that authentication tests use, which must give
        // its password (a wrong one is refused with SQLSTATE 28P01).
        let hba = data.join("pg_hba.conf");
        let trusted = std::fs::read_to_string(&hba)
            .map_err(|e| error(format!("cannot read {}: {e}", hba.display())))?;
        std::fs::write(
            &hba,
            format!("host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n{trusted}"),
        )
        .map_err(|e| error(format!("cannot write {}: {e}", hba.display())))?;
        let port = free_port()?;
        let args = server_args(&data, port, &root, durable, &[]);
        let log = root.join("postgres.log");
        let mut process = Supervised::spawn(&postgres, &args, &log, "INT", &root, user)?;
        wait_until(
            "postgres",
            &mut process,
            &log,
            Duration::from_secs(60),
            || {
                std::fs::read_to_string(&log)
                    .map(|text| text.contains("ready to accept connections"))
                    .unwrap_or(false)
            },
        )?;
        Ok(Self {
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            process: Some(process),
        })
    }

    /// The URL of the `postgres` database (or the one given), for administration.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// Creates an empty database of its own and returns its URL. It stays until the server
    /// stops (the benchmark's databases live as long as its run).
    ///
    /// # Errors
    /// When the server refuses the connection or the `CREATE DATABASE`.
    pub async fn create_database(&self) -> Result<String> {
        let name = format!("mlstore_test_{}", uuid::Uuid::new_v4().simple());
        self.create_named(&name, false).await
    }

    /// Creates an empty database for one test and returns its URL, as
    /// [`PostgresServer::create_database`] does, but one that later calls drop once nobody has
    /// been connected to it for a while.
    ///
    /// A test suite creates hundreds of databases (a property test makes one per case), and
    /// each is a copy of `template1` of about 7.5 MiB: kept to the end, a whole run would hold
    /// gigabytes on disk. So each call first drops the earlier test databases that are older
    /// than [`UNUSED_DATABASE_AGE`] and have no connection (the age is in the name, which every
    /// process sharing the server can read; `DROP DATABASE` itself refuses a database in use).
    ///
    /// # Errors
    /// When the server refuses the connection or the `CREATE DATABASE`.
    pub async fn create_test_database(&self) -> Result<String> {
        let created = unix_seconds();
        let name = format!(
            "{REAPABLE_PREFIX}{created}_{}",
            uuid::Uuid::new_v4().simple()
        );
        self.create_named(&name, true).await
    }

    async fn create_named(&self, name: &str, reap: bool) -> Result<String> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .map_err(|e| error(format!("cannot connect to {}: {e}", self.redacted())))?;
        if reap {
            drop_unused_test_databases(&mut conn).await;
        }
        // A database name cannot be a bind parameter; this one is generated: [a-z0-9_] only.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .map_err(|e| error(format!("CREATE DATABASE on {}: {e}", self.redacted())))?;
        conn.close().await.ok();
        Ok(with_database(&self.admin_url, name))
    }

    fn redacted(&self) -> String {
        mlstore_core::redact_url(&self.admin_url)
    }
}

/// A streaming replica of a PostgreSQL server: `pg_basebackup -R` of the primary into a
/// directory of its own, then `postgres` on it on a free loopback port (hot standby: it answers
/// reads). It can be stopped and started again (its data is kept in between) and is removed when
/// dropped or when this process exits.
pub struct PostgresReplica {
    port: u16,
    root: PathBuf,
    postgres: PathBuf,
    args: Vec<String>,
    user: Option<(u32, u32)>,
    process: Option<Supervised>,
}

impl fmt::Debug for PostgresReplica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresReplica")
            .field("port", &self.port)
            .field("running", &self.process.is_some())
            .finish()
    }
}

impl PostgresReplica {
    /// Takes a base backup of `primary` (any server this process can reach as `postgres` on
    /// loopback with replication allowed, as the throwaway one is) and starts a replica that
    /// streams from it.
    ///
    /// # Errors
    /// When the binaries are missing, the backup fails, or the replica is not ready in 60 s.
    pub fn start(primary: &PostgresServer) -> Result<Self> {
        let dirs = debian_postgres_dirs();
        let missing = || error("pg_basebackup/postgres not found: install postgresql");
        let basebackup = find_binary("pg_basebackup", &dirs).ok_or_else(missing)?;
        let postgres = find_binary("postgres", &dirs).ok_or_else(missing)?;
        let user = postgres_user()?;
        let primary_port = primary
            .admin_url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| error("the primary's URL has no port"))?;
        // A busy primary may recycle WAL the backup still needed; such a backup is retried.
        let mut attempt = 0;
        let (root, data) = loop {
            attempt += 1;
            let root = server_root("mlstore-replica-", user)?;
            let data = root.join("data");
            let mut backup = Command::new(&basebackup);
            backup
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &primary_port.to_string(),
                    "-U",
                    "postgres",
                ])
                .arg("-D")
                .arg(&data)
                .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]);
            match run_setup(backup, user, &root) {
                Ok(()) => break (root, data),
                Err(e) if attempt < 3 => {
                    eprintln!("mlstore-testkit: base backup failed, trying again: {e}");
                }
                Err(e) => return Err(e),
            }
        };
        let port = free_port()?;
        let args = server_args(
            &data,
            port,
            &root,
            false,
            &["hot_standby=on", "hot_standby_feedback=on"],
        );
        let mut replica = Self {
            port,
            root,
            postgres,
            args,
            user,
            process: None,
        };
        replica.restart()?;
        Ok(replica)
    }

    /// `host:port` of the replica, as a store's `?replica=` takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `url` (a database URL of the primary) with `?replica=` naming this replica.
    pub fn replicated_url(&self, url: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}replica={}", self.address())
    }

    /// Whether the replica runs.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Stops the replica (fast shutdown), keeping its data for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            process.stop_keeping_files();
        }
    }

    /// Starts a stopped replica again on the same port; it catches up from the primary.
    ///
    /// # Errors
    /// When it is not ready to accept reads within 60 s.
    pub fn restart(&mut self) -> Result<()> {
        if self.process.is_some() {
            return Ok(());
        }
        let log = self.root.join(format!("replica-{}.log", unix_seconds()));
        let mut process = Supervised::spawn(
            &self.postgres,
            &self.args,
            &log,
            "INT",
            &self.root,
            self.user,
        )?;
        wait_until(
            "postgres replica",
            &mut process,
            &log,
            Duration::from_secs(60),
            || {
                std::fs::read_to_string(&log)
                    .map(|text| text.contains("ready to accept read-only connections"))
                    .unwrap_or(false)
            },
        )?;
        self.process = Some(process);
        Ok(())
    }

    /// Pauses WAL replay (`pg_wal_replay_pause()`): from now on the replica falls behind by
    /// whatever the primary writes, until [`resume_replay`](Self::resume_replay).
    ///
    /// # Errors
    /// When the replica cannot be reached.
    pub async fn pause_replay(&self) -> Result<()> {
        self.admin("SELECT pg_wal_replay_pause()").await
    }

    /// Resumes WAL replay (`pg_wal_replay_resume()`).
    ///
    /// # Errors
    /// When the replica cannot be reached.
    pub async fn resume_replay(&self) -> Result<()> {
        self.admin("SELECT pg_wal_replay_resume()").await
    }

    async fn admin(&self, statement: &'static str) -> Result<()> {
        use sqlx::Connection;
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut conn = sqlx::PgConnection::connect(&url)
            .await
            .map_err(|e| error(format!("cannot connect to the replica: {e}")))?;
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .map_err(|e| error(format!("{statement} on the replica: {e}")))?;
        conn.close().await.ok();
        Ok(())
    }

    /// Waits until `database` (created on the primary) can be reached on the replica.
    ///
    /// # Errors
    /// When it cannot within `timeout`.
    pub async fn wait_for_database(&self, database: &str, timeout: Duration) -> Result<()> {
        use sqlx::Connection;
        let url = format!("postgres://postgres@127.0.0.1:{}/{database}", self.port);
        let deadline = Instant::now() + timeout;
        loop {
            match sqlx::PgConnection::connect(&url).await {
                Ok(conn) => {
                    conn.close().await.ok();
                    return Ok(());
                }
                Err(e) if Instant::now() > deadline => {
                    return Err(error(format!(
                        "database {database} not on the replica: {e}"
                    )))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

impl Drop for PostgresReplica {
    fn drop(&mut self) {
        if self.process.take().is_none() {
            // Stopped: the wrapper kept the directory.
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

static REPLICA: OnceLock<std::result::Result<PostgresReplica, TestkitError>> = OnceLock::new();

/// A streaming replica of [`postgres`], started on first use and shared by this test process.
///
/// # Panics
/// When it cannot be started.
pub fn postgres_replica() -> &'static PostgresReplica {
    match REPLICA.get_or_init(|| PostgresReplica::start(postgres())) {
        Ok(replica) => replica,
        Err(e) => panic!("no PostgreSQL replica for the tests: {e}"),
    }
}

/// A new, empty database on [`postgres`], a replica of its own (for a test that pauses or
/// stops it), and the database's URL with `?replica=` naming that replica, once it has the
/// database.
///
/// # Panics
/// When no server or replica can be had.
pub async fn fresh_database_with_own_replica() -> (PostgresReplica, String) {
    let url = fresh_postgres_url().await;
    let replica = tokio::task::spawn_blocking(|| PostgresReplica::start(postgres()))
        .await
        .expect("the replica's start")
        .unwrap_or_else(|e| panic!("{e}"));
    replica
        .wait_for_database(database_of(&url), Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let replicated = replica.replicated_url(&url);
    (replica, replicated)
}

/// The database a URL names (its path).
fn database_of(url: &str) -> &str {
    let path = url.split('?').next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or_default()
}

/// A new, empty database on [`postgres`] and its URL with `?replica=` naming
/// [`postgres_replica`], once the replica has it.
///
/// # Panics
/// When no server or replica can be had.
pub async fn fresh_replicated_postgres_url() -> String {
    let url = fresh_postgres_url().await;
    let replica = postgres_replica();
    replica
        .wait_for_database(database_of(&url), Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    replica.replicated_url(&url)
}

/// How long a test database (from [`PostgresServer::create_test_database`]) must have existed,
/// with no connection to it, before a later call drops it. A test connects to its database at
/// once and its pool keeps connections open for minutes, so a database older than this with no
/// connection belongs to a test that has ended.
pub const UNUSED_DATABASE_AGE: Duration = Duration::from_secs(20);

/// Names of test databases that may be dropped once unused; the creation time in Unix seconds
/// follows, then `_` and a random suffix.
const REAPABLE_PREFIX: &str = "mlstore_tmp_";

/// Seconds since the Unix epoch, the clock the test databases' names carry.
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// When this process last looked for unused test databases: the look is a catalog query, so it
/// runs at most once every few seconds.
static LAST_REAP: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);

/// Drops the test databases older than [`UNUSED_DATABASE_AGE`] that nobody is connected to.
/// Best effort: a database someone connects to in between is refused by `DROP DATABASE` and
/// left for a later call; errors are ignored (the worst case is disk held until the end).
async fn drop_unused_test_databases(conn: &mut sqlx::PgConnection) {
    {
        let mut last = LAST_REAP.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < Duration::from_secs(5)) {
            return;
        }
        *last = Some(Instant::now());
    }
    let now = unix_seconds();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT d.datname::text FROM pg_database d \
         WHERE starts_with(d.datname::text, $1) \
         AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)",
    )
    .bind(REAPABLE_PREFIX)
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in names {
        let created = name[REAPABLE_PREFIX.len()..]
            .split('_')
            .next()
            .and_then(|secs| secs.parse::<u64>().ok());
        let old = created.is_some_and(|c| now.saturating_sub(c) >= UNUSED_DATABASE_AGE.as_secs());
        let safe = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if old && safe {
            // Generated names only ([a-z0-9_], checked above); not a bind parameter in DDL.
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}

/// `url` with its database (the path) replaced by `database`.
///
/// ```
/// use mlstore_testkit::with_database;
/// assert_eq!(
///     with_database("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "t1"),
///     "postgres://postgres@127.0.0.1:5432/t1?sslmode=disable"
/// );
/// ```
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let without_path = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{without_path}/{database}?{q}"),
        None => format!("{without_path}/{database}"),
    }
}

/// A Redis server: started by [`RedisServer::start`] or named by a URL.
pub struct RedisServer {
    url: String,
    port: u16,
    host: String,
    process: Option<Supervised>,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("url", &mlstore_core::redact_url(&self.url))
            .field("started_here", &self.process.is_some())
            .finish()
    }
}

/// Sends `PING` and expects `+PONG`.
fn redis_ping(host: &str, port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((host, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

impl RedisServer {
    /// Uses an existing server at `url` (`redis://host:port/db`).
    pub fn existing(url: impl Into<String>) -> Self {
        let url = url.into();
        let authority = url
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split(['/', '?'])
            .next()
            .unwrap_or("");
        let hostport = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().unwrap_or(6379)),
            None => (hostport.to_string(), 6379),
        };
        Self {
            url,
            port,
            host,
            process: None,
        }
    }

    /// Starts `redis-server` on a free loopback port, with no persistence.
    ///
    /// # Errors
    /// When `redis-server` is missing (the message says what to install) or does not answer
    /// `PING` within 30 s.
    pub fn start() -> Result<Self> {
        let port = free_port()?;
        let process = Self::spawn(port)?;
        Ok(Self {
            url: format!("redis://127.0.0.1:{port}/0"),
            port,
            host: "127.0.0.1".into(),
            process: Some(process),
        })
    }

    fn spawn(port: u16) -> Result<Supervised> {
        let binary = find_binary("redis-server", &[]).ok_or_else(|| {
            error(
                "redis-server not found on PATH: install it (Debian: apt-get install \
                 redis-server), or set MLSTORE_TEST_REDIS_URL to an existing server",
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("mlstore-redis-")
            .tempdir()
            .map_err(|e| error(format!("cannot create a temporary directory: {e}")))?
            .keep();
        let args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--dir",
            &dir.to_string_lossy(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let log = dir.join("redis.log");
        let mut process = Supervised::spawn(&binary, &args, &log, "TERM", &dir, None)?;
        wait_until(
            "redis-server",
            &mut process,
            &log,
            Duration::from_secs(30),
            || redis_ping("127.0.0.1", port),
        )?;
        Ok(process)
    }

    /// The server's URL, `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the server answers `PING`.
    pub fn is_alive(&self) -> bool {
        redis_ping(&self.host, self.port)
    }

    /// Stops a server started here (to test what happens when Redis goes away); the port stays
    /// reserved for [`RedisServer::restart`].
    ///
    /// # Errors
    /// When the server was not started here.
    pub fn stop(&mut self) -> Result<()> {
        if self.process.take().is_none() {
            return Err(error("this Redis was not started by the testkit"));
        }
        Ok(())
    }

    /// Starts a stopped server again on the same port.
    ///
    /// # Errors
    /// As [`RedisServer::start`].
    pub fn restart(&mut self) -> Result<()> {
        self.process = Some(Self::spawn(self.port)?);
        Ok(())
    }
}

static POSTGRES: OnceLock<std::result::Result<PostgresServer, TestkitError>> = OnceLock::new();
static REDIS: OnceLock<std::result::Result<RedisServer, TestkitError>> = OnceLock::new();

/// The PostgreSQL server of this test process: `MLSTORE_TEST_POSTGRES_URL` when set, else one
/// started on first use (and stopped when the process exits).
///
/// # Panics
/// When no server can be had; the message says what to install.
pub fn postgres() -> &'static PostgresServer {
    let server = POSTGRES.get_or_init(|| match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.is_empty() => Ok(PostgresServer::existing(url)),
        _ => PostgresServer::start(),
    });
    match server {
        Ok(server) => server,
        Err(e) => panic!("no PostgreSQL for the tests: {e}"),
    }
}

/// A new, empty database on the test process's PostgreSQL server.
///
/// # Panics
/// When no server can be had or the database cannot be created.
pub async fn fresh_postgres_url() -> String {
    postgres()
        .create_test_database()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The Redis server of this test process: `MLSTORE_TEST_REDIS_URL` when set, else one started
/// on first use. Tests sharing it keep apart by key namespace.
///
/// # Panics
/// When no server can be had; the message says what to install.
pub fn redis() -> &'static RedisServer {
    let server = REDIS.get_or_init(|| match std::env::var(REDIS_URL_ENV) {
        Ok(url) if !url.is_empty() => Ok(RedisServer::existing(url)),
        _ => RedisServer::start(),
    });
    match server {
        Ok(server) => server,
        Err(e) => panic!("no Redis for the tests: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_in_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres", "t1"),
            "postgres://u:p@h:5/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "t1"), "postgres://h:5/t1");
    }

    #[test]
    fn redis_url_is_parsed() {
        let r = RedisServer::existing("redis://:pw@cache.local:6380/2");
        assert_eq!((r.host.as_str(), r.port), ("cache.local", 6380));
        assert!(!format!("{r:?}").contains("pw"));
    }
}
