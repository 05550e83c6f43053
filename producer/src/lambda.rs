//! The producer Lambda's settings: environment variables with the names, units and defaults of
//! `firelake produce`'s (tests/env_twins.rs holds them together), so a Lambda configured from
//! the CLI's documentation means what it says.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use firelake_core::duration::parse_duration;

#[derive(Parser, Debug, Clone)]
pub struct TickConfig {
    #[arg(long, env = "FIRELAKE_SOURCE", default_value = "users")]
    pub source: String,
    #[arg(long, env = "FIRELAKE_SOURCE_DIR")]
    pub source_dir: Option<PathBuf>,
    #[arg(long, env = "FIRELAKE_TO")]
    pub to: String,
    #[arg(long, env = "FIRELAKE_SOURCE_URL")]
    pub source_url: Option<String>,
    #[arg(long, env = "FIRELAKE_STATE")]
    pub state: String,
    #[arg(long, env = "FIRELAKE_PUBLISH_DEADLINE", default_value = "30s", value_parser = parse_duration)]
    pub publish_deadline: Duration,
    #[arg(long, env = "FIRELAKE_HTTP_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub http_timeout: Duration,
}
