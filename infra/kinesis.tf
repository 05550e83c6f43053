# The stream the producer publishes to (delivery = firehose or stream_consumer).
resource "aws_kinesis_stream" "this" {
  count = local.use_kinesis ? 1 : 0

  name             = local.stream_name
  retention_period = var.kinesis_retention_hours
  shard_count      = var.kinesis_stream_mode == "PROVISIONED" ? var.kinesis_shard_count : null
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.this.arn

  stream_mode_details {
    stream_mode = var.kinesis_stream_mode
  }
}
