# What each binary itself calls, nothing more (the Lambda runtime's own needs are in
# modules/lambda_function). infra/tests derive every binary's AWS calls from its Rust sources
# and fail when an action here is missing or not called.

# KMS through S3 (SSE-KMS objects: a data key to write, Decrypt to read and to complete a
# multipart upload), Kinesis (a KMS-encrypted stream) and Secrets Manager.

data "aws_iam_policy_document" "producer" {
  statement {
    sid       = "SourcePosition"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.lake.arn}/_producer/${local.schema.source}/*"]
  }

  # Dead letters are only written (create-if-absent), never read back here.
  statement {
    sid       = "WriteDeadLetters"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.lake.arn}/${local.dead_letter_prefix}*"]
  }

  # Without ListBucket S3 answers 403 instead of 404 for a key that does not exist yet (the
  # first tick's position).
  statement {
    sid       = "ListTheState"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["_producer/${local.schema.source}/*"]
    }
  }

  dynamic "statement" {
    for_each = local.direct_put ? [] : [1]
    content {
      sid       = "PublishToTheStream"
      actions   = ["kinesis:PutRecords"]
      resources = [aws_kinesis_stream.this[0].arn]
    }
  }

  dynamic "statement" {
    for_each = local.direct_put ? [1] : []
    content {
      sid       = "PublishToTheDeliveryStream"
      actions   = ["firehose:PutRecordBatch"]
      resources = [aws_kinesis_firehose_delivery_stream.this[0].arn]
    }
  }

  dynamic "statement" {
    for_each = local.schema.auth_env == null ? [] : [1]
    content {
      sid       = "ReadTheApiSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [aws_secretsmanager_secret.source_api[0].arn]
    }
  }

  statement {
    sid       = "UseTheKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = compact([
        local.via_s3,
        local.direct_put ? null : local.via_kinesis,
        local.schema.auth_env == null ? null : local.via_secrets,
      ])
    }
  }
}

data "aws_iam_policy_document" "stream_consumer" {
  count = local.stream_consumer ? 1 : 0

  statement {
    sid       = "WriteRawFilesAndRejects"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.lake.arn}/${local.schema.table}/*"]
  }

  statement {
    sid = "RegisterRawPartitions"
    actions = [
      "glue:GetTable",
      "glue:GetDatabase",
      "glue:CreateDatabase",
      "glue:CreateTable",
      # A changed source definition's allowed changes (docs/schema-evolution.md), at cold start.
      "glue:UpdateTable",
      "glue:BatchCreatePartition",
    ]
    resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_raw_arn]
  }

  # The event source mapping reads the stream with the function's role.
  statement {
    sid = "EventSourceMappingReadsTheStream"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = [aws_kinesis_stream.this[0].arn]
  }

  # ... and records the batches it gives up on in the failure queue with the same role.
  statement {
    sid       = "EventSourceMappingRecordsFailedBatches"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.stream_consumer_failures[0].arn]
  }

  statement {
    sid       = "UseTheKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via_s3, local.via_kinesis, local.via_sqs]
    }
  }
}

data "aws_iam_policy_document" "compactor" {
  # The raw days' data files only: not the rejects kept beside them.
  statement {
    sid       = "ReadRawDays"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.lake.arn}/${local.schema.table}/${local.pcol}=*"]
  }

  statement {
    sid     = "WriteCuratedGenerationsAndJournals"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "${aws_s3_bucket.lake.arn}/${local.curated_table}/*",
    ]
  }

  statement {
    sid       = "ListTheTables"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.schema.table}/*", "${local.curated_table}/*"]
    }
  }

  # The raw table is only looked at (whose source it holds); its partitions are registered
  # by their writers, never by the compactor.
  statement {
    sid       = "LookAtTheRawTable"
    actions   = ["glue:GetTable"]
    resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_raw_arn]
  }

  statement {
    sid = "PointCuratedPartitionsAtGenerations"
    actions = [
      "glue:GetTable",
      "glue:GetDatabase",
      "glue:CreateDatabase",
      "glue:CreateTable",
      # A changed source definition's allowed changes to the curated table (the raw one is
      # its writers'; docs/schema-evolution.md).
      "glue:UpdateTable",
      "glue:GetPartition",
      "glue:GetPartitions",
      "glue:CreatePartition",
      "glue:BatchCreatePartition",
      "glue:UpdatePartition",
    ]
    resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_curated_arn]
  }

  statement {
    sid       = "AnnouncePartitionsComplete"
    actions   = ["events:PutEvents"]
    resources = [local.events_bus_arn]
  }

  statement {
    sid       = "UseTheKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via_s3]
    }
  }
}
