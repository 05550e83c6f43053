//! The Glue Data Catalog behind firelake's catalog trait: tables created from the source
//! definition (Parquet SerDe, `p_date` partition key), partitions registered with
//! BatchCreatePartition (at most 100 per call, existing ones left alone).

use aws_sdk_glue::Client;
use aws_sdk_glue::types::{
    Column, DatabaseInput, PartitionInput, SerDeInfo, StorageDescriptor, TableInput,
};
use firelake_core::catalog::{Catalog, CatalogColumn, CatalogError, PartitionInfo, TableDef};
use futures::future::BoxFuture;

/// Attempts of a Glue call (the SDK backs off exponentially between them, up to 20 s).
const GLUE_MAX_ATTEMPTS: u32 = 8;

/// Glue allows at most this many partitions per BatchCreatePartition call.
pub const PARTITIONS_PER_CALL: usize = 100;

pub struct GlueCatalog {
    client: Client,
    database: String,
}

fn service<E: std::error::Error + 'static>(what: &str, e: E) -> CatalogError {
    CatalogError::Service(format!("Glue {what}: {}", crate::errors::error_line(&e)))
}

/// UpdateTable replaces the whole table: what a [`TableDef`] does not model (the
/// description Terraform sets, SerDe and storage parameters) is kept as it is.
fn keep_unmodelled(input: &mut TableInput, current: aws_sdk_glue::types::Table) {
    input.description = current.description;
    let (Some(sd), Some(old)) = (
        input.storage_descriptor.as_mut(),
        current.storage_descriptor,
    ) else {
        return;
    };
    sd.parameters = old.parameters;
    sd.compressed = old.compressed;
    if let (Some(serde), Some(old_serde)) = (sd.serde_info.as_mut(), old.serde_info) {
        serde.parameters = old_serde.parameters;
    }
}

fn columns(cols: &[CatalogColumn]) -> Result<Vec<Column>, CatalogError> {
    cols.iter()
        .map(|c| {
            Column::builder()
                .name(&c.name)
                .r#type(&c.glue_type)
                .set_comment(c.comment.clone())
                .build()
                .map_err(|e| service("column", e))
        })
        .collect()
}

impl GlueCatalog {
    pub fn new(client: Client, database: impl Into<String>) -> GlueCatalog {
        GlueCatalog {
            client,
            database: database.into(),
        }
    }

    /// `glue://DATABASE`
    pub async fn from_url(url: &str) -> Result<GlueCatalog, CatalogError> {
        let db = url
            .strip_prefix("glue://")
            .filter(|d| !d.is_empty())
            .ok_or_else(|| CatalogError::UnsupportedUrl(url.into()))?;
        // Glue throttles its partition calls at a few per second per account: the SDK's
        // default of 3 attempts gives up on a busy night (the catalog switch then fails).
        let conf = aws_sdk_glue::config::Builder::from(&crate::sdk_config().await)
            .retry_config(
                aws_sdk_glue::config::retry::RetryConfig::standard()
                    .with_max_attempts(GLUE_MAX_ATTEMPTS),
            )
            .build();
        Ok(GlueCatalog::new(Client::from_conf(conf), db))
    }

    fn storage(&self, t: &TableDef, location: &str) -> Result<StorageDescriptor, CatalogError> {
        Ok(StorageDescriptor::builder()
            .set_columns(Some(columns(&t.columns)?))
            .location(location)
            .input_format(&t.input_format)
            .output_format(&t.output_format)
            .serde_info(
                SerDeInfo::builder()
                    .serialization_library(&t.serialization_library)
                    .build(),
            )
            .build())
    }

    fn table_input(&self, t: &TableDef) -> Result<TableInput, CatalogError> {
        TableInput::builder()
            .name(&t.name)
            .table_type("EXTERNAL_TABLE")
            .storage_descriptor(self.storage(t, &t.location)?)
            .set_partition_keys(Some(columns(&t.partition_keys)?))
            .set_parameters(Some(t.parameters.clone().into_iter().collect()))
            .build()
            .map_err(|e| service("table input", e))
    }

    async fn ensure_database(&self) -> Result<(), CatalogError> {
        if self
            .client
            .get_database()
            .name(&self.database)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        let input = DatabaseInput::builder()
            .name(&self.database)
            .build()
            .map_err(|e| service("database input", e))?;
        match self
            .client
            .create_database()
            .database_input(input)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(service("CreateDatabase", e)),
        }
    }

    async fn get_table(&self, name: &str) -> Result<Option<TableDef>, CatalogError> {
        match self
            .client
            .get_table()
            .database_name(&self.database)
            .name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.table.map(|t| {
                let sd = t
                    .storage_descriptor
                    .clone()
                    .unwrap_or_else(|| StorageDescriptor::builder().build());
                let col = |c: &Column| CatalogColumn {
                    name: c.name.clone(),
                    glue_type: c.r#type.clone().unwrap_or_default(),
                    comment: c.comment.clone(),
                };
                TableDef {
                    name: t.name.clone(),
                    columns: sd.columns().iter().map(col).collect(),
                    partition_keys: t.partition_keys().iter().map(col).collect(),
                    location: sd.location.clone().unwrap_or_default(),
                    input_format: sd.input_format.clone().unwrap_or_default(),
                    output_format: sd.output_format.clone().unwrap_or_default(),
                    serialization_library: sd
                        .serde_info
                        .as_ref()
                        .and_then(|s| s.serialization_library.clone())
                        .unwrap_or_default(),
                    parameters: t
                        .parameters
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .collect(),
                }
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(service("GetTable", e)),
        }
    }
}

impl Catalog for GlueCatalog {
    fn ensure_table<'a>(&'a self, t: &'a TableDef) -> BoxFuture<'a, Result<(), CatalogError>> {
        Box::pin(async move {
            if self.get_table(&t.name).await?.is_some() {
                return Ok(());
            }
            self.ensure_database().await?;
            let input = self.table_input(t)?;
            match self
                .client
                .create_table()
                .database_name(&self.database)
                .table_input(input)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                // Another writer created it first.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_already_exists_exception()) =>
                {
                    Ok(())
                }
                Err(e) => Err(service("CreateTable", e)),
            }
        })
    }

    fn add_partitions<'a>(
        &'a self,
        table: &'a str,
        partitions: &'a [PartitionInfo],
    ) -> BoxFuture<'a, Result<usize, CatalogError>> {
        Box::pin(async move {
            let t = self
                .get_table(table)
                .await?
                .ok_or_else(|| CatalogError::NoTable(table.into()))?;
            let mut created = 0;
            for chunk in partitions.chunks(PARTITIONS_PER_CALL) {
                let inputs = chunk
                    .iter()
                    .map(|p| {
                        Ok(PartitionInput::builder()
                            .set_values(Some(p.values.clone()))
                            .storage_descriptor(self.storage(&t, &p.location)?)
                            .build())
                    })
                    .collect::<Result<Vec<_>, CatalogError>>()?;
                let out = self
                    .client
                    .batch_create_partition()
                    .database_name(&self.database)
                    .table_name(table)
                    .set_partition_input_list(Some(inputs))
                    .send()
                    .await
                    .map_err(|e| service("BatchCreatePartition", e))?;
                let mut failed_other = Vec::new();
                let mut existing = 0;
                for err in out.errors() {
                    let code = err
                        .error_detail()
                        .and_then(|d| d.error_code())
                        .unwrap_or_default();
                    if code == "AlreadyExistsException" {
                        existing += 1;
                    } else {
                        failed_other.push(format!(
                            "{:?}: {} {}",
                            err.partition_values(),
                            code,
                            err.error_detail()
                                .and_then(|d| d.error_message())
                                .unwrap_or_default()
                        ));
                    }
                }
                if !failed_other.is_empty() {
                    return Err(CatalogError::Service(format!(
                        "Glue BatchCreatePartition failed for {}",
                        failed_other.join("; ")
                    )));
                }
                created += chunk.len() - existing;
            }
            Ok(created)
        })
    }

    fn set_partition<'a>(
        &'a self,
        table: &'a str,
        partition: &'a PartitionInfo,
    ) -> BoxFuture<'a, Result<Option<String>, CatalogError>> {
        Box::pin(async move {
            let t = self
                .get_table(table)
                .await?
                .ok_or_else(|| CatalogError::NoTable(table.into()))?;
            let input = PartitionInput::builder()
                .set_values(Some(partition.values.clone()))
                .storage_descriptor(self.storage(&t, &partition.location)?)
                .build();
            let existing = match self
                .client
                .get_partition()
                .database_name(&self.database)
                .table_name(table)
                .set_partition_values(Some(partition.values.clone()))
                .send()
                .await
            {
                Ok(out) => out.partition.map(|p| {
                    p.storage_descriptor()
                        .and_then(|s| s.location())
                        .unwrap_or_default()
                        .to_string()
                }),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_entity_not_found_exception()) =>
                {
                    None
                }
                Err(e) => return Err(service("GetPartition", e)),
            };
            if existing.is_some() {
                self.client
                    .update_partition()
                    .database_name(&self.database)
                    .table_name(table)
                    .set_partition_value_list(Some(partition.values.clone()))
                    .partition_input(input)
                    .send()
                    .await
                    .map_err(|e| service("UpdatePartition", e))?;
            } else {
                self.client
                    .create_partition()
                    .database_name(&self.database)
                    .table_name(table)
                    .partition_input(input)
                    .send()
                    .await
                    .map_err(|e| service("CreatePartition", e))?;
            }
            Ok(existing)
        })
    }

    fn partitions<'a>(
        &'a self,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartitionInfo>, CatalogError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .client
                    .get_partitions()
                    .database_name(&self.database)
                    .table_name(table)
                    .set_next_token(token.take())
                    .send()
                    .await;
                let page = match page {
                    Ok(page) => page,
                    // As the local catalog says it, so callers tell "no table yet" apart.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_entity_not_found_exception()) =>
                    {
                        return Err(CatalogError::NoTable(table.into()));
                    }
                    Err(e) => return Err(service("GetPartitions", e)),
                };
                for p in page.partitions() {
                    out.push(PartitionInfo {
                        values: p.values().to_vec(),
                        location: p
                            .storage_descriptor()
                            .and_then(|s| s.location())
                            .unwrap_or_default()
                            .to_string(),
                    });
                }
                match page.next_token {
                    Some(t) if !t.is_empty() => token = Some(t),
                    _ => break,
                }
            }
            out.sort_by(|a, b| a.values.cmp(&b.values));
            Ok(out)
        })
    }

    fn table<'a>(
        &'a self,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Option<TableDef>, CatalogError>> {
        Box::pin(self.get_table(table))
    }

    fn describe(&self) -> String {
        format!("glue://{}", self.database)
    }

    /// Glue UpdateTable: the table's columns and parameters; partitions keep their own
    /// storage descriptors (Parquet is read by name, so old partitions read new columns as
    /// null).
    fn update_table<'a>(&'a self, t: &'a TableDef) -> BoxFuture<'a, Result<(), CatalogError>> {
        Box::pin(async move {
            let current = self
                .client
                .get_table()
                .database_name(&self.database)
                .name(&t.name)
                .send()
                .await
                .map_err(|e| service("GetTable", e))?
                .table;
            let mut input = self.table_input(t)?;
            if let Some(current) = current {
                keep_unmodelled(&mut input, current);
            }
            match self
                .client
                .update_table()
                .database_name(&self.database)
                .table_input(input)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_entity_not_found_exception()) =>
                {
                    Err(CatalogError::NoTable(t.name.clone()))
                }
                Err(e) => Err(service("UpdateTable", e)),
            }
        })
    }
}
