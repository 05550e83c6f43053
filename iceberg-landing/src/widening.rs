//! Widening a column in place (int -> long, float -> double). iceberg 0.10.1's
//! `update_schema` adds and deletes columns but has no type change, and the crate keeps its
//! commit types private. So the schema update is made through [`Widening`], a catalog that
//! shows the table as if its current schema were already widened (same schema id, same field
//! ids): the crate's `update_schema` then adds that widened schema, with any new columns, as
//! the table's next schema, and the real catalog commits it with its usual compare-and-swap
//! (its requirement, the current schema id, is the real one). Every other call goes through.

use std::collections::HashMap;

use async_trait::async_trait;
use iceberg::spec::{PrimitiveType, TableMetadata};
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, Namespace, NamespaceIdent, Result, Runtime, TableCommit,
    TableCreation, TableIdent,
};

use crate::evolution;

#[derive(Debug)]
pub(crate) struct Widening<'a> {
    pub inner: &'a dyn Catalog,
    pub widen: &'a [(String, PrimitiveType)],
}

impl Widening<'_> {
    /// `table` with its current schema's widened columns changed (nothing else).
    pub fn widened(&self, table: Table) -> Result<Table> {
        if self.widen.is_empty() {
            return Ok(table);
        }
        let schema = evolution::widened(table.metadata().current_schema(), self.widen)?;
        // The metadata's fields are private: its JSON form is edited instead.
        let mut meta = serde_json::to_value(table.metadata())?;
        let schemas = meta
            .get_mut("schemas")
            .and_then(|s| s.as_array_mut())
            .ok_or_else(|| Error::new(ErrorKind::Unexpected, "table metadata has no schemas"))?;
        for s in schemas {
            if s.get("schema-id") == Some(&serde_json::json!(schema.schema_id())) {
                *s = serde_json::to_value(&schema)?;
            }
        }
        let meta: TableMetadata = serde_json::from_value(meta)?;
        let mut b = Table::builder()
            .metadata(meta)
            .identifier(table.identifier().clone())
            .file_io(table.file_io().clone())
            .runtime(Runtime::current());
        if let Some(location) = table.metadata_location() {
            b = b.metadata_location(location);
        }
        b.build()
    }
}

#[async_trait]
impl Catalog for Widening<'_> {
    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        self.widened(self.inner.load_table(table).await?)
    }

    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        self.inner.update_table(commit).await
    }

    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        self.inner.namespace_exists(namespace).await
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        self.inner.drop_namespace(namespace).await
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> Result<Table> {
        self.inner.create_table(namespace, creation).await
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.drop_table(table).await
    }

    async fn purge_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.purge_table(table).await
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        self.inner.table_exists(table).await
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.inner.rename_table(src, dest).await
    }

    async fn register_table(&self, table: &TableIdent, metadata_location: String) -> Result<Table> {
        self.inner.register_table(table, metadata_location).await
    }
}
