//! Pass 2: every kept row streamed into the generation's files, with their writer settings.

use super::*;

/// A batch on its way to the encoder, with the bin it belongs to.
struct Piece {
    bin: usize,
    batch: RecordBatch,
}

/// Pass 2: stream every kept row (all of them without `winners`) into new files under
/// `generation`, one or more per bin, in plan order. Returns the files written with their row
/// counts (sizes are filled in by verification).
pub async fn write_generation(
    lake: &Lake,
    plan: Arc<Plan>,
    schema: SchemaRef,
    winners: Option<Arc<Winners>>,
    generation: &str,
    zstd_level: ZstdLevel,
    progress: &dyn Progress,
) -> Result<Vec<OutputFile>, CompactError> {
    let (tx, mut rx) = mpsc::channel::<Result<Piece, CompactError>>(CHANNEL_BATCHES);
    let reader = tokio::spawn(read_kept_rows(
        lake.clone(),
        plan.clone(),
        schema.clone(),
        winners,
        tx,
    ));

    let mut outputs: Vec<OutputFile> = Vec::new();
    let mut current: Option<(ParallelArrowWriter<BufWriter>, OutputFile)> = None;
    let mut current_bin = usize::MAX;
    while let Some(piece) = rx.recv().await {
        let Piece { bin, batch } = piece?;
        progress.advanced(batch.num_rows() as u64);
        if batch.num_rows() == 0 {
            continue;
        }
        // A new bin starts a new file; so does a file about to pass the target size (input
        // size only estimates output size).
        let full = current
            .as_ref()
            .is_some_and(|(w, _)| w.estimated_size() >= plan.target_bytes);
        if bin != current_bin || full {
            if let Some((w, out)) = current.take() {
                outputs.push(close_output(w, out).await?);
            }
            current_bin = bin;
        }
        if current.is_none() {
            let index = outputs.len();
            current = Some(open_output(
                lake, &schema, generation, index, &batch, zstd_level,
            )?);
        }
        let (w, out) = current.as_mut().expect("opened above");
        w.write(&batch)
            .await
            .map_err(|source| CompactError::Parquet {
                key: out.key.clone(),
                source,
            })?;
    }
    if let Some((w, out)) = current.take() {
        outputs.push(close_output(w, out).await?);
    }
    reader.await?;
    Ok(outputs)
}

/// The reading side of pass 2 (a task of its own): every kept row of the plan, in plan order,
/// gathered per bin into batches of about BATCH_ROWS and sent to the writer; an error is sent
/// as the last message.
async fn read_kept_rows(
    lake: Lake,
    plan: Arc<Plan>,
    schema: SchemaRef,
    winners: Option<Arc<Winners>>,
    tx: mpsc::Sender<Result<Piece, CompactError>>,
) {
    let bin_of: Vec<usize> = plan
        .bins
        .iter()
        .enumerate()
        .flat_map(|(b, bin)| bin.files.clone().map(move |_| b))
        .collect();
    // Small files give small batches; the encoder works better on a few thousand rows
    // at a time, so kept rows are gathered per bin into batches of BATCH_ROWS.
    let mut coalescer = BatchCoalescer::new(schema.clone(), BATCH_ROWS);
    let mut coalescing_bin = 0;
    let result = scan(
        &lake,
        &plan,
        &schema,
        Fetch::Whole,
        |file, first_row, batch| {
            let tx = tx.clone();
            let bin = bin_of[file];
            let key = &plan.files[file].key;
            let arrow_err = |source| CompactError::Arrow {
                key: key.clone(),
                source,
            };
            let mut ready = Vec::new();
            let pushed = (|| {
                if bin != coalescing_bin {
                    coalescer.finish_buffered_batch()?;
                    while let Some(b) = coalescer.next_completed_batch() {
                        ready.push(Piece {
                            bin: coalescing_bin,
                            batch: b,
                        });
                    }
                    coalescing_bin = bin;
                }
                match winners
                    .as_ref()
                    .and_then(|w| w.mask(first_row, batch.num_rows()))
                {
                    Some(mask) => coalescer.push_batch_with_filter(batch, &mask)?,
                    None => coalescer.push_batch(batch)?,
                }
                while let Some(b) = coalescer.next_completed_batch() {
                    ready.push(Piece { bin, batch: b });
                }
                Ok(())
            })()
            .map_err(arrow_err);
            async move {
                pushed?;
                for piece in ready {
                    // A closed channel means the writer failed; its error is the one to
                    // report.
                    let _ = tx.send(Ok(piece)).await;
                }
                Ok(())
            }
        },
    )
    .await
    .and_then(|()| {
        coalescer
            .finish_buffered_batch()
            .map_err(|source| CompactError::Arrow {
                key: "the last rows".into(),
                source,
            })
    });
    match result {
        Ok(()) => {
            while let Some(batch) = coalescer.next_completed_batch() {
                let piece = Piece {
                    bin: coalescing_bin,
                    batch,
                };
                let _ = tx.send(Ok(piece)).await;
            }
        }
        Err(e) => {
            let _ = tx.send(Err(e)).await;
        }
    }
}

/// A new output file of the generation, numbered `index`, its writer settings taken from its
/// first batch.
fn open_output(
    lake: &Lake,
    schema: &SchemaRef,
    generation: &str,
    index: usize,
    first: &RecordBatch,
    zstd_level: ZstdLevel,
) -> Result<(ParallelArrowWriter<BufWriter>, OutputFile), CompactError> {
    let key = output_key(generation, index);
    let writer = ParallelArrowWriter::try_new(
        lake.upload(&key),
        schema.clone(),
        writer_properties(first, zstd_level),
    )
    .map_err(|source| CompactError::Parquet {
        key: key.clone(),
        source,
    })?;
    let out = OutputFile {
        key,
        size: 0,
        rows: 0,
    };
    Ok((writer, out))
}

/// Finishes an output file (its footer written and the upload completed) with its row count.
async fn close_output(
    w: ParallelArrowWriter<BufWriter>,
    mut out: OutputFile,
) -> Result<OutputFile, CompactError> {
    let metadata = w.close().await.map_err(|source| CompactError::Parquet {
        key: out.key.clone(),
        source,
    })?;
    out.rows = metadata.file_metadata().num_rows() as u64;
    crash::point("output");
    Ok(out)
}

/// Rows of a file's first batch that decide its dictionary settings.
const DICTIONARY_SAMPLE_MIN_ROWS: usize = 512;

/// Writer settings for an output file: the lake's (122,880-row groups), zstd at `zstd_level`
/// (`CompactOptions::zstd_level`), and the dictionary turned off for columns that are (nearly) all distinct in the first batch: ids,
/// e-mail addresses, phone numbers, coordinates, timestamps. Their dictionary only costs: a
/// string column's overflows and falls back to plain encoding after hashing tens of thousands
/// of values per row group, an 8-byte column's holds every value of the row group. Repetitive
/// columns keep theirs. Decided from the data, so the same input gives the same file.
fn writer_properties(first: &RecordBatch, zstd_level: ZstdLevel) -> WriterProperties {
    let mut builder = parquet_properties()
        .into_builder()
        .set_compression(Compression::ZSTD(zstd_level));
    for (field, column) in first.schema().fields().iter().zip(first.columns()) {
        if mostly_distinct(column.as_ref()) {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    builder.build()
}

/// Whether at least 95% of a column's non-null values differ (and there are enough to say).
fn mostly_distinct(column: &dyn Array) -> bool {
    fn judge<T: std::hash::Hash + Eq>(values: impl Iterator<Item = T>) -> bool {
        let values: Vec<T> = values.collect();
        let n = values.len();
        let distinct: HashSet<T> = values.into_iter().collect();
        n >= DICTIONARY_SAMPLE_MIN_ROWS && distinct.len() * 20 >= n * 19
    }
    let any = column.as_any();
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return judge(a.iter().flatten());
    }
    macro_rules! primitive {
        ($($t:ty),*) => {$(
            if let Some(a) = any.downcast_ref::<PrimitiveArray<$t>>() {
                return judge(a.iter().flatten().map(|v| v.to_le_bytes()));
            }
        )*};
    }
    primitive!(Int32Type, Int64Type, Float64Type, TimestampMillisecondType);
    false
}
