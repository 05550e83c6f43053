//! Log output: `--log-format text|json` (FIRELAKE_LOG_FORMAT) on stderr, with ANSI colours only
//! when stderr is a terminal (piped logs and log collectors get plain text).

use std::io::IsTerminal;
use std::sync::OnceLock;

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for CloudWatch Logs Insights, Loki, ...).
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Chosen once, before any command runs.
pub fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// The subscriber for stderr: RUST_LOG, else `default` (a level or directives).
pub fn init(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format() {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The line that ends a failed run: `firelake: error: ...`, or a JSON object in JSON mode.
pub fn error_line(message: &str, code: u8) -> String {
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match format() {
        LogFormat::Text => format!("firelake: error: {message}"),
        LogFormat::Json => {
            let mut timestamp = String::new();
            firelake_core::time::format_ms(firelake_core::stream::now_ms(), &mut timestamp);
            serde_json::json!({
                "timestamp": timestamp,
                "level": "ERROR",
                "fields": { "message": message, "exit_code": code },
                "target": "firelake",
            })
            .to_string()
        }
    }
}
