//! `registry-sim`: a stand-in for the third-party registry (see the library).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    registry_sim::main().await
}
