//! The Iceberg table a source definition gives when it is created (pure): its schema and its
//! partition spec. The name mapping is built from the schema ([`crate::evolution`]).

use firelake_core::source::{ColumnType, SourceDef};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec};

/// The one partition field: the day of the partition timestamp (hidden partitioning).
pub const DAY_FIELD: &str = "p_day";

/// Iceberg's type for a definition's column. Timestamps are UTC instants (`timestamptz`);
/// the files hold them as `TIMESTAMP(MILLIS, UTC)`, which readers widen to microseconds.
pub fn iceberg_type(t: ColumnType) -> PrimitiveType {
    match t {
        ColumnType::String => PrimitiveType::String,
        ColumnType::Int32 => PrimitiveType::Int,
        ColumnType::Int64 => PrimitiveType::Long,
        ColumnType::Float64 => PrimitiveType::Double,
        ColumnType::Bool => PrimitiveType::Boolean,
        ColumnType::TimestampMs => PrimitiveType::Timestamptz,
    }
}

/// Field id of the definition's `i`th column in a new table: ids start at 1 in definition
/// order. A column added later gets the next id of the table ([`crate::evolution`]), so in an
/// evolved table a column's id is looked up by name, not derived from its place.
pub fn field_id(i: usize) -> i32 {
    i as i32 + 1
}

/// The table's columns: the definition's, in its order, every one optional (a value a rule
/// nulls is a null in the file). `p_date` is not a column: it is the partition field.
pub fn schema(def: &SourceDef) -> iceberg::Result<Schema> {
    let fields = def
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let t = Type::Primitive(iceberg_type(c.column_type));
            NestedField::optional(field_id(i), c.name.to_lowercase(), t).into()
        })
        .collect::<Vec<_>>();
    Schema::builder().with_fields(fields).build()
}

/// `day(<partition timestamp>)`: the same day as the Hive folder's `p_date`, derived by the
/// reader from the column, so a filter on the timestamp prunes files.
pub fn partition_spec(def: &SourceDef) -> iceberg::Result<UnboundPartitionSpec> {
    UnboundPartitionSpec::builder()
        .add_partition_field(field_id(def.partition_from), DAY_FIELD, Transform::Day)
        .map(|b| b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> SourceDef {
        SourceDef::resolve("users", None).expect("built-in users")
    }

    #[test]
    fn schema_follows_the_definition() {
        let def = users();
        let s = schema(&def).unwrap();
        assert_eq!(s.as_struct().fields().len(), def.columns.len());
        for (i, c) in def.columns.iter().enumerate() {
            let f = s.field_by_id(field_id(i)).unwrap();
            assert_eq!(f.name, c.name);
            assert!(!f.required);
            assert_eq!(*f.field_type, Type::Primitive(iceberg_type(c.column_type)));
        }
    }

    #[test]
    fn partition_is_the_day_of_the_partition_timestamp() {
        let def = users();
        let spec = partition_spec(&def).unwrap();
        let f = &spec.fields()[0];
        assert_eq!(f.source_id, field_id(def.partition_from));
        assert_eq!(f.transform, Transform::Day);
        let bound = spec.bind(schema(&def).unwrap()).unwrap();
        assert_eq!(bound.fields().len(), 1);
    }
}
