# The Glue database with the raw table (what Firehose converts against and the writers fill)
# and the curated table (what the compactor's generations make visible). Both take their
# columns from the generated source schema, like every Parquet file firelake writes.

resource "aws_glue_catalog_database" "this" {
  name        = var.glue_database
  description = "firelake lake tables"
}

module "raw_table" {
  source = "./modules/glue_table"

  database    = aws_glue_catalog_database.this.name
  name        = local.schema.table
  description = "Raw ${local.schema.source} records, appended every minute (expire after ${var.raw_retention_days} days)"
  location    = "s3://${aws_s3_bucket.lake.id}/${local.schema.table}/"
  schema      = local.schema

  # Firehose registers no partitions: Athena projects the days instead. (The
  # stream-consumer registers its partitions too; projection makes that harmless.)
  extra_parameters = {
    "projection.enabled"                                   = "true"
    "projection.${local.schema.partition_column}.type"     = "date"
    "projection.${local.schema.partition_column}.format"   = "yyyy-MM-dd"
    "projection.${local.schema.partition_column}.range"    = "${var.partition_projection_start},NOW"
    "projection.${local.schema.partition_column}.interval" = "1"

    "projection.${local.schema.partition_column}.interval.unit" = "DAYS"
    # s3://BUCKET/<table>/p_date=${p_date}/ (the "$" apart, so the placeholder stays literal)
    "storage.location.template" = join("", [
      "s3://${aws_s3_bucket.lake.id}/${local.schema.table}/${local.schema.partition_column}=",
      "$",
      "{${local.schema.partition_column}}/",
    ])
  }
}

module "curated_table" {
  source = "./modules/glue_table"

  database    = aws_glue_catalog_database.this.name
  name        = local.curated_table
  description = "Curated ${local.schema.source} records: one row per dedupe key, compacted nightly"
  location    = "s3://${aws_s3_bucket.lake.id}/${local.curated_table}/"
  schema      = local.schema
}
