//! `registry-sim`: stand-in for the third-party registry (placeholder until the origin issue lands).
use axum::{routing::get, Router};

#[tokio::main]
async fn main() {
    let addr = std::env::var("REGISTRY_SIM_ADDR").unwrap_or_else(|_| "127.0.0.1:8789".into());
    let app = Router::new().route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
