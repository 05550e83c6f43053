# firelake on AWS: producer Lambda on a one-minute schedule -> Kinesis -> Firehose with the
# transformer Lambda (dynamic partitioning on p_date, Parquet from the Glue table) -> S3 lake,
# and the nightly compactor Lambda promoting raw days into the curated table. `var.delivery`
# swaps the middle for Firehose Direct PUT or the stream-consumer Lambda.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

# Every source definition rendered by `firelake schema --format terraform`: one output per
# source, holding its Glue columns, partition column and what the producer needs.
module "schema" {
  source = "./generated"
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.id
  partition  = data.aws_partition.current.partition

  schema        = module.schema[var.source_name]
  table         = local.schema.table
  curated_table = "${local.schema.table}_curated"
  pcol          = local.schema.partition_column

  use_kinesis     = var.delivery != "firehose_direct_put"
  use_firehose    = var.delivery != "stream_consumer"
  direct_put      = var.delivery == "firehose_direct_put"
  stream_consumer = var.delivery == "stream_consumer"

  lake_bucket   = "${var.name}-lake-${local.account_id}-${local.region}"
  log_bucket    = "${var.name}-logs-${local.account_id}-${local.region}"
  stream_name   = "${var.name}-${local.schema.table}"
  firehose_name = "${var.name}-${local.schema.table}"

  stream_consumer_failures_queue = "${var.name}-stream-consumer-failures"

  # The lake is the bucket's root: <table>/p_date=D/ raw, <table>_curated/ curated,
  # _producer/ and _dead_letter/ the producer's state, _checkpoints/ the consumers'.
  lake_url    = "s3://${local.lake_bucket}"
  catalog_url = "glue://${var.glue_database}"

  # Where raw records are kept with their reasons (producer dead letters, the self-run path's
  # rejects, Firehose's error output): redacted, but still whole source records. They expire
  # (s3.tf) and only kept_record_readers may read them (the bucket policy).
  dead_letter_prefix = "_dead_letter/"
  rejected_prefix    = "${local.schema.table}/_rejected/"
  # The originals of values a cleaning rule nulled, with their whole (redacted) records.
  nulled_prefix   = "${local.schema.table}/_nulled/"
  firehose_errors = "_firehose_errors/"

  # Firehose files raw days where every firelake writer does, keyed by the partition the
  # transformer puts in metadata.partitionKeys; what it answers ProcessingFailed goes apart.
  firehose_prefix       = "${local.schema.table}/${local.schema.partition_column}=!{partitionKeyFromLambda:${local.schema.partition_column}}/"
  firehose_error_prefix = "${local.firehose_errors}${local.schema.table}/!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/"

  glue_catalog_arn  = "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"
  glue_database_arn = "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${var.glue_database}"
  glue_raw_arn      = "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${var.glue_database}/${local.schema.table}"
  glue_curated_arn  = "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${var.glue_database}/${local.schema.table}_curated"

  artifacts = {
    for b in ["producer", "firehose-transformer", "stream-consumer", "compactor", "sync-lambda"] :
    b => "${var.artifacts_dir}/${b}/bootstrap.zip"
  }

  # KMS is used through these services only (kms:ViaService).
  via_s3       = "s3.${local.region}.amazonaws.com"
  via_kinesis  = "kinesis.${local.region}.amazonaws.com"
  via_secrets  = "secretsmanager.${local.region}.amazonaws.com"
  via_firehose = "firehose.${local.region}.amazonaws.com"
  via_sqs      = "sqs.${local.region}.amazonaws.com"
}
