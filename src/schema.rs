//! `firelake schema`: a source definition as Terraform JSON, Glue columns, Athena DDL or the
//! Arrow schema (the rendering is `firelake_core::schema_export`, shared with the tests that
//! hold `infra/generated/` to the definitions).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use firelake_core::schema_export::{ExportOptions, SchemaFormat, render};

use crate::SourceArgs;

#[derive(Args, Clone)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SchemaArgs {
    #[command(subcommand)]
    command: Option<SchemaCommand>,
    #[command(flatten)]
    source: SourceArgs,
    /// terraform (a .tf.json file for infra/generated/), glue-columns, athena-ddl, arrow, or
    /// dbt (a dbt sources file for transform/models/sources/).
    #[arg(long, env = "FIRELAKE_FORMAT", value_parser = parse_format, required = true)]
    format: Option<SchemaFormat>,
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

#[derive(Subcommand, Clone)]
enum SchemaCommand {
    /// Compare the source definition with its tables in the catalog (raw and curated) and
    /// print the change the next run applies; exit 1 with the reason when it is refused
    /// (docs/schema-evolution.md).
    Diff(DiffArgs),
}

#[derive(Args, Clone)]
struct DiffArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Where the lake is: file://PATH, a plain path, or s3://BUCKET/PREFIX.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
    lake: String,
    /// The catalog: glue://DATABASE, file://PATH.json (default: the local catalog of a local
    /// lake).
    #[arg(long, env = "FIRELAKE_CATALOG")]
    catalog: Option<String>,
    /// Database name of the local catalog.
    #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
    database: String,
    /// The raw table (default: the source's table); its curated table is compared too.
    #[arg(long, env = "FIRELAKE_TABLE")]
    table: Option<String>,
}

fn diff(a: DiffArgs) -> Result<(), Box<dyn std::error::Error>> {
    let def = a.source.load()?;
    let lake = firelake_core::Lake::from_url(&a.lake)?;
    let rt = tokio::runtime::Runtime::new()?;
    let lines = rt.block_on(async {
        let catalog = firelake_aws::open_catalog(a.catalog.as_deref(), &lake, &a.database).await?;
        let lines =
            crate::schema_evolve::diff_lines(catalog.as_ref(), &def, a.table.as_deref()).await?;
        #[cfg(feature = "iceberg")]
        let lines = match lake.local_root() {
            Some(root) => {
                let iceberg = iceberg_diff_line(root, &a.database, &def).await?;
                lines.into_iter().chain(iceberg).collect()
            }
            None => lines,
        };
        Ok::<_, Box<dyn std::error::Error>>(lines)
    })?;
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// The change `--iceberg` applies to the lake's Iceberg table at its next start (none when
/// the lake has no Iceberg table); a refused change is the error, as for the catalog's tables.
#[cfg(feature = "iceberg")]
async fn iceberg_diff_line(
    root: &std::path::Path,
    database: &str,
    def: &firelake_core::SourceDef,
) -> Result<Option<String>, firelake_iceberg::IcebergError> {
    let policy = crate::schema_evolve::Policy::Evolve;
    let plan = firelake_iceberg::Landing::plan_local(root, database, def, policy).await?;
    Ok(plan.map(|p| match p.is_empty() {
        true => format!("iceberg table {}: up to date", p.table),
        false => format!(
            "iceberg {p} (applied at the next start with --iceberg under --schema-policy evolve; refused under freeze)"
        ),
    }))
}

pub fn run(a: SchemaArgs) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(SchemaCommand::Diff(d)) = a.command {
        return diff(d);
    }
    let format = a.format.ok_or("give --format, or the subcommand diff")?;
    let def = a.source.load()?;
    let opts = ExportOptions {
        database: Some(a.database),
        location: a.location,
        projection: a.projection,
    };
    let text = render(&def, format, &opts)?;
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
