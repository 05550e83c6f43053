//! A catalog that commits nothing: `update_table` applies the commit to the table in memory
//! (the same `TableCommit::apply` the SQL catalog runs, requirements checked) and returns the
//! table it would have written, with no metadata file written and no catalog row changed.
//! Every other write is refused; reads go through. `iceberg-maintain --dry-run` plans its
//! snapshot expiry through it.

use std::collections::HashMap;

use async_trait::async_trait;
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, Namespace, NamespaceIdent, Result, TableCommit, TableCreation,
    TableIdent,
};

#[derive(Debug)]
pub(crate) struct DryRun<'a> {
    pub inner: &'a dyn Catalog,
}

fn refused<T>() -> Result<T> {
    Err(Error::new(
        ErrorKind::FeatureUnsupported,
        "a dry run changes nothing in the catalog",
    ))
}

#[async_trait]
impl Catalog for DryRun<'_> {
    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        self.inner.load_table(table).await
    }

    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        let current = self.inner.load_table(commit.identifier()).await?;
        commit.apply(current)
    }

    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }

    async fn create_namespace(
        &self,
        _namespace: &NamespaceIdent,
        _properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        refused()
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        self.inner.namespace_exists(namespace).await
    }

    async fn update_namespace(
        &self,
        _namespace: &NamespaceIdent,
        _properties: HashMap<String, String>,
    ) -> Result<()> {
        refused()
    }

    async fn drop_namespace(&self, _namespace: &NamespaceIdent) -> Result<()> {
        refused()
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }

    async fn create_table(
        &self,
        _namespace: &NamespaceIdent,
        _creation: TableCreation,
    ) -> Result<Table> {
        refused()
    }

    async fn drop_table(&self, _table: &TableIdent) -> Result<()> {
        refused()
    }

    async fn purge_table(&self, _table: &TableIdent) -> Result<()> {
        refused()
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        self.inner.table_exists(table).await
    }

    async fn rename_table(&self, _src: &TableIdent, _dest: &TableIdent) -> Result<()> {
        refused()
    }

    async fn register_table(&self, _table: &TableIdent, _location: String) -> Result<Table> {
        refused()
    }
}
