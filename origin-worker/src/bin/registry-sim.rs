//! `registry-sim`: a stand-in for the third-party registry (see `sim`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    origin_worker::sim::main().await
}
