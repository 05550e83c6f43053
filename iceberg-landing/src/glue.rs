//! The Glue Data Catalog as an Iceberg catalog: the table is a Glue table with
//! `table_type=ICEBERG` and `metadata_location` (the layout Athena, EMR and pyiceberg's
//! `GlueCatalog` read); a commit writes the next metadata file and swaps the location with
//! Glue's `UpdateTable` under the version id it read (Glue's optimistic lock).
//!
//! Our own, not `iceberg-catalog-glue` 0.10.1: that crate refuses to mirror a `timestamptz`
//! column into Glue's columns, and every firelake table is partitioned by one. Only what the
//! committer uses is implemented; the rest says so.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_glue::error::DisplayErrorContext;
use aws_sdk_glue::types::{Column, DatabaseInput, StorageDescriptor, TableInput};
use iceberg::io::{FileIO, FileIOBuilder};
use iceberg::spec::{PrimitiveType, TableMetadata, TableMetadataBuilder, Type};
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, MetadataLocation, Namespace, NamespaceIdent, Result, Runtime,
    TableCommit, TableCreation, TableIdent,
};
use iceberg_storage_opendal::OpenDalStorageFactory;

const METADATA_LOCATION: &str = "metadata_location";
const PREVIOUS_METADATA_LOCATION: &str = "previous_metadata_location";

#[derive(Debug)]
pub(crate) struct GlueTables {
    client: aws_sdk_glue::Client,
    file_io: FileIO,
}

fn glue_error(what: &str, e: impl std::error::Error) -> Error {
    Error::new(
        ErrorKind::Unexpected,
        format!("Glue {what}: {}", DisplayErrorContext(e)),
    )
}

fn unsupported(what: &str) -> Error {
    Error::new(
        ErrorKind::FeatureUnsupported,
        format!("{what} is not used by firelake's Glue catalog"),
    )
}

/// The Glue database of a namespace (one level).
fn database(ns: &NamespaceIdent) -> Result<&str> {
    match ns.as_ref().as_slice() {
        [db] => Ok(db),
        _ => Err(Error::new(
            ErrorKind::DataInvalid,
            format!("a Glue namespace is one database name, not {ns:?}"),
        )),
    }
}

/// Glue's (Hive's) name of a column type: informational for Glue's console and crawler-less
/// readers; Iceberg readers take the schema from the metadata file.
fn glue_type(t: &Type) -> Result<String> {
    let Type::Primitive(p) = t else {
        return Err(unsupported("a nested column"));
    };
    Ok(match p {
        PrimitiveType::Boolean => "boolean".into(),
        PrimitiveType::Int => "int".into(),
        PrimitiveType::Long => "bigint".into(),
        PrimitiveType::Float => "float".into(),
        PrimitiveType::Double => "double".into(),
        PrimitiveType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        PrimitiveType::Date => "date".into(),
        // Athena's and Spark's name for both.
        PrimitiveType::Timestamp
        | PrimitiveType::Timestamptz
        | PrimitiveType::TimestampNs
        | PrimitiveType::TimestamptzNs => "timestamp".into(),
        PrimitiveType::Time | PrimitiveType::String | PrimitiveType::Uuid => "string".into(),
        PrimitiveType::Fixed(_) | PrimitiveType::Binary => "binary".into(),
    })
}

/// The Glue table input naming `metadata_location` (and the one it replaces).
fn table_input(
    name: &str,
    metadata: &TableMetadata,
    metadata_location: &str,
    previous: Option<&str>,
) -> Result<TableInput> {
    let mut columns = Vec::new();
    for f in metadata.current_schema().as_struct().fields() {
        let column = Column::builder()
            .name(f.name.clone())
            .r#type(glue_type(&f.field_type)?)
            .build()
            .map_err(|e| glue_error("column", e))?;
        columns.push(column);
    }
    let mut parameters = HashMap::from([
        ("table_type".to_string(), "ICEBERG".to_string()),
        (METADATA_LOCATION.to_string(), metadata_location.to_string()),
    ]);
    if let Some(p) = previous {
        parameters.insert(PREVIOUS_METADATA_LOCATION.to_string(), p.to_string());
    }
    let storage = StorageDescriptor::builder()
        .set_columns(Some(columns))
        .location(metadata.location())
        .build();
    TableInput::builder()
        .name(name)
        .table_type("EXTERNAL_TABLE")
        .set_parameters(Some(parameters))
        .storage_descriptor(storage)
        .build()
        .map_err(|e| glue_error("table input", e))
}

impl GlueTables {
    /// A client from the usual AWS chain; `file_props` configure the S3 file IO of the
    /// metadata files (`s3.endpoint`, `s3.region`, ...).
    pub async fn new(file_props: HashMap<String, String>) -> GlueTables {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let factory = Arc::new(OpenDalStorageFactory::S3 {
            customized_credential_load: None,
        });
        GlueTables {
            client: aws_sdk_glue::Client::new(&sdk),
            file_io: FileIOBuilder::new(factory).with_props(file_props).build(),
        }
    }

    /// The table's metadata location and Glue version id; `None` if there is no such table.
    async fn location(&self, t: &TableIdent) -> Result<Option<(String, Option<String>)>> {
        let got = self
            .client
            .get_table()
            .database_name(database(t.namespace())?)
            .name(t.name())
            .send()
            .await;
        let table = match got {
            Ok(out) => out.table,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(glue_error("GetTable", e)),
        };
        let table = table
            .ok_or_else(|| glue_error("GetTable", Error::new(ErrorKind::Unexpected, "no table")))?;
        let location = table
            .parameters()
            .and_then(|p| p.get(METADATA_LOCATION))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::DataInvalid,
                    format!("Glue table {t} is not an Iceberg table (no metadata_location)"),
                )
            })?;
        Ok(Some((
            location.clone(),
            table.version_id().map(str::to_string),
        )))
    }

    fn table(&self, t: &TableIdent, location: String, metadata: TableMetadata) -> Result<Table> {
        Table::builder()
            .file_io(self.file_io.clone())
            .metadata_location(location)
            .metadata(metadata)
            .identifier(t.clone())
            .runtime(Runtime::try_current()?)
            .build()
    }
}

#[async_trait]
impl Catalog for GlueTables {
    async fn list_namespaces(&self, _: Option<&NamespaceIdent>) -> Result<Vec<NamespaceIdent>> {
        Err(unsupported("list_namespaces"))
    }

    async fn create_namespace(
        &self,
        ns: &NamespaceIdent,
        _: HashMap<String, String>,
    ) -> Result<Namespace> {
        let input = DatabaseInput::builder()
            .name(database(ns)?)
            .build()
            .map_err(|e| glue_error("database input", e))?;
        self.client
            .create_database()
            .database_input(input)
            .send()
            .await
            .map_err(|e| glue_error("CreateDatabase", e))?;
        Ok(Namespace::new(ns.clone()))
    }

    async fn get_namespace(&self, _: &NamespaceIdent) -> Result<Namespace> {
        Err(unsupported("get_namespace"))
    }

    async fn namespace_exists(&self, ns: &NamespaceIdent) -> Result<bool> {
        match self.client.get_database().name(database(ns)?).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(glue_error("GetDatabase", e)),
        }
    }

    async fn update_namespace(&self, _: &NamespaceIdent, _: HashMap<String, String>) -> Result<()> {
        Err(unsupported("update_namespace"))
    }

    async fn drop_namespace(&self, _: &NamespaceIdent) -> Result<()> {
        Err(unsupported("drop_namespace"))
    }

    async fn list_tables(&self, _: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        Err(unsupported("list_tables"))
    }

    async fn create_table(&self, ns: &NamespaceIdent, creation: TableCreation) -> Result<Table> {
        let name = creation.name.clone();
        let location = creation
            .location
            .clone()
            .ok_or_else(|| Error::new(ErrorKind::DataInvalid, "the table needs a location"))?;
        let metadata = TableMetadataBuilder::from_table_creation(creation)?
            .build()?
            .metadata;
        let at = MetadataLocation::new_with_metadata(location, &metadata);
        metadata.write_to(&self.file_io, &at).await?;
        let at = at.to_string();
        self.client
            .create_table()
            .database_name(database(ns)?)
            .table_input(table_input(&name, &metadata, &at, None)?)
            .send()
            .await
            .map_err(|e| glue_error("CreateTable", e))?;
        self.table(&TableIdent::new(ns.clone(), name), at, metadata)
    }

    async fn load_table(&self, t: &TableIdent) -> Result<Table> {
        let Some((location, _)) = self.location(t).await? else {
            return Err(Error::new(
                ErrorKind::TableNotFound,
                format!("no Glue table {t}"),
            ));
        };
        let metadata = TableMetadata::read_from(&self.file_io, &location).await?;
        self.table(t, location, metadata)
    }

    async fn drop_table(&self, _: &TableIdent) -> Result<()> {
        Err(unsupported("drop_table"))
    }

    async fn purge_table(&self, _: &TableIdent) -> Result<()> {
        Err(unsupported("purge_table"))
    }

    async fn table_exists(&self, t: &TableIdent) -> Result<bool> {
        Ok(self.location(t).await?.is_some())
    }

    async fn rename_table(&self, _: &TableIdent, _: &TableIdent) -> Result<()> {
        Err(unsupported("rename_table"))
    }

    async fn register_table(&self, _: &TableIdent, _: String) -> Result<Table> {
        Err(unsupported("register_table"))
    }

    /// The commit's requirements are checked against the metadata the version id names, and
    /// Glue refuses the swap if another commit moved the version on: a retryable conflict.
    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        let t = commit.identifier().clone();
        let Some((current, version)) = self.location(&t).await? else {
            return Err(Error::new(
                ErrorKind::TableNotFound,
                format!("no Glue table {t}"),
            ));
        };
        let metadata = TableMetadata::read_from(&self.file_io, &current).await?;
        let staged = commit.apply(self.table(&t, current.clone(), metadata)?)?;
        let next = staged.metadata_location_result()?.to_string();
        let at: MetadataLocation = next.parse()?;
        staged.metadata().write_to(&self.file_io, &at).await?;
        let input = table_input(t.name(), staged.metadata(), &next, Some(&current))?;
        let sent = self
            .client
            .update_table()
            .database_name(database(t.namespace())?)
            .table_input(input)
            .set_version_id(version)
            .skip_archive(true)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(staged),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_concurrent_modification_exception()) =>
            {
                Err(Error::new(
                    ErrorKind::CatalogCommitConflicts,
                    format!("another commit changed Glue table {t} first"),
                )
                .with_retryable(true))
            }
            Err(e) => Err(glue_error("UpdateTable", e)),
        }
    }
}
