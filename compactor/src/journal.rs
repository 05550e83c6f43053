//! The journal of a run: one small JSON object per run and day, rewritten at each step, so a
//! run killed at any point is finished or rolled back by the next one.
//!
//! | state       | what is true                                               | recovery              |
//! |-------------|------------------------------------------------------------|-----------------------|
//! | `planned`   | inputs and bins fixed; output files may be partly written  | roll back: delete the generation, then the journal |
//! | `written`   | every output written and verified (rows = distinct rows)   | commit if the catalog still points where the run found it (or already at this generation); else roll back |
//! | `committed` | the catalog points at this generation                      | delete the previous generation once its grace period is over |
//! | `cleaned`   | the previous generation and its journal are gone           | none (kept: it records what the generation was made from) |
//!
//! The journal is written before the first output file and deleted after the last one, so no
//! generation folder ever exists without a journal that says what to do with it.

use bytes::Bytes;
use firelake_core::Lake;
use serde::{Deserialize, Serialize};

use crate::CompactError;
use crate::plan::{Bin, RawFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalState {
    Planned,
    Written,
    Committed,
    Cleaned,
}

/// An output file of a generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    pub key: String,
    pub size: u64,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub run_id: String,
    pub state: JournalState,
    pub source: String,
    pub raw_table: String,
    pub curated_table: String,
    pub partition_column: String,
    /// `YYYY-MM-DD`
    pub day: String,
    /// The dedupe key columns, empty when the run kept every row.
    pub dedupe_key: Vec<String>,
    pub target_bytes: u64,
    /// The generation folder (a key) and its URL (the catalog location).
    pub generation: String,
    pub location: String,
    /// The partition's location when the run was planned (`None`: no curated partition yet).
    pub previous_location: Option<String>,
    /// The folder of the previous generation, when it is one of ours (the only thing cleanup
    /// deletes).
    pub previous_generation: Option<String>,
    /// The files read: raw files, and the parts of the generation it was built on.
    pub inputs: Vec<RawFile>,
    /// The raw files whose rows the generation holds (those read, and those its predecessors
    /// held, expired or not). Empty in journals of older versions: then the inputs.
    #[serde(default)]
    pub covers: Vec<RawFile>,
    pub bins: Vec<Bin>,
    #[serde(default)]
    pub outputs: Vec<OutputFile>,
    pub rows_in: u64,
    #[serde(default)]
    pub rows_out: u64,
    #[serde(default)]
    pub duplicates: u64,
    pub bytes_in: u64,
    #[serde(default)]
    pub bytes_out: u64,
    pub planned_at_ms: i64,
    #[serde(default)]
    pub written_at_ms: Option<i64>,
    #[serde(default)]
    pub committed_at_ms: Option<i64>,
    /// When the previous generation may be deleted (committed + grace period).
    #[serde(default)]
    pub clean_after_ms: Option<i64>,
    #[serde(default)]
    pub cleaned_at_ms: Option<i64>,
    /// Where this journal is stored (not serialised: it is the object's own key).
    #[serde(skip)]
    pub key: String,
}

impl Journal {
    /// The raw files whose rows the generation holds.
    pub fn covered(&self) -> &[RawFile] {
        if self.covers.is_empty() {
            &self.inputs
        } else {
            &self.covers
        }
    }

    /// The URLs a journal stores name the lake where it was written; its keys are what is
    /// true. Recovery compares them with the catalog's locations, which name the lake where
    /// it is now (a copied or moved local lake): so they are derived from the keys again.
    fn rebase(&mut self, lake: &Lake) {
        self.location = format!("{}/", lake.url_of(&self.generation));
        if let (Some(generation), Some(loc)) = (&self.previous_generation, &self.previous_location)
            && loc.trim_end_matches('/').ends_with(generation.as_str())
        {
            self.previous_location = Some(format!("{}/", lake.url_of(generation)));
        }
    }

    pub async fn store(&self, lake: &Lake) -> Result<(), CompactError> {
        let bytes = serde_json::to_vec_pretty(self).expect("a journal serialises");
        lake.put(&self.key, Bytes::from(bytes)).await?;
        Ok(())
    }

    pub async fn load(lake: &Lake, key: &str) -> Result<Option<Journal>, CompactError> {
        let Some(bytes) = lake.get(key).await? else {
            return Ok(None);
        };
        let mut j: Journal =
            serde_json::from_slice(&bytes).map_err(|source| CompactError::Journal {
                key: key.to_string(),
                source,
            })?;
        j.key = key.to_string();
        j.rebase(lake);
        Ok(Some(j))
    }

    /// Every journal under `prefix`, in run-id order (oldest first).
    pub async fn list(lake: &Lake, prefix: &str) -> Result<Vec<Journal>, CompactError> {
        let mut out = Vec::new();
        for o in lake.list(prefix).await? {
            if !o.key.ends_with(".json") {
                continue;
            }
            if let Some(j) = Journal::load(lake, &o.key).await? {
                out.push(j);
            }
        }
        out.sort_by(|a, b| a.run_id.cmp(&b.run_id));
        Ok(out)
    }
}
