# The four binaries as Lambda functions. Each reads its settings from FIRELAKE_* variables
# (the env twins of its flags) and may call exactly what its policy in iam.tf allows;
# infra/tests hold both to the code.

locals {
  producer_env = merge(
    {
      FIRELAKE_SOURCE = local.schema.source
      # Where the tick publishes: the stream, or the delivery stream in Direct PUT mode.
      FIRELAKE_TO = local.direct_put ? "firehose://${aws_kinesis_firehose_delivery_stream.this[0].name}" : "kinesis://${aws_kinesis_stream.this[0].name}"
      # Dead letters (_dead_letter/) and the source position (_producer/<source>/).
      FIRELAKE_STATE = local.lake_url
      RUST_LOG       = var.rust_log
    },
    # The source's credential: the env var its definition names holds a secret reference,
    # which the producer resolves at start (aws/src/secrets.rs). None without auth_env.
    {
      for v in compact([local.schema.auth_env]) :
      v => "secretsmanager://${aws_secretsmanager_secret.source_api[0].name}"
    },
  )

  transformer_env = {
    FIRELAKE_SOURCE = local.schema.source
    RUST_LOG        = var.rust_log
  }

  stream_consumer_env = {
    FIRELAKE_SOURCE  = local.schema.source
    FIRELAKE_LAKE    = local.lake_url
    FIRELAKE_CATALOG = local.catalog_url
    RUST_LOG         = var.rust_log
  }

  compactor_env = {
    FIRELAKE_SOURCE  = local.schema.source
    FIRELAKE_LAKE    = local.lake_url
    FIRELAKE_CATALOG = local.catalog_url
    # "partition complete" events (compactor/src/announce.rs) for jobs downstream.
    FIRELAKE_EVENTS_BUS = var.events_bus
    RUST_LOG            = var.rust_log
  }
}

module "producer" {
  source = "./modules/lambda_function"

  name        = "${var.name}-producer"
  binary      = "producer"
  description = "One tick of the ${local.schema.source} API onto the stream, every minute"
  artifact    = local.artifacts["producer"]

  architecture = var.lambda_architecture
  memory_mb    = 256
  timeout_s    = 120
  # One tick at a time: the saved source position moves tick by tick.
  reserved_concurrency = 1

  environment = local.producer_env
  policies    = { code = data.aws_iam_policy_document.producer.json }

  kms_key_arn           = aws_kms_key.this.arn
  dead_letter_queue_arn = aws_sqs_queue.dead_letter.arn
  alarm_topic_arn       = aws_sns_topic.alarms.arn
  log_retention_days    = var.log_retention_days
}

module "transformer" {
  source = "./modules/lambda_function"
  count  = local.use_firehose ? 1 : 0

  name        = "${var.name}-firehose-transformer"
  binary      = "firehose-transformer"
  description = "Firehose transformation: clean ${local.schema.source} records, p_date partition key"
  artifact    = local.artifacts["firehose-transformer"]

  architecture         = var.lambda_architecture
  memory_mb            = 1024
  timeout_s            = 120
  reserved_concurrency = var.transformer_concurrency

  environment = local.transformer_env
  # The transformer calls no AWS API: Firehose hands it records and takes its answer.
  policies = {}

  kms_key_arn           = aws_kms_key.this.arn
  dead_letter_queue_arn = aws_sqs_queue.dead_letter.arn
  alarm_topic_arn       = aws_sns_topic.alarms.arn
  log_retention_days    = var.log_retention_days
}

module "stream_consumer" {
  source = "./modules/lambda_function"
  count  = local.stream_consumer ? 1 : 0

  name        = "${var.name}-stream-consumer"
  binary      = "stream-consumer"
  description = "Kinesis batches of ${local.schema.source} -> Parquet in the lake + Glue partitions"
  artifact    = local.artifacts["stream-consumer"]

  architecture         = var.lambda_architecture
  memory_mb            = 1024
  timeout_s            = 300
  reserved_concurrency = var.stream_consumer_concurrency

  environment = local.stream_consumer_env
  policies    = { code = data.aws_iam_policy_document.stream_consumer[0].json }

  kms_key_arn           = aws_kms_key.this.arn
  dead_letter_queue_arn = aws_sqs_queue.dead_letter.arn
  alarm_topic_arn       = aws_sns_topic.alarms.arn
  log_retention_days    = var.log_retention_days
}

module "compactor" {
  source = "./modules/lambda_function"

  name        = "${var.name}-compactor"
  binary      = "compactor"
  description = "Nightly: raw days of ${local.schema.table} -> ${local.curated_table} (merge, dedupe, new generation)"
  artifact    = local.artifacts["compactor"]

  architecture         = var.lambda_architecture
  memory_mb            = var.compactor_memory_mb
  timeout_s            = 900
  ephemeral_storage_mb = var.compactor_tmp_mb
  # The days the nightly workflow compacts at once (each under its own day lock).
  reserved_concurrency = var.compactor_parallel_days

  environment = local.compactor_env
  policies    = { code = data.aws_iam_policy_document.compactor.json }

  kms_key_arn           = aws_kms_key.this.arn
  dead_letter_queue_arn = aws_sqs_queue.dead_letter.arn
  alarm_topic_arn       = aws_sns_topic.alarms.arn
  log_retention_days    = var.log_retention_days
}

# The stream-consumer behind the stream: a batch per shard, the failed part retried alone
# (ReportBatchItemFailures names the first record not persisted; bisection isolates a
# record that fails the function), and what still fails is recorded, as shard and sequence
# ranges, in its own queue (ops.tf) for `firelake consume --redrive`.
resource "aws_lambda_event_source_mapping" "stream_consumer" {
  count = local.stream_consumer ? 1 : 0

  event_source_arn                   = aws_kinesis_stream.this[0].arn
  function_name                      = module.stream_consumer[0].arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.stream_consumer_batch_size
  maximum_batching_window_in_seconds = var.stream_consumer_batch_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = 10
  maximum_record_age_in_seconds      = min(var.kinesis_retention_hours * 3600, 604800)

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.stream_consumer_failures[0].arn
    }
  }

  # The function's role sends the failure records (iam.tf).
  depends_on = [module.stream_consumer]
}
