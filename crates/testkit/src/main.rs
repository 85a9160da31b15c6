//! `mlstore-testkit run -- COMMAND...`: starts a throwaway PostgreSQL and Redis (unless
//! `MLSTORE_TEST_POSTGRES_URL` / `MLSTORE_TEST_REDIS_URL` name existing ones), runs the command
//! with both variables set, stops what it started, and exits with the command's status.

use std::process::{Command, ExitCode};

use mlstore_testkit::{PostgresServer, RedisServer, POSTGRES_URL_ENV, REDIS_URL_ENV};

const USAGE: &str = "usage: mlstore-testkit run -- COMMAND [ARGS...]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.as_slice() {
        [run, dashes, command @ ..] if run == "run" && dashes == "--" && !command.is_empty() => {
            command
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());

    let postgres = match from_env(POSTGRES_URL_ENV) {
        Some(url) => PostgresServer::existing(url),
        None => match PostgresServer::start() {
            Ok(server) => server,
            Err(e) => {
                eprintln!("mlstore-testkit: cannot start PostgreSQL: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let redis = match from_env(REDIS_URL_ENV) {
        Some(url) => RedisServer::existing(url),
        None => match RedisServer::start() {
            Ok(server) => server,
            Err(e) => {
                eprintln!("mlstore-testkit: cannot start Redis: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    eprintln!("mlstore-testkit: PostgreSQL {postgres:?}");
    eprintln!("mlstore-testkit: Redis {redis:?}");

    let status = Command::new(&command[0])
        .args(&command[1..])
        .env(POSTGRES_URL_ENV, postgres.admin_url())
        .env(REDIS_URL_ENV, redis.url())
        .status();
    // Stop the servers (their Drop) before reporting.
    drop(redis);
    drop(postgres);
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("mlstore-testkit: {} exited with {status}", command[0]);
            ExitCode::from(
                status
                    .code()
                    .and_then(|c| u8::try_from(c).ok())
                    .unwrap_or(1),
            )
        }
        Err(e) => {
            eprintln!("mlstore-testkit: cannot run {}: {e}", command[0]);
            ExitCode::FAILURE
        }
    }
}
