# Alarms to the SNS topic: readers falling behind, data not arriving or not landing, Firehose
# processing, conversion and delivery failures, records the transformer rejected, dead
# letters. Each function's errors and throttles are alarmed in modules/lambda_function.

locals {
  alarm_defaults = {
    alarm_actions = [aws_sns_topic.alarms.arn]
    ok_actions    = [aws_sns_topic.alarms.arn]
  }
  # The transformer logs one line per rejected record (firehose-transformer/src/lib.rs).
  processing_failed_message = "record rejected: ProcessingFailed"

  # Re-drives the batches named in the stream-consumer's failure queue from the stream into
  # this lake (used where the stream-consumer is deployed).
  redrive_command = "firelake consume --from kinesis://${local.stream_name} --redrive sqs://${local.stream_consumer_failures_queue} --source ${local.schema.source} --lake ${local.lake_url} --catalog ${local.catalog_url}"
}

resource "aws_cloudwatch_metric_alarm" "stream_iterator_age" {
  count = local.use_kinesis ? 1 : 0

  alarm_name          = "${var.name}-stream-iterator-age"
  alarm_description   = "Readers of ${local.stream_name} are behind (records may expire before they are read)."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = aws_kinesis_stream.this[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.iterator_age_alarm_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}

resource "aws_cloudwatch_metric_alarm" "stream_no_records" {
  count = local.use_kinesis ? 1 : 0

  alarm_name          = "${var.name}-stream-no-records"
  alarm_description   = "Nothing reached ${local.stream_name} for 15 minutes: the producer is not ticking or the API returns nothing."
  namespace           = "AWS/Kinesis"
  metric_name         = "IncomingRecords"
  dimensions          = { StreamName = aws_kinesis_stream.this[0].name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}

resource "aws_cloudwatch_metric_alarm" "firehose_no_records" {
  count = local.direct_put ? 1 : 0

  alarm_name          = "${var.name}-firehose-no-records"
  alarm_description   = "Nothing reached ${local.firehose_name} for 15 minutes: the producer is not ticking or the API returns nothing."
  namespace           = "AWS/Firehose"
  metric_name         = "IncomingRecords"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.this[0].name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}

resource "aws_cloudwatch_metric_alarm" "firehose_freshness" {
  count = local.use_firehose ? 1 : 0

  alarm_name          = "${var.name}-firehose-data-freshness"
  alarm_description   = "The oldest record in ${local.firehose_name} waits longer than ${var.freshness_alarm_seconds} s to land in S3."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToS3.DataFreshness"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.this[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.freshness_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}

resource "aws_cloudwatch_metric_alarm" "firehose_delivery" {
  count = local.use_firehose ? 1 : 0

  alarm_name          = "${var.name}-firehose-delivery-failures"
  alarm_description   = "${local.firehose_name} failed to put objects into the lake bucket (see its log group)."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToS3.Success"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.this[0].name }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}

resource "aws_cloudwatch_metric_alarm" "firehose_processing" {
  count = local.use_firehose ? 1 : 0

  alarm_name          = "${var.name}-firehose-processing-failures"
  alarm_description   = "Invocations of the transformer by ${local.firehose_name} failed; their records went to the error prefix as processing-failed."
  namespace           = "AWS/Firehose"
  metric_name         = "ExecuteProcessing.Success"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.this[0].name }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}

resource "aws_cloudwatch_metric_alarm" "firehose_conversion" {
  count = local.use_firehose ? 1 : 0

  alarm_name          = "${var.name}-firehose-conversion-failures"
  alarm_description   = "Rows the transformer accepted did not convert to Parquet with the Glue schema (schema drift); they are under the error prefix."
  namespace           = "AWS/Firehose"
  metric_name         = "FailedConversion.Records"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.this[0].name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}

resource "aws_cloudwatch_metric_alarm" "firehose_partitions" {
  count = local.use_firehose ? 1 : 0

  alarm_name          = "${var.name}-firehose-partition-count-exceeded"
  alarm_description   = "${local.firehose_name} has more active p_date partitions than its limit (late or far-future event times)."
  namespace           = "AWS/Firehose"
  metric_name         = "PartitionCountExceeded"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.this[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}

# Records the transformer answered ProcessingFailed (kept by Firehose under the error prefix).
resource "aws_cloudwatch_log_metric_filter" "processing_failed" {
  count = local.use_firehose ? 1 : 0

  name           = "${var.name}-processing-failed-records"
  log_group_name = module.transformer[0].log_group_name
  pattern        = "{ $.fields.message = \"${local.processing_failed_message}\" }"

  metric_transformation {
    name          = "ProcessingFailedRecords"
    namespace     = "firelake/${var.name}"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "processing_failed_records" {
  count = local.use_firehose ? 1 : 0

  alarm_name          = "${var.name}-processing-failed-records"
  alarm_description   = "The transformer rejected records (ProcessingFailed): reasons in its log, the records under s3://${local.lake_bucket}/_firehose_errors/${local.schema.table}/processing-failed/."
  namespace           = "firelake/${var.name}"
  metric_name         = aws_cloudwatch_log_metric_filter.processing_failed[0].metric_transformation[0].name
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}

resource "aws_cloudwatch_metric_alarm" "stream_consumer_iterator_age" {
  count = local.stream_consumer ? 1 : 0

  alarm_name          = "${var.name}-stream-consumer-iterator-age"
  alarm_description   = "The stream-consumer is behind the stream (data freshness of the raw table)."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = module.stream_consumer[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.iterator_age_alarm_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${var.name}-dead-letters"
  alarm_description   = "Something landed in ${aws_sqs_queue.dead_letter.name}: a producer tick or compaction that failed every attempt, or a schedule delivery that never reached its function."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dead_letter.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}

# Kinesis batches the stream-consumer gave up on: the message names the shard and sequence
# range; the records stay in the stream for its retention only, so the description says
# what to run (with the deployment's own names) before they expire.
resource "aws_cloudwatch_metric_alarm" "stream_consumer_failures" {
  count = local.stream_consumer ? 1 : 0

  alarm_name          = "${var.name}-stream-consumer-failed-batches"
  alarm_description   = "The stream-consumer gave up on Kinesis batches; their shard and sequence ranges are in ${aws_sqs_queue.stream_consumer_failures[0].name} and the records stay in ${local.stream_name} for ${var.kinesis_retention_hours} h after they arrived. Fix the cause (the function's log), then re-drive them into the lake: ${local.redrive_command}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.stream_consumer_failures[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_defaults.alarm_actions
  ok_actions          = local.alarm_defaults.ok_actions
}
