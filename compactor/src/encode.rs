//! A Parquet file writer that encodes its columns in parallel, for the merge's output.
//!
//! `AsyncArrowWriter` encodes every column of a batch on the caller's thread, so one core
//! encodes and compresses the whole day while the other only decodes. Here each leaf column
//! has a task of its own that owns the column's writer and encodes the slices it is sent, in
//! order; the runtime's workers share those tasks with the decoding ones. At the end of a row
//! group the finished column chunks are appended, in schema order, to a `SerializedFileWriter`
//! over a memory buffer, and the buffer is handed to the upload. Memory holds one row group in
//! encoded form (as `AsyncArrowWriter` does), plus the few slices queued per column.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory,
    compute_leaves,
};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Slices queued per column task: enough that a column never waits for the feeder, few enough
/// that queued input stays a couple of batches.
const QUEUED_SLICES: usize = 2;

/// What a column task is asked to do, in order.
enum ColumnJob {
    Write(ArrowLeafColumn),
    /// Close the row group's chunk and send it back; go on with `next` (none: the file ends).
    Finish {
        next: Option<Box<ArrowColumnWriter>>,
        reply: oneshot::Sender<Result<ArrowColumnChunk>>,
    },
}

struct ColumnTask {
    jobs: mpsc::Sender<ColumnJob>,
    task: JoinHandle<()>,
}

/// Writes one Parquet file to `W`, encoding columns in parallel on the Tokio runtime.
pub struct ParallelArrowWriter<W> {
    schema: SchemaRef,
    file: SerializedFileWriter<Vec<u8>>,
    factory: ArrowRowGroupWriterFactory,
    columns: Vec<ColumnTask>,
    /// Each column's estimate of its encoded size so far in this row group.
    estimates: Arc<[AtomicUsize]>,
    out: W,
    max_row_group_rows: usize,
    buffered_rows: usize,
    row_groups: usize,
}

fn stopped() -> ParquetError {
    ParquetError::General("a column encoder stopped unexpectedly".into())
}

impl<W: AsyncWrite + Unpin + Send> ParallelArrowWriter<W> {
    /// A writer of `schema` with `props` (row group size, codecs, dictionaries) to `out`; the
    /// file carries the Arrow schema as `ArrowWriter`'s files do.
    pub fn try_new(out: W, schema: SchemaRef, props: WriterProperties) -> Result<Self> {
        let max_row_group_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        let (file, factory) = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?
            .into_serialized_writer()?;
        let writers = factory.create_column_writers(0)?;
        let estimates: Arc<[AtomicUsize]> = writers.iter().map(|_| AtomicUsize::new(0)).collect();
        let columns = writers
            .into_iter()
            .enumerate()
            .map(|(i, writer)| {
                let (jobs, queue) = mpsc::channel(QUEUED_SLICES);
                let task = tokio::spawn(encode_column(writer, queue, estimates.clone(), i));
                ColumnTask { jobs, task }
            })
            .collect();
        Ok(ParallelArrowWriter {
            schema,
            file,
            factory,
            columns,
            estimates,
            out,
            max_row_group_rows,
            buffered_rows: 0,
            row_groups: 0,
        })
    }

    /// Queue `batch` for encoding; a full row group is written out first.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take =
                (self.max_row_group_rows - self.buffered_rows).min(batch.num_rows() - offset);
            let slice = batch.slice(offset, take);
            let mut column = 0;
            for (field, array) in self.schema.fields().iter().zip(slice.columns()) {
                for leaf in compute_leaves(field, array)? {
                    let jobs = &self.columns.get(column).ok_or_else(stopped)?.jobs;
                    jobs.send(ColumnJob::Write(leaf))
                        .await
                        .map_err(|_| stopped())?;
                    column += 1;
                }
            }
            self.buffered_rows += take;
            offset += take;
            if self.buffered_rows == self.max_row_group_rows {
                self.flush_row_group(true).await?;
            }
        }
        Ok(())
    }

    /// Bytes of the file written so far plus the estimated encoded size of the open row group.
    pub fn estimated_size(&self) -> u64 {
        let open: usize = self
            .estimates
            .iter()
            .map(|e| e.load(Ordering::Relaxed))
            .sum();
        (self.file.bytes_written() + open) as u64
    }

    /// Close the open row group: gather its column chunks in order, append them to the file and
    /// pass the bytes on. `more`: the file goes on, so the tasks get the next group's writers.
    async fn flush_row_group(&mut self, more: bool) -> Result<()> {
        let mut next = if more {
            self.factory
                .create_column_writers(self.row_groups + 1)?
                .into_iter()
                .map(|w| Some(Box::new(w)))
                .collect()
        } else {
            Vec::new()
        };
        next.resize_with(self.columns.len(), || None);
        let mut replies = Vec::with_capacity(self.columns.len());
        for (column, next) in self.columns.iter().zip(next) {
            let (reply, chunk) = oneshot::channel();
            column
                .jobs
                .send(ColumnJob::Finish { next, reply })
                .await
                .map_err(|_| stopped())?;
            replies.push(chunk);
        }
        let mut row_group = self.file.next_row_group()?;
        for chunk in replies {
            chunk
                .await
                .map_err(|_| stopped())??
                .append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        self.row_groups += 1;
        self.buffered_rows = 0;
        self.pass_on().await
    }

    /// Move the encoded bytes from the file's buffer to `out`.
    async fn pass_on(&mut self) -> Result<()> {
        self.file.flush()?;
        let buffer = self.file.inner_mut();
        self.out.write_all(buffer).await?;
        // Cleared, not taken: the next row group reuses the allocation.
        buffer.clear();
        Ok(())
    }

    /// Write the last row group and the footer, and complete `out` (for an upload: make the
    /// object exist). Returns the file's metadata.
    pub async fn close(mut self) -> Result<ParquetMetaData> {
        if self.buffered_rows > 0 {
            self.flush_row_group(false).await?;
        }
        for column in std::mem::take(&mut self.columns) {
            drop(column.jobs);
            column.task.await.map_err(|_| stopped())?;
        }
        let metadata = self.file.finish()?;
        self.pass_on().await?;
        self.out.shutdown().await?;
        Ok(metadata)
    }
}

impl<W> Drop for ParallelArrowWriter<W> {
    fn drop(&mut self) {
        // A writer dropped on an error path: stop its column tasks rather than leave them
        // waiting (closing the queues ends them; abort also ends one that is mid-slice).
        for column in &self.columns {
            column.task.abort();
        }
    }
}

/// One column's task: encode the slices it is sent into the row group's writer; on `Finish`
/// close the writer and send the chunk (or the first error) back.
async fn encode_column(
    writer: ArrowColumnWriter,
    mut jobs: mpsc::Receiver<ColumnJob>,
    estimates: Arc<[AtomicUsize]>,
    index: usize,
) {
    let mut writer = Some(writer);
    let mut failed: Option<ParquetError> = None;
    while let Some(job) = jobs.recv().await {
        match job {
            ColumnJob::Write(leaf) => {
                let (Some(w), None) = (writer.as_mut(), &failed) else {
                    continue; // the error is reported at Finish
                };
                match w.write(&leaf) {
                    Ok(()) => {
                        estimates[index].store(w.get_estimated_total_bytes(), Ordering::Relaxed)
                    }
                    Err(e) => failed = Some(e),
                }
            }
            ColumnJob::Finish { next, reply } => {
                let chunk = match (writer.take(), failed.take()) {
                    (_, Some(e)) => Err(e),
                    (Some(w), None) => w.close(),
                    (None, None) => Err(ParquetError::General("no open column chunk".into())),
                };
                estimates[index].store(0, Ordering::Relaxed);
                writer = next.map(|w| *w);
                // The writer only drops the reply when it is failing anyway.
                let _ = reply.send(chunk);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, StructArray};
    use arrow::datatypes::{DataType, Field, Fields, Schema};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn batch(schema: &SchemaRef, from: i64, rows: i64) -> RecordBatch {
        let ids: Vec<i64> = (from..from + rows).collect();
        let names: Vec<Option<String>> = ids
            .iter()
            .map(|i| (i % 7 != 0).then(|| format!("name-{}", i % 13)))
            .collect();
        let inner = StructArray::new(
            Fields::from(vec![Field::new("x", DataType::Int64, true)]),
            vec![Arc::new(Int64Array::from_iter_values(
                ids.iter().map(|i| i * 2),
            ))],
            None,
        );
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
                Arc::new(inner),
            ],
        )
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_file_reads_back_like_the_input_with_row_groups_split_across_batches() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new(
                "nested",
                DataType::Struct(Fields::from(vec![Field::new("x", DataType::Int64, true)])),
                true,
            ),
        ]));
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .build();
        let mut out = Vec::new();
        let mut w = ParallelArrowWriter::try_new(&mut out, schema.clone(), props).unwrap();
        let inputs: Vec<RecordBatch> = [(0, 700), (700, 700), (1400, 1), (1401, 1599)]
            .iter()
            .map(|(from, rows)| batch(&schema, *from, *rows))
            .collect();
        for b in &inputs {
            w.write(b).await.unwrap();
        }
        assert!(w.estimated_size() > 0);
        let metadata = w.close().await.unwrap();
        assert_eq!(metadata.file_metadata().num_rows(), 3000);
        assert_eq!(metadata.num_row_groups(), 3);

        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(out))
            .unwrap()
            .build()
            .unwrap();
        let read: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(
            read[0].schema(),
            schema,
            "the Arrow schema travels in the file"
        );
        let expected = arrow::compute::concat_batches(&schema, &inputs).unwrap();
        let got = arrow::compute::concat_batches(&schema, &read).unwrap();
        assert_eq!(got, expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_encoding_error_is_reported_not_swallowed() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let mut out = Vec::new();
        let mut w =
            ParallelArrowWriter::try_new(&mut out, schema, WriterProperties::default()).unwrap();
        // A batch of another schema: the leaves do not fit the column writers.
        let other = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
        let bad =
            RecordBatch::try_new(other, vec![Arc::new(StringArray::from(vec!["a"]))]).unwrap();
        let result = match w.write(&bad).await {
            Err(e) => Err(e),
            Ok(()) => w.close().await.map(|_| ()),
        };
        assert!(result.is_err(), "{result:?}");
    }
}
