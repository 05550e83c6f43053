//! The `compactor` binary (the nightly Lambda and container task) applies a changed source
//! definition's allowed schema changes to the curated table at start (never to the raw table:
//! its writers evolve that one, and the compactor's role may not change it), and refuses to
//! run under `FIRELAKE_SCHEMA_POLICY=freeze` without changing anything
//! (docs/schema-evolution.md).

use std::process::Command;

use firelake_core::SourceDef;
use firelake_core::catalog::{Catalog, LocalCatalog, TableDef};

const V1: &str = r#"
name = "evo"
table = "evo"
dedupe_key = ["id"]
[partition]
column = "p_date"
from = "ingested_at"
[[columns]]
name = "id"
pointer = "/id"
type = "string"
required = true
[[columns]]
name = "ingested_at"
type = "timestamp_ms"
arrival = true
"#;

fn compactor(dir: &std::path::Path, defs: &std::path::Path, policy: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_compactor"))
        .args(["--lake", "lake", "--source", "evo", "--all"])
        .arg("--source-dir")
        .arg(defs)
        .env("FIRELAKE_SCHEMA_POLICY", policy)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_compactor_evolves_the_catalog_at_start_or_refuses_under_freeze() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (v1, v2) = (dir.join("v1"), dir.join("v2"));
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::create_dir_all(&v2).unwrap();
    std::fs::write(v1.join("evo.toml"), V1).unwrap();
    let added = "[[columns]]\nname = \"note\"\npointer = \"/note\"\ntype = \"string\"\n";
    std::fs::write(v2.join("evo.toml"), format!("{V1}{added}")).unwrap();
    let lake = dir.join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let root = lake.canonicalize().unwrap();
    let def = SourceDef::resolve("evo", Some(&v1)).unwrap();
    let catalog = LocalCatalog::beside_lake(&root, "firelake");
    for table in ["evo", "evo_curated"] {
        let location = format!("file://{}/{table}/", root.display());
        catalog
            .ensure_table(&TableDef::for_source(&def, table, location))
            .await
            .unwrap();
    }
    let file = root.join("_catalog/firelake.json");
    let before = std::fs::read(&file).unwrap();

    let frozen = compactor(dir, &v2, "freeze");
    assert_eq!(frozen.status.code(), Some(1));
    let err = String::from_utf8_lossy(&frozen.stderr);
    assert!(
        err.contains("table evo_curated: add column note string: refused"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "freeze changed nothing"
    );

    let evolved = compactor(dir, &v2, "evolve");
    assert!(
        evolved.status.success(),
        "{}",
        String::from_utf8_lossy(&evolved.stderr)
    );
    let columns = |t: TableDef| -> Vec<String> { t.columns.into_iter().map(|c| c.name).collect() };
    let curated = catalog.table("evo_curated").await.unwrap().unwrap();
    assert_eq!(columns(curated), ["id", "ingested_at", "note"]);
    let raw = catalog.table("evo").await.unwrap().unwrap();
    assert_eq!(
        columns(raw),
        ["id", "ingested_at"],
        "the raw table is its writers'"
    );
}
