//! Schema evolution of the Iceberg table (pure): the table's current schema in the shape the
//! core diff takes ([`firelake_core::schema_evolution::diff`], the one set of rules the Hive-style
//! tables follow too), and the diff's plan as changes of the Iceberg schema. The I/O that
//! commits them is [`crate::landing`].

use firelake_core::SourceDef;
use firelake_core::schema_evolution::{
    Change, EvolutionError, Field, FieldType, Plan, diff, source_fields,
};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};

/// The table's columns as the diff takes them. Nullability is `None` (not a difference):
/// every column of a landing table is optional whatever the definition says (a value a rule
/// nulls is a null in the file), so only names and types are compared; a new required
/// column is still refused, as on the Hive-style tables.
pub fn table_fields(schema: &Schema) -> Vec<Field> {
    schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| Field {
            name: f.name.clone(),
            field_type: field_type(&f.field_type),
            nullable: None,
        })
        .collect()
}

/// The diff's name for an Iceberg type; a type firelake does not write (a table changed by
/// hand) is kept as `Other` so a change of it is reported.
pub fn field_type(t: &Type) -> FieldType {
    match t {
        Type::Primitive(PrimitiveType::Int) => FieldType::Int32,
        Type::Primitive(PrimitiveType::Long) => FieldType::Int64,
        Type::Primitive(PrimitiveType::Float) => FieldType::Float32,
        Type::Primitive(PrimitiveType::Double) => FieldType::Float64,
        Type::Primitive(PrimitiveType::String) => FieldType::String,
        Type::Primitive(PrimitiveType::Boolean) => FieldType::Bool,
        Type::Primitive(PrimitiveType::Timestamptz) => FieldType::TimestampMs,
        other => FieldType::Other(other.to_string()),
    }
}

/// Iceberg's type for a diff type (the inverse of [`field_type`]); `None` for `Other`.
pub fn primitive(t: &FieldType) -> Option<PrimitiveType> {
    Some(match t {
        FieldType::Int32 => PrimitiveType::Int,
        FieldType::Int64 => PrimitiveType::Long,
        FieldType::Float32 => PrimitiveType::Float,
        FieldType::Float64 => PrimitiveType::Double,
        FieldType::String => PrimitiveType::String,
        FieldType::Bool => PrimitiveType::Boolean,
        FieldType::TimestampMs => PrimitiveType::Timestamptz,
        FieldType::Other(_) => return None,
    })
}

/// The plan that brings the table's current schema to the definition, or every refused change.
pub fn plan(table: &str, schema: &Schema, def: &SourceDef) -> Result<Plan, EvolutionError> {
    diff(table, &table_fields(schema), &source_fields(def))
}

/// A plan as Iceberg schema changes. Required -> optional has nothing to do: the table's
/// columns are optional already.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaChanges {
    /// New optional columns, in the plan's order; the catalog gives each a new field id.
    pub add: Vec<(String, PrimitiveType)>,
    /// Columns whose type is widened in place (same field id).
    pub widen: Vec<(String, PrimitiveType)>,
}

impl SchemaChanges {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.widen.is_empty()
    }
}

pub fn changes(plan: &Plan) -> SchemaChanges {
    let mut out = SchemaChanges::default();
    for c in &plan.changes {
        // The diff plans only additions of definition types and widenings to int64/float64,
        // all of which have an Iceberg type.
        match c {
            Change::Add { name, field_type } => {
                out.add.push((name.clone(), primitive_of_plan(field_type)))
            }
            Change::Widen { name, to, .. } => out.widen.push((name.clone(), primitive_of_plan(to))),
            Change::MakeOptional { .. } => {}
        }
    }
    out
}

fn primitive_of_plan(t: &FieldType) -> PrimitiveType {
    primitive(t).expect("the diff plans only types firelake writes")
}

/// `schema` with the widened columns' types changed, field ids and schema id kept.
pub fn widened(schema: &Schema, widen: &[(String, PrimitiveType)]) -> iceberg::Result<Schema> {
    let fields = schema.as_struct().fields().iter().map(|f| {
        match widen.iter().find(|(name, _)| *name == f.name) {
            Some((_, t)) => {
                let mut f = NestedField::clone(f);
                f.field_type = Box::new(Type::Primitive(t.clone()));
                f.into()
            }
            None => f.clone(),
        }
    });
    Schema::builder()
        .with_schema_id(schema.schema_id())
        .with_fields(fields)
        .with_identifier_field_ids(schema.identifier_field_ids())
        .build()
}

/// `schema.name-mapping.default`: firelake's files carry no Iceberg field ids, so readers map
/// a file's columns to the table's by name (the Iceberg spec's "column projection" rule).
/// Built from the schema, not the definition: after evolution a column's id is the one the
/// table gave it, not its place in the definition.
pub fn name_mapping(schema: &Schema) -> String {
    let fields = schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| serde_json::json!({"field-id": f.id, "names": [f.name]}))
        .collect::<Vec<_>>();
    serde_json::Value::Array(fields).to_string()
}

/// The mapping a table holds is the one its schema needs (compared as JSON, not as text).
pub fn mapping_is_current(held: Option<&str>, schema: &Schema) -> bool {
    let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).ok();
    held.and_then(parse) == parse(&name_mapping(schema))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;

    /// `users` with `extra` appended to its definition text.
    fn users_with(extra: &str, replace: (&str, &str)) -> SourceDef {
        let text = include_str!("../../sources/users.toml").replace(replace.0, replace.1);
        SourceDef::parse(&format!("{text}\n{extra}"), "test").expect("a valid definition")
    }

    const STREET_INT32: &str =
        "name = \"street_number\"\npointer = \"/location/street/number\"\ntype = \"int32\"";
    const STREET_INT64: &str =
        "name = \"street_number\"\npointer = \"/location/street/number\"\ntype = \"int64\"";
    const NOTE: &str = "[[columns]]\nname = \"note\"\npointer = \"/note\"\ntype = \"string\"\n";

    fn users() -> SourceDef {
        SourceDef::resolve("users", None).expect("built-in users")
    }

    #[test]
    fn the_table_made_from_a_definition_is_up_to_date_with_it() {
        // Required columns of the definition are optional in the table: not a change.
        let def = users();
        assert!(def.columns.iter().any(|c| !c.nullable()));
        let p = plan("users", &spec::schema(&def).unwrap(), &def).unwrap();
        assert!(p.is_empty(), "{p}");
    }

    #[test]
    fn a_new_column_and_a_widening_become_schema_changes() {
        let schema = spec::schema(&users()).unwrap();
        let def = users_with(NOTE, (STREET_INT32, STREET_INT64));
        let p = plan("users", &schema, &def).unwrap();
        let c = changes(&p);
        assert_eq!(c.add, vec![("note".to_string(), PrimitiveType::String)]);
        assert_eq!(
            c.widen,
            vec![("street_number".to_string(), PrimitiveType::Long)]
        );
        let w = widened(&schema, &c.widen).unwrap();
        let f = w.field_by_name("street_number").unwrap();
        assert_eq!(f.id, schema.field_by_name("street_number").unwrap().id);
        assert_eq!(*f.field_type, Type::Primitive(PrimitiveType::Long));
        assert_eq!(w.schema_id(), schema.schema_id());
        // The widened schema with the new column is up to date with the definition.
        let mut fields = w.as_struct().fields().to_vec();
        let next = schema.highest_field_id() + 1;
        fields.push(
            NestedField::optional(next, "note", Type::Primitive(PrimitiveType::String)).into(),
        );
        let after = Schema::builder().with_fields(fields).build().unwrap();
        assert!(plan("users", &after, &def).unwrap().is_empty());
    }

    #[test]
    fn refused_changes_are_the_core_rules() {
        let schema = spec::schema(&users()).unwrap();
        let age = "name = \"age\"\npointer = \"/dob/age\"\ntype = \"int32\"";
        let narrowed = users_with("", (age, &age.replace("int32", "string")));
        let e = plan("users", &schema, &narrowed).unwrap_err().to_string();
        assert!(e.contains("column age changed type int32 -> string"), "{e}");
        let required = users_with(&format!("{NOTE}required = true\n"), ("", ""));
        let e = plan("users", &schema, &required).unwrap_err().to_string();
        assert!(e.contains("new column note is required"), "{e}");
        // A column of a type firelake does not write, changed by hand, is reported.
        let mut fields = schema.as_struct().fields().to_vec();
        let age = fields.iter().position(|f| f.name == "age").unwrap();
        let mut f = NestedField::clone(&fields[age]);
        f.field_type = Box::new(Type::Primitive(PrimitiveType::Date));
        fields[age] = f.into();
        let by_hand = Schema::builder().with_fields(fields).build().unwrap();
        let e = plan("users", &by_hand, &users()).unwrap_err().to_string();
        assert!(e.contains("column age changed type date -> int32"), "{e}");
    }

    #[test]
    fn the_name_mapping_follows_the_schema_ids() {
        let schema = spec::schema(&users()).unwrap();
        let mut fields = schema.as_struct().fields().to_vec();
        let next = schema.highest_field_id() + 1;
        fields.push(
            NestedField::optional(next, "note", Type::Primitive(PrimitiveType::String)).into(),
        );
        let after = Schema::builder().with_fields(fields).build().unwrap();
        let m: serde_json::Value = serde_json::from_str(&name_mapping(&after)).unwrap();
        let last = m.as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            last,
            serde_json::json!({"field-id": next, "names": ["note"]})
        );
        let before = name_mapping(&schema);
        assert!(mapping_is_current(Some(&before), &schema));
        assert!(!mapping_is_current(Some(&before), &after));
        assert!(!mapping_is_current(None, &after));
    }
}
