//! `firelake schema`: a source definition as Terraform JSON, Glue columns, Athena DDL or the
//! Arrow schema (the rendering is `firelake_core::schema_export`, shared with the tests that
//! hold `infra/generated/` to the definitions).

use std::path::PathBuf;

use clap::Args;
use firelake_core::schema_export::{ExportOptions, SchemaFormat, render};

use crate::SourceArgs;

#[derive(Args, Clone)]
pub struct SchemaArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// terraform (a .tf.json file for infra/generated/), glue-columns, athena-ddl, arrow, or
    /// dbt (a dbt sources file for transform/models/sources/).
    #[arg(long, env = "FIRELAKE_FORMAT", value_parser = parse_format)]
    format: SchemaFormat,
    /// Athena DDL: the table's folder, e.g. s3://BUCKET/users/.
    #[arg(long, env = "FIRELAKE_LOCATION")]
    location: Option<String>,
    /// Athena DDL and dbt: the database.
    #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
    database: String,
    /// Athena DDL: add partition projection on the partition column (for the raw table
    /// Firehose writes, whose partitions nobody registers).
    #[arg(long, env = "FIRELAKE_PROJECTION")]
    projection: bool,
    /// Write to this file instead of stdout.
    #[arg(long, short, env = "FIRELAKE_OUTPUT")]
    output: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<SchemaFormat, String> {
    SchemaFormat::parse(s).ok_or_else(|| {
        format!(
            "unknown format {s:?}: use one of {}",
            SchemaFormat::NAMES.join(", ")
        )
    })
}

pub fn run(a: SchemaArgs) -> Result<(), Box<dyn std::error::Error>> {
    let def = a.source.load()?;
    let opts = ExportOptions {
        database: Some(a.database),
        location: a.location,
        projection: a.projection,
    };
    let text = render(&def, a.format, &opts)?;
    match a.output {
        Some(path) => std::fs::write(&path, text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(text.as_bytes())?;
        }
    }
    Ok(())
}
