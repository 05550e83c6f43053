//! Reading lake Parquet files through the async Parquet reader: an `AsyncFileReader` over the
//! lake's object store (ranged reads), which small files skip by being fetched whole in one
//! request, and the mapping of a file's columns onto the curated schema.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, make_array, new_null_array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use bytes::Bytes;
use firelake_core::Lake;
use futures::FutureExt;
use futures::future::BoxFuture;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader, ParquetStatisticsPolicy};

use crate::CompactError;

/// Files up to this size are fetched in one request and decoded from memory: a small raw
/// file is one row group, and one GET beats a footer read plus column reads. (Its decoded
/// batches are held until the encoder takes them, a few files ahead: this keeps that small.)
pub const WHOLE_FILE_MAX: u64 = 1 << 20;
/// How much of a file's tail to fetch for its footer in one request.
const FOOTER_HINT: usize = 16 << 10;
/// Rows per decoded batch.
pub const BATCH_ROWS: usize = 8192;

/// A Parquet file in the lake, for the async reader.
pub struct LakeFile {
    lake: Lake,
    key: String,
    size: u64,
    /// The whole file, when it was small enough to fetch at once.
    content: Option<Bytes>,
}

impl LakeFile {
    /// `key` (of `size` bytes), read by range as the decoder asks (footers only, large files).
    pub fn ranged(lake: &Lake, key: &str, size: u64) -> LakeFile {
        LakeFile {
            lake: lake.clone(),
            key: key.to_string(),
            size,
            content: None,
        }
    }

    /// Open `key` (of `size` bytes) for decoding: small files are fetched whole now, large
    /// ones are read by range as the decoder asks.
    pub async fn open(lake: &Lake, key: &str, size: u64) -> Result<LakeFile, CompactError> {
        let content = if size <= WHOLE_FILE_MAX {
            let bytes = lake
                .get(key)
                .await?
                .ok_or_else(|| CompactError::InputChanged {
                    key: key.to_string(),
                    detail: "the file is gone".into(),
                })?;
            if bytes.len() as u64 != size {
                return Err(CompactError::InputChanged {
                    key: key.to_string(),
                    detail: format!("listed with {size} bytes, read {}", bytes.len()),
                });
            }
            Some(bytes)
        } else {
            None
        };
        Ok(LakeFile {
            lake: lake.clone(),
            key: key.to_string(),
            size,
            content,
        })
    }

    /// Whether the whole file is in memory (decoding it needs no I/O).
    pub fn in_memory(&self) -> bool {
        self.content.is_some()
    }

    fn slice(content: &Bytes, range: Range<u64>) -> ParquetResult<Bytes> {
        if range.start > range.end || range.end > content.len() as u64 {
            return Err(ParquetError::EOF(format!(
                "range {range:?} outside a file of {} bytes",
                content.len()
            )));
        }
        Ok(content.slice(range.start as usize..range.end as usize))
    }

    /// The file's row count, from its footer (without the Arrow schema, which costs more to
    /// decode than the rest of a small file's footer).
    pub async fn rows(&mut self) -> Result<u64, CompactError> {
        let options = footer_options();
        let metadata =
            self.get_metadata(Some(&options))
                .await
                .map_err(|source| CompactError::Parquet {
                    key: self.key.clone(),
                    source,
                })?;
        Ok(metadata.file_metadata().num_rows().max(0) as u64)
    }

    /// The file's footer, decoded.
    pub async fn metadata(&mut self) -> Result<ArrowReaderMetadata, CompactError> {
        let key = self.key.clone();
        ArrowReaderMetadata::load_async(self, footer_options())
            .await
            .map_err(|source| CompactError::Parquet { key, source })
    }

    /// A stream of batches of the root columns `columns` (file field indices).
    pub fn stream(
        self,
        metadata: ArrowReaderMetadata,
        columns: &[usize],
    ) -> Result<parquet::arrow::async_reader::ParquetRecordBatchStream<LakeFile>, CompactError>
    {
        let key = self.key.clone();
        let mask = ProjectionMask::roots(metadata.parquet_schema(), columns.iter().copied());
        ParquetRecordBatchStreamBuilder::new_with_metadata(self, metadata)
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|source| CompactError::Parquet { key, source })
    }
}

/// How footers are decoded: without the statistics (column min/max, encodings, sizes), which
/// nothing here reads and which cost an allocation or more per column chunk to decode.
fn footer_options() -> ArrowReaderOptions {
    ArrowReaderOptions::new()
        .with_column_stats_policy(ParquetStatisticsPolicy::SkipAll)
        .with_encoding_stats_policy(ParquetStatisticsPolicy::SkipAll)
        .with_size_stats_policy(ParquetStatisticsPolicy::SkipAll)
}

fn external(e: firelake_core::LakeError) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for LakeFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, ParquetResult<Bytes>> {
        if let Some(content) = &self.content {
            return futures::future::ready(Self::slice(content, range)).boxed();
        }
        async move {
            self.lake
                .get_range(&self.key, range)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, ParquetResult<Vec<Bytes>>> {
        if let Some(content) = &self.content {
            let out = ranges
                .into_iter()
                .map(|r| Self::slice(content, r))
                .collect();
            return futures::future::ready(out).boxed();
        }
        async move {
            self.lake
                .get_ranges(&self.key, &ranges)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, ParquetResult<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .with_prefetch_hint(Some(FOOTER_HINT))
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// How one file's columns become the target schema's: by name; a type that differs (another
/// writer's time zone spelling, large or view strings, dictionary arrays) is cast, a nullable
/// column the file lacks (added to the source later) is all null, and columns the source no
/// longer has are not read.
#[derive(Debug, Clone)]
pub struct Conform {
    target: SchemaRef,
    /// The file's root columns to read, ascending (the order the decoder returns them in).
    read: Vec<usize>,
    /// Per target column: its position in the decoded batch, or `None` (all null).
    from: Vec<Option<usize>>,
    cast: Vec<bool>,
}

impl Conform {
    pub fn new(file: &Schema, target: SchemaRef, key: &str) -> Result<Conform, CompactError> {
        let mut wanted: Vec<(usize, usize)> = Vec::new(); // (file index, target index)
        for (ti, field) in target.fields().iter().enumerate() {
            match file.index_of(field.name()) {
                Ok(fi) => wanted.push((fi, ti)),
                Err(_) if field.is_nullable() => {}
                Err(_) => {
                    return Err(CompactError::Schema {
                        key: key.to_string(),
                        detail: format!(
                            "the file has no column {:?}, which is required",
                            field.name()
                        ),
                    });
                }
            }
        }
        let mut read: Vec<usize> = wanted.iter().map(|(fi, _)| *fi).collect();
        read.sort_unstable();
        let mut from = vec![None; target.fields().len()];
        let mut cast = vec![false; target.fields().len()];
        for (fi, ti) in wanted {
            from[ti] = Some(read.binary_search(&fi).expect("in read"));
            cast[ti] = file.field(fi).data_type() != target.field(ti).data_type();
        }
        Ok(Conform {
            target,
            read,
            from,
            cast,
        })
    }

    pub fn columns_to_read(&self) -> &[usize] {
        &self.read
    }

    pub fn apply(&self, batch: &RecordBatch, key: &str) -> Result<RecordBatch, CompactError> {
        let arrow_err = |source| CompactError::Arrow {
            key: key.to_string(),
            source,
        };
        let rows = batch.num_rows();
        let strict = CastOptions {
            // A value that does not fit the target type is an error, never a silent null.
            safe: false,
            ..Default::default()
        };
        let columns = self
            .target
            .fields()
            .iter()
            .enumerate()
            .map(|(ti, field)| -> Result<ArrayRef, CompactError> {
                match self.from[ti] {
                    None => Ok(new_null_array(field.data_type(), rows)),
                    Some(bi) if self.cast[ti] => {
                        cast_column(batch.column(bi), field.data_type(), &strict).map_err(arrow_err)
                    }
                    Some(bi) => Ok(batch.column(bi).clone()),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Checks nullability too: a null in a required column (a dedupe key) is an error.
        RecordBatch::try_new(self.target.clone(), columns).map_err(arrow_err)
    }
}

/// `column` as `to`. A timestamp without a time zone (INT96, as Firehose's Hive SerDe writes
/// it, or an INT64 one not marked UTC-adjusted) is a UTC instant in a lake file: it becomes
/// the target's unit, then is labelled with the target's zone, values unchanged (a plain cast
/// would read it as local time in that zone, and needs the zone database to do so).
fn cast_column(
    column: &ArrayRef,
    to: &DataType,
    options: &CastOptions,
) -> Result<ArrayRef, arrow::error::ArrowError> {
    match (column.data_type(), to) {
        (DataType::Timestamp(_, None), DataType::Timestamp(unit, Some(_))) => {
            let naive = cast_with_options(column, &DataType::Timestamp(*unit, None), options)?;
            let data = naive
                .to_data()
                .into_builder()
                .data_type(to.clone())
                .build()?;
            Ok(make_array(data))
        }
        _ => cast_with_options(column, to, options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int32Array, Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, TimeUnit};

    fn target() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int32, true),
            Field::new("added_later", DataType::Utf8, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
        ]))
    }

    #[test]
    fn conform_maps_by_name_casts_and_fills_nulls() {
        let file = Schema::new(vec![
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
                true,
            ),
            Field::new("dropped", DataType::Int64, true),
            Field::new("id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]);
        let c = Conform::new(&file, target(), "k").unwrap();
        assert_eq!(c.columns_to_read(), [0, 2, 3]);
        let decoded = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                file.field(0).clone(),
                file.field(2).clone(),
                file.field(3).clone(),
            ])),
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![5, 6]).with_timezone("+00:00")),
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(Int64Array::from(vec![Some(1), None])),
            ],
        )
        .unwrap();
        let out = c.apply(&decoded, "k").unwrap();
        assert_eq!(out.schema(), target());
        let n = out.column(1).as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(n.value(0), 1);
        assert!(n.is_null(1));
        assert_eq!(out.column(2).null_count(), 2);

        // A value that does not fit, or a null where the source requires a value: errors.
        let too_big = RecordBatch::try_new(
            decoded.schema(),
            vec![
                decoded.column(0).clone(),
                decoded.column(1).clone(),
                Arc::new(Int64Array::from(vec![Some(1), Some(1 << 40)])),
            ],
        )
        .unwrap();
        assert!(matches!(
            c.apply(&too_big, "k"),
            Err(CompactError::Arrow { .. })
        ));
        let null_id = RecordBatch::try_new(
            decoded.schema(),
            vec![
                decoded.column(0).clone(),
                Arc::new(StringArray::from(vec![Some("a"), None])),
                decoded.column(2).clone(),
            ],
        )
        .unwrap();
        assert!(c.apply(&null_id, "k").is_err());
    }

    #[test]
    fn naive_timestamps_of_any_unit_are_utc_instants_in_the_target_unit_and_zone() {
        use arrow::array::{TimestampMicrosecondArray, TimestampNanosecondArray};
        let target = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let strict = CastOptions {
            safe: false,
            ..Default::default()
        };
        let int96: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![
            Some(1_709_287_200_123_456_789),
            None,
        ]));
        let micros: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![Some(1_709_287_200_123_456), None])
                .with_timezone("+00:00"),
        );
        for column in [int96, micros] {
            let out = cast_column(&column, &target, &strict).unwrap();
            assert_eq!(out.data_type(), &target);
            let ms = out
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap();
            assert_eq!(ms.value(0), 1_709_287_200_123);
            assert!(ms.is_null(1));
        }
    }

    #[test]
    fn a_file_without_a_required_column_is_refused() {
        let file = Schema::new(vec![Field::new("n", DataType::Int32, true)]);
        let err = Conform::new(&file, target(), "users/p_date=2025-06-01/x.parquet").unwrap_err();
        assert!(err.to_string().contains("\"id\""), "{err}");
    }
}
