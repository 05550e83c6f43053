//! `firelake consume`: a stream into the lake (and its catalog).

use std::sync::Arc;
use std::time::Duration;

use firelake_core::catalog::{Catalog, LocalCatalog, MemoryCatalog};
use firelake_core::{Cleaner, Lake, SourceDef};
use firelake_stream_consumer::kinesis::{KinesisOptions, StartPosition, consume_kinesis};
use firelake_stream_consumer::{ConsumerMetrics, ConsumerOptions, LakeWriter};

/// The catalog for `--catalog` (or, without it, the local catalog of a local lake).
pub async fn catalog_for(
    url: Option<&str>,
    lake: &Lake,
    database: &str,
) -> Result<Arc<dyn Catalog>, Box<dyn std::error::Error>> {
    Ok(match url {
        Some(u) if u.starts_with("glue://") => {
            Arc::new(firelake_aws::GlueCatalog::from_url(u).await?)
        }
        Some(u) if u.starts_with("file://") => {
            Arc::new(LocalCatalog::new(u.trim_start_matches("file://"), database))
        }
        Some(u) if u.starts_with("memory://") => Arc::new(MemoryCatalog::default()),
        Some(u) => {
            return Err(format!(
                "--catalog {u:?}: use glue://DATABASE, file://PATH.json or memory://"
            )
            .into());
        }
        None => match lake.local_root() {
            Some(root) => Arc::new(LocalCatalog::beside_lake(root, database)),
            None => {
                return Err(
                    "--catalog is needed for a lake that is not local (e.g. glue://DATABASE)"
                        .into(),
                );
            }
        },
    })
}

pub struct ConsumeConfig {
    pub from: String,
    pub lake: Lake,
    pub catalog: Arc<dyn Catalog>,
    pub start: StartPosition,
    pub common: ConsumerOptions,
    pub emf: bool,
}

pub async fn consume(
    def: Arc<SourceDef>,
    cfg: ConsumeConfig,
) -> Result<Arc<ConsumerMetrics>, Box<dyn std::error::Error>> {
    let metrics = Arc::new(ConsumerMetrics::default());
    let writer = Arc::new(LakeWriter::new(
        cfg.lake.clone(),
        cfg.catalog.clone(),
        def.clone(),
        metrics.clone(),
    ));
    let cleaner = Arc::new(Cleaner::new(def));
    if let Some(stream) = cfg.from.strip_prefix("kinesis://") {
        let client = aws_sdk_kinesis::Client::new(&firelake_aws::sdk_config().await);
        let opts = KinesisOptions {
            stream: stream.to_string(),
            start: cfg.start,
            common: cfg.common,
            shard_scan_interval: Duration::from_secs(10),
            emf: cfg.emf,
        };
        consume_kinesis(client, cleaner, writer, opts).await?;
        return Ok(metrics);
    }
    Err(format!("--from {:?}: supported sources are kinesis://STREAM (the embedded stream is `firelake run`)", cfg.from).into())
}
