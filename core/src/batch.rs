//! Arrow schema of a source and the builder that turns cleaned rows into record batches.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::clean::{CleanRow, CleanValue};
use crate::source::{ColumnType, SourceDef};

pub const UTC: &str = "UTC";

pub fn arrow_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::String => DataType::Utf8,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::TimestampMs => DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into())),
    }
}

/// Whether the partition column is a column of the batches (single-file output) or only a
/// folder name (`p_date=D/`, Hive style, as in the lake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionColumn {
    Included,
    FolderOnly,
}

/// The Arrow schema a source's rows have.
pub fn arrow_schema(def: &SourceDef, partition: PartitionColumn) -> SchemaRef {
    let mut fields: Vec<Field> = def
        .columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(c.column_type), c.nullable()))
        .collect();
    if partition == PartitionColumn::Included {
        fields.push(Field::new(&def.partition_column, DataType::Date32, false));
    }
    Arc::new(Schema::new(fields))
}

enum ColumnBuilder {
    Str(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMillisecondBuilder),
}

impl ColumnBuilder {
    fn new(t: ColumnType, capacity: usize) -> ColumnBuilder {
        match t {
            ColumnType::String => {
                ColumnBuilder::Str(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            ColumnType::Int32 => ColumnBuilder::I32(Int32Builder::with_capacity(capacity)),
            ColumnType::Int64 => ColumnBuilder::I64(Int64Builder::with_capacity(capacity)),
            ColumnType::Float64 => ColumnBuilder::F64(Float64Builder::with_capacity(capacity)),
            ColumnType::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            ColumnType::TimestampMs => ColumnBuilder::Ts(
                TimestampMillisecondBuilder::with_capacity(capacity).with_timezone(UTC),
            ),
        }
    }

    fn append(&mut self, v: &CleanValue<'_>) {
        // The cleaner produces values of the column's type or Null; anything else is null too.
        match (self, v) {
            (ColumnBuilder::Str(b), CleanValue::Str(s)) => b.append_value(s),
            (ColumnBuilder::I32(b), CleanValue::I32(x)) => b.append_value(*x),
            (ColumnBuilder::I64(b), CleanValue::I64(x)) => b.append_value(*x),
            (ColumnBuilder::F64(b), CleanValue::F64(x)) => b.append_value(*x),
            (ColumnBuilder::Bool(b), CleanValue::Bool(x)) => b.append_value(*x),
            (ColumnBuilder::Ts(b), CleanValue::TimestampMs(x)) => b.append_value(*x),
            (ColumnBuilder::Str(b), _) => b.append_null(),
            (ColumnBuilder::I32(b), _) => b.append_null(),
            (ColumnBuilder::I64(b), _) => b.append_null(),
            (ColumnBuilder::F64(b), _) => b.append_null(),
            (ColumnBuilder::Bool(b), _) => b.append_null(),
            (ColumnBuilder::Ts(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Str(b) => Arc::new(b.finish()),
            ColumnBuilder::I32(b) => Arc::new(b.finish()),
            ColumnBuilder::I64(b) => Arc::new(b.finish()),
            ColumnBuilder::F64(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Ts(b) => Arc::new(b.finish()),
        }
    }
}

/// Accumulates cleaned rows into an Arrow record batch of the source's schema.
pub struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    p_date: Option<Date32Builder>,
    rows: usize,
    /// Raw input bytes of the rows appended (a flush-size measure that needs no encoding).
    raw_bytes: usize,
}

impl BatchBuilder {
    pub fn new(def: &SourceDef, partition: PartitionColumn, capacity: usize) -> BatchBuilder {
        BatchBuilder {
            schema: arrow_schema(def, partition),
            columns: def
                .columns
                .iter()
                .map(|c| ColumnBuilder::new(c.column_type, capacity))
                .collect(),
            p_date: (partition == PartitionColumn::Included)
                .then(|| Date32Builder::with_capacity(capacity)),
            rows: 0,
            raw_bytes: 0,
        }
    }

    pub fn append(&mut self, row: &CleanRow<'_>, raw_len: usize) {
        for (b, v) in self.columns.iter_mut().zip(&row.values) {
            b.append(v);
        }
        if let Some(p) = &mut self.p_date {
            p.append_value(row.p_date);
        }
        self.rows += 1;
        self.raw_bytes += raw_len;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn raw_bytes(&self) -> usize {
        self.raw_bytes
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The rows so far as a batch; the builder starts empty again.
    pub fn finish(&mut self) -> RecordBatch {
        let mut arrays: Vec<ArrayRef> = self.columns.iter_mut().map(|b| b.finish()).collect();
        if let Some(p) = &mut self.p_date {
            arrays.push(Arc::new(p.finish()));
        }
        self.rows = 0;
        self.raw_bytes = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .expect("builders follow the schema they were made from")
    }
}
