//! The `origin-worker` command line. With no argument it serves (config from
//! the environment); `verify` and `gen-dcc-key` come from the
//! passport module.

use std::process::ExitCode;

use crate::{config::Config, server};

pub async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
        Some("verify") => crate::passport::cli::verify_command(&args[1..]).await,
        Some("gen-dcc-key") => crate::passport::cli::gen_key_command(),
        Some("-h" | "--help" | "help") => {
            println!("usage: origin-worker [serve]\n       origin-worker gen-dcc-key\n       origin-worker verify <file.pdf | HC1:...> [--keys ...]\n\nConfiguration: environment variables (see the README).");
            ExitCode::SUCCESS
        }
        Some(_) => {
            eprintln!("origin-worker: unknown command; try `origin-worker --help`");
            ExitCode::from(2)
        }
    }
}

async fn serve() -> ExitCode {
    server::init_tracing();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("origin-worker: refusing to start: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("origin-worker: cannot listen on {}: {e}", config.addr);
            return ExitCode::from(1);
        }
    };
    match server::run(config, listener, server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "origin-worker stopped with an error");
            ExitCode::from(1)
        }
    }
}
