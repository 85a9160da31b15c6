//! `mlstore serve`: the store over HTTP (`mlstore::server`).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use mlstore::env;
use mlstore::server::{Server, ServerConfig, Tokens};

use crate::error::{CliError, Result};
use crate::{Access, Global};

/// Options of `mlstore serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0: a free port, printed at start).
    #[arg(long, env = env::LISTEN, default_value = mlstore::server::DEFAULT_LISTEN, value_name = "ADDR")]
    listen: SocketAddr,
    /// File of API tokens, one per line: NAME SCOPE SECRET (scope read, write or admin).
    #[arg(long, env = env::TOKENS_FILE, value_name = "FILE")]
    tokens: Option<std::path::PathBuf>,
    /// Serve without tokens on a non-loopback address (without tokens the server listens on
    /// loopback only).
    #[arg(long)]
    insecure_no_auth: bool,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = mlstore::server::DEFAULT_MAX_BODY, value_name = "BYTES")]
    max_body: usize,
    /// Longest a request may take, in seconds (then 504).
    #[arg(long, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Requests served at once; more wait their turn (503 after the timeout).
    #[arg(long, default_value_t = mlstore::server::DEFAULT_MAX_IN_FLIGHT, value_name = "N")]
    max_in_flight: usize,
    /// Longest a request waits for a turn when --max-in-flight are being served, in
    /// milliseconds (then 503 with Retry-After).
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    queue_timeout: u64,
    /// Log format: one line per request, as text or JSON.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
}

/// Tokens from `--tokens FILE` and the `MLSTORE_TOKENS` variable.
fn tokens(args: &ServeArgs) -> Result<Tokens> {
    let mut text = String::new();
    if let Some(path) = &args.tokens {
        text = std::fs::read_to_string(path).map_err(|e| {
            CliError::failed(format!(
                "cannot read the tokens file {}: {e}",
                path.display()
            ))
        })?;
        text.push('\n');
    }
    if let Ok(more) = std::env::var(env::TOKENS) {
        text.push_str(&more);
    }
    Ok(Tokens::parse(&text)?)
}

fn init_logs(format: &str) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(false);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}

pub(crate) async fn serve(g: &Global, args: ServeArgs) -> Result<()> {
    init_logs(&args.log_format);
    let tokens = tokens(&args)?;
    let config = ServerConfig::default()
        .listen(args.listen)
        .tokens(tokens.clone())
        .insecure_no_auth(args.insecure_no_auth)
        .max_body(args.max_body)
        .timeout(Duration::from_secs(args.timeout))
        .max_in_flight(args.max_in_flight)
        .queue_timeout(Duration::from_millis(args.queue_timeout));
    let handle = g.open(Access::Write).await?.with_metrics();
    let backend = handle.backend().name();
    let server = Server::bind(handle, config).await?;
    let auth = if tokens.is_empty() {
        "no tokens (loopback only, or --insecure-no-auth)".to_owned()
    } else {
        format!("{} token(s)", tokens.len())
    };
    eprintln!(
        "mlstore serve: listening on http://{} ({backend}, {auth}); Ctrl-C or SIGTERM stops",
        server.local_addr()
    );
    server.run_until(mlstore::server::shutdown_signal()).await?;
    eprintln!("mlstore serve: stopped");
    Ok(())
}
