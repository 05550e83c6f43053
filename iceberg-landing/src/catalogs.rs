//! The catalogs a landing table can be kept in (`--iceberg CATALOG`): the SQL catalog file
//! inside a local lake, or the AWS Glue Data Catalog for an `s3://` lake.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use firelake_core::Lake;
use iceberg::io::LocalFsStorageFactory;
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent};
use iceberg_catalog_sql::{SqlCatalog, SqlCatalogBuilder};

use crate::IcebergError;
use crate::glue::GlueTables;

/// The SQL catalog file inside a local lake.
pub const LOCAL_CATALOG_FILE: &str = "_catalog/iceberg.sqlite";
/// Where table metadata goes inside a lake (`_`: Hive-style readers skip it).
pub const WAREHOUSE_DIR: &str = "_iceberg";

/// Where a landing table is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableCatalog {
    /// `local`: the SQL catalog file [`LOCAL_CATALOG_FILE`] of a local lake, the table in the
    /// namespace named after the lake's database.
    Local,
    /// `glue://DATABASE`: the AWS Glue Data Catalog, the table `DATABASE.<table>` over an
    /// `s3://` lake's files.
    Glue { database: String },
}

impl TableCatalog {
    /// `local` or `glue://DATABASE` (a Glue database name: lower-case letters, digits, `_`).
    pub fn parse(s: &str) -> Result<TableCatalog, String> {
        if s == "local" {
            return Ok(TableCatalog::Local);
        }
        match s.strip_prefix("glue://") {
            Some(db) if is_glue_name(db) => Ok(TableCatalog::Glue {
                database: db.to_string(),
            }),
            Some(db) => Err(format!(
                "{db:?} is not a Glue database name: use lower-case letters, digits and _ \
                 (glue://DATABASE)"
            )),
            None => Err(format!(
                "{s:?} is not an Iceberg catalog: use `local` (the SQL catalog file \
                 <lake>/{LOCAL_CATALOG_FILE} of a local lake) or glue://DATABASE (an s3:// \
                 lake; docs/iceberg.md)"
            )),
        }
    }

    /// The namespace the table is in: the Glue database, or the lake's database name.
    pub fn namespace(&self, database: &str) -> NamespaceIdent {
        match self {
            TableCatalog::Local => NamespaceIdent::new(database.to_string()),
            TableCatalog::Glue { database } => NamespaceIdent::new(database.clone()),
        }
    }

    /// Where the table is kept, for people: the catalog file, or `glue://DATABASE`.
    pub fn describe(&self, lake: &Lake) -> String {
        match (self, lake.local_root()) {
            (TableCatalog::Local, Some(root)) => {
                root.join(LOCAL_CATALOG_FILE).display().to_string()
            }
            (TableCatalog::Local, None) => "local".to_string(),
            (TableCatalog::Glue { database }, _) => format!("glue://{database}"),
        }
    }

    /// The catalog for `lake`, refused for a lake it cannot keep a table of.
    pub async fn open(
        &self,
        lake: &Lake,
        database: &str,
    ) -> Result<Box<dyn Catalog>, IcebergError> {
        match (self, lake.local_root()) {
            (TableCatalog::Local, Some(root)) => Ok(Box::new(local_catalog(root, database).await?)),
            (TableCatalog::Local, None) => Err(IcebergError::LocalNeedsLocalLake {
                lake: lake.url().to_string(),
            }),
            (TableCatalog::Glue { .. }, _) if lake.url().starts_with("s3://") => {
                Ok(Box::new(glue_catalog().await))
            }
            (TableCatalog::Glue { .. }, _) => Err(IcebergError::GlueNeedsS3 {
                lake: lake.url().to_string(),
            }),
        }
    }
}

/// Glue's database names (and Athena's): lower-case, so a name never changes on the way.
fn is_glue_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The SQL catalog file of a local lake (`lake_root` absolute), created if missing.
pub(crate) async fn local_catalog(
    lake_root: &Path,
    database: &str,
) -> Result<SqlCatalog, IcebergError> {
    let db = lake_root.join(LOCAL_CATALOG_FILE);
    let dir = db.parent().expect("catalog file has a folder");
    std::fs::create_dir_all(dir).map_err(IcebergError::io(dir))?;
    let props = HashMap::from([
        (
            "uri".to_string(),
            format!("sqlite://{}?mode=rwc", db.display()),
        ),
        (
            "warehouse".to_string(),
            format!("file://{}", lake_root.join(WAREHOUSE_DIR).display()),
        ),
        ("sql_bind_style".to_string(), "QMark".to_string()),
    ]);
    let catalog = SqlCatalogBuilder::default()
        .with_storage_factory(Arc::new(LocalFsStorageFactory))
        .load(database, props)
        .await?;
    Ok(catalog)
}

/// The Glue Data Catalog, credentials and region from the usual AWS chain. The table's
/// metadata files go through the crate's S3 file IO, which is told the endpoint, addressing
/// and region the lake's own S3 client uses (`AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`,
/// `AWS_REGION`): Glue's client reads them itself.
async fn glue_catalog() -> GlueTables {
    let mut props = HashMap::new();
    let env = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok());
    if let Some(endpoint) = env(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]) {
        props.insert(iceberg::io::S3_ENDPOINT.to_string(), endpoint);
        // Path-style, as the lake's object_store client addresses a custom endpoint (an
        // emulator or MinIO has no per-bucket host names).
        let path_style = iceberg::io::S3_PATH_STYLE_ACCESS.to_string();
        props.insert(path_style, "true".to_string());
    }
    if let Some(region) = env(&["AWS_REGION", "AWS_DEFAULT_REGION"]) {
        props.insert(iceberg::io::S3_REGION.to_string(), region);
    }
    GlueTables::new(props).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogs_are_local_or_a_glue_database_with_a_glue_name() {
        assert_eq!(TableCatalog::parse("local"), Ok(TableCatalog::Local));
        assert_eq!(
            TableCatalog::parse("glue://firelake_ice"),
            Ok(TableCatalog::Glue {
                database: "firelake_ice".into()
            })
        );
        for bad in [
            "glue://",
            "glue://Firelake",
            "glue://fire-lake",
            "glue://a/b",
        ] {
            let e = TableCatalog::parse(bad).unwrap_err();
            assert!(e.contains("not a Glue database name"), "{bad}: {e}");
        }
        let e = TableCatalog::parse("s3tables://x").unwrap_err();
        assert!(
            e.contains("use `local`") && e.contains("glue://DATABASE"),
            "{e}"
        );
        let glue = TableCatalog::parse("glue://ice").unwrap();
        assert_eq!(
            glue.namespace("firelake"),
            NamespaceIdent::new("ice".into())
        );
        let local = TableCatalog::Local;
        assert_eq!(
            local.namespace("firelake"),
            NamespaceIdent::new("firelake".into())
        );
    }

    #[tokio::test]
    async fn a_catalog_is_refused_for_a_lake_it_cannot_keep_a_table_of() {
        let memory = Lake::from_url("memory://").unwrap();
        let e = TableCatalog::Local
            .open(&memory, "firelake")
            .await
            .err()
            .unwrap();
        assert!(matches!(e, IcebergError::LocalNeedsLocalLake { .. }), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let local = Lake::from_url(&dir.path().display().to_string()).unwrap();
        let glue = TableCatalog::parse("glue://ice").unwrap();
        let e = glue.open(&local, "firelake").await.err().unwrap();
        assert!(matches!(e, IcebergError::GlueNeedsS3 { .. }), "{e}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing written"
        );
    }
}
