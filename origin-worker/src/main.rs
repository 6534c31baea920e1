//! `origin-worker`: the protected application. All of it is in the library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    origin_worker::cli::main().await
}
