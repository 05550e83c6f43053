//! The survey: a day's files with their row counts from the footers and, with dedupe on,
//! the key rows of its small files (`KeySurvey`).

use super::*;

/// What the survey reads besides row counts when dedupe is on: every file's key and arrival
/// columns, as key rows, so that the key pass needs no second opening of each file (its
/// footer read and decoded again). Up to `budget_rows` rows (`--dedupe-memory-mb`) and for
/// small files only (`WHOLE_FILE_MAX`, as their key rows are held whole): otherwise the day
/// gives its key rows up and runs the key pass on its own (in buckets, row group by row group).
pub struct KeySurvey {
    pub schema: SchemaRef,
    pub columns: DedupeColumns,
    pub budget_rows: u64,
}

/// A day's files, in plan order, with their row counts, and with `KeySurvey` their key rows;
/// the files whose footer or key columns could not be read, with the error, apart.
pub struct Survey {
    pub files: Vec<RawFile>,
    pub key_rows: Option<KeyRows>,
    pub unreadable: Vec<(String, String)>,
}

/// Row counts of a day's listed files, from their footers (read and decoded by a few tasks,
/// each taking a run of files, so footers decode on every core), and with `keys` the key rows
/// of the day, numbered as the plan numbers rows: files in `plan`'s order (by key), then rows
/// in file order.
pub async fn survey(
    lake: &Lake,
    listing: &[LakeObject],
    keys: Option<&KeySurvey>,
) -> Result<Survey, CompactError> {
    let mut listing = listing.to_vec();
    listing.sort_by(|a, b| a.key.cmp(&b.key));
    listing.dedup_by(|a, b| a.key == b.key);
    let projection = keys.map(|k| Arc::new(KeyProjection::new(&k.schema, &k.columns)));
    // Cleared once the day's keys pass the budget: later files are read for their rows only.
    let want_keys = Arc::new(AtomicBool::new(keys.is_some()));
    let mut groups = futures::stream::iter(listing.chunks(SURVEY_GROUP_FILES).map(<[_]>::to_vec))
        .map(|group| {
            let (lake, projection, want_keys) =
                (lake.clone(), projection.clone(), want_keys.clone());
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(group.len());
                for o in group {
                    let mut file = LakeFile::ranged(&lake, &o.key, o.size);
                    let surveyed = match &projection {
                        Some(p)
                            if o.size <= WHOLE_FILE_MAX && want_keys.load(Ordering::Relaxed) =>
                        {
                            p.key_rows(file, &o.key)
                                .await
                                .map(|keys| (keys.len() as u64, Some(keys)))
                        }
                        _ => file.rows().await.map(|rows| (rows, None)),
                    };
                    let surveyed = match surveyed {
                        Ok(s) => s,
                        // A file that is not readable Parquet is reported, not fatal.
                        Err(e) if e.unreadable_file().is_some() => {
                            out.push(Err((o.key, e.to_string())));
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let raw = RawFile {
                        rows: surveyed.0,
                        key: o.key,
                        size: o.size,
                    };
                    out.push(Ok((raw, surveyed.1)));
                }
                Ok::<_, CompactError>(out)
            })
        })
        .buffered(SURVEY_CONCURRENCY);
    let mut files = Vec::with_capacity(listing.len());
    let mut key_rows = keys.map(|k| KeyRows::with_capacity(k.budget_rows));
    let mut first_row = 0u64;
    let mut unreadable = Vec::new();
    while let Some(group) = groups.next().await {
        for surveyed in group?? {
            let (raw, keys_of_file) = match surveyed {
                Ok(s) => s,
                Err(bad) => {
                    unreadable.push(bad);
                    continue;
                }
            };
            match (&mut key_rows, keys_of_file) {
                (Some(out), Some(keys_of_file)) => {
                    if out.len() + keys_of_file.len() > keys.map_or(0, |k| k.budget_rows) as usize {
                        want_keys.store(false, Ordering::Relaxed);
                        key_rows = None;
                    } else {
                        for mut k in keys_of_file {
                            k.row += first_row;
                            out.push(k);
                        }
                    }
                }
                // A file read without its keys: a large one (its keys are read a row group at a
                // time by the key pass), or one read after the keys were given up.
                (Some(_), None) => {
                    want_keys.store(false, Ordering::Relaxed);
                    key_rows = None;
                }
                (None, _) => {}
            }
            first_row += raw.rows;
            files.push(raw);
        }
    }
    Ok(Survey {
        files,
        key_rows,
        unreadable,
    })
}
