//! `--metrics-addr`: a tiny HTTP endpoint serving the consumer's counters in the Prometheus
//! text format on any path (plain tokio TCP: one request per connection, then close).

use std::net::SocketAddr;
use std::sync::Arc;

use firelake_core::SourceDef;
use firelake_stream_consumer::ConsumerMetrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Bind `addr` and serve `metrics` until the process ends.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<ConsumerMetrics>,
    def: Arc<SourceDef>,
) -> Result<(), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--metrics-addr {addr}: cannot listen ({e}); pick a free port"))?;
    tracing::info!(%addr, "serving Prometheus metrics");
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            let (metrics, def) = (metrics.clone(), def.clone());
            tokio::spawn(async move {
                // The request itself does not matter: read its head, answer, close.
                let mut buf = [0u8; 2048];
                let _ = conn.read(&mut buf).await;
                let body = firelake_stream_consumer::prometheus::render(&metrics, &def);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Ok(())
}
