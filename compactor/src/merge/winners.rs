//! Pass 1: which row of every key is kept (the winners), from the survey's key rows or by
//! reading the key and arrival columns again; the look-back's keys of the day before.

use super::*;

/// The winners of a day from the key rows its survey read (`survey`), when the plan numbers
/// the rows as the survey did (the same files in the same order); `None` otherwise.
pub fn winners_from_survey(
    survey_files: &[String],
    key_rows: KeyRows,
    plan: &Plan,
    lookback: Option<&Lookback>,
) -> Option<Winners> {
    let same = survey_files.len() == plan.files.len()
        && survey_files
            .iter()
            .zip(&plan.files)
            .all(|(a, b)| *a == b.key);
    if !same || key_rows.len() as u64 != plan.rows() {
        return None;
    }
    let mut winners = Winners::none(plan.rows());
    winners.select_dropping(key_rows, &|k| lookback.is_some_and(|l| l.drops(k)));
    Some(winners)
}

/// The key hashes of rows of `files` (a generation) that arrived at `from_ms` or later: the
/// previous day's last minutes, for the look-back across midnight (`dedupe::Lookback`). Reads
/// the key and arrival columns only, a batch at a time.
pub async fn keys_arrived_since(
    lake: &Lake,
    files: &[LakeObject],
    schema: &SchemaRef,
    columns: &DedupeColumns,
    from_ms: i64,
) -> Result<HashSet<u128>, CompactError> {
    let projection = KeyProjection::new(schema, columns);
    let mut out = HashSet::new();
    let mut scratch = Default::default();
    for o in files {
        let mut file = LakeFile::ranged(lake, &o.key, o.size);
        let metadata = file.metadata().await?;
        let conform = Conform::new(metadata.schema(), projection.narrow.clone(), &o.key)?;
        let mut batches = file.stream(metadata, conform.columns_to_read())?;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(|source| CompactError::Parquet {
                key: o.key.clone(),
                source,
            })?;
            let batch = conform.apply(&batch, &o.key)?;
            projection.append(&batch, 0, &mut scratch, &mut |k| {
                if k.at >= from_ms {
                    out.insert(k.hash);
                }
            });
        }
    }
    Ok(out)
}

/// What dedupe compares: key columns and the arrival column, as indices of the curated schema.
#[derive(Debug, Clone)]
pub struct DedupeColumns {
    pub key: Vec<usize>,
    pub arrival: usize,
}

/// Pass 1: the winner of every key, reading only the key and arrival columns (see `dedupe`).
pub async fn select_winners(
    lake: &Lake,
    plan: &Plan,
    schema: &SchemaRef,
    columns: &DedupeColumns,
    memory_budget: u64,
    lookback: Option<&Lookback>,
    progress: &dyn Progress,
) -> Result<Winners, CompactError> {
    let drops = |k: &KeyRow| lookback.is_some_and(|l| l.drops(k));
    let rows = plan.rows();
    let buckets = buckets_for(rows, memory_budget);
    let projection = KeyProjection::new(schema, columns);
    let narrow = projection.narrow.clone();
    let mut winners = Winners::none(rows);
    let mut scratch = Default::default();
    let mut each_key_row = |batch: &RecordBatch, first_row: u64, out: &mut dyn FnMut(KeyRow)| {
        projection.append(batch, first_row, &mut scratch, out);
        progress.advanced(batch.num_rows() as u64);
    };
    if buckets == 1 {
        let mut key_rows = KeyRows::with_capacity(rows);
        scan(lake, plan, &narrow, Fetch::Ranges, |_, first_row, batch| {
            each_key_row(&batch, first_row, &mut |k| key_rows.push(k));
            futures::future::ready(Ok(()))
        })
        .await?;
        winners.select_dropping(key_rows, &drops);
        return Ok(winners);
    }

    // A day whose keys do not fit the budget: one scan spills each row's key to its hash
    // bucket's file on local disk, then buckets are read back and decided one at a time.
    let spill = tempfile::Builder::new()
        .prefix("firelake-dedupe-")
        .tempdir()
        .map_err(|source| CompactError::Io {
            path: std::env::temp_dir().display().to_string(),
            source,
        })?;
    let bucket_path = |b: u64| spill.path().join(format!("bucket-{b:05}"));
    let io_err = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| CompactError::Io { path, source }
    };
    let mut spills = Vec::with_capacity(buckets as usize);
    for b in 0..buckets {
        let path = bucket_path(b);
        let file = std::fs::File::create(&path).map_err(io_err(&path))?;
        spills.push(std::io::BufWriter::with_capacity(SPILL_BUFFER_BYTES, file));
    }
    let mut spill_error: Option<std::io::Error> = None;
    scan(lake, plan, &narrow, Fetch::Ranges, |_, first_row, batch| {
        each_key_row(&batch, first_row, &mut |k| {
            let file = &mut spills[bucket_of(k.hash, buckets) as usize];
            if let Err(e) = file.write_all(&k.to_bytes()) {
                spill_error.get_or_insert(e);
            }
        });
        futures::future::ready(match spill_error.take() {
            Some(source) => Err(CompactError::Io {
                path: spill.path().display().to_string(),
                source,
            }),
            None => Ok(()),
        })
    })
    .await?;
    for (b, file) in spills.into_iter().enumerate() {
        file.into_inner()
            .map_err(|e| e.into_error())
            .map_err(io_err(&bucket_path(b as u64)))?;
    }
    for b in 0..buckets {
        let path = bucket_path(b);
        let key_rows = read_key_rows(&path).map_err(io_err(&path))?;
        winners.select_dropping(key_rows, &drops);
        std::fs::remove_file(&path).map_err(io_err(&path))?;
    }
    Ok(winners)
}

/// The key rows a bucket's spill file holds.
fn read_key_rows(path: &std::path::Path) -> std::io::Result<KeyRows> {
    let len = std::fs::metadata(path)?.len();
    let mut out = KeyRows::with_capacity(len / KeyRow::BYTES as u64);
    let mut reader =
        std::io::BufReader::with_capacity(SPILL_BUFFER_BYTES, std::fs::File::open(path)?);
    let mut buf = [0u8; KeyRow::BYTES];
    loop {
        match reader.read_exact(&mut buf) {
            Ok(()) => out.push(KeyRow::from_bytes(&buf)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}
