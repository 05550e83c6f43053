# Firehose: reads the Kinesis stream (or takes Direct PUT), hands each batch to the
# transformer Lambda (clean, Ok or ProcessingFailed, p_date in metadata.partitionKeys),
# partitions by that key, converts the JSON rows to Parquet with the raw Glue table's schema,
# and writes <table>/p_date=D/*.parquet; what the transformer rejected goes under its error
# prefix with the original bytes.

resource "aws_cloudwatch_log_group" "firehose" {
  count = local.use_firehose ? 1 : 0

  name              = "/aws/kinesisfirehose/${local.firehose_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_cloudwatch_log_stream" "firehose_delivery" {
  count = local.use_firehose ? 1 : 0

  name           = "DestinationDelivery"
  log_group_name = aws_cloudwatch_log_group.firehose[0].name
}

locals {
  # How Firehose calls the transformer. BufferSizeInMBs: incoming MiB per invocation; with
  # base64 and the envelope the request stays under Lambda's 6 MB (the handler keeps its
  # response under 6,000,000 bytes itself).
  transformer_parameters = {
    BufferSizeInMBs         = tostring(var.transform_buffer_mb)
    BufferIntervalInSeconds = "60"
    NumberOfRetries         = "3"
  }
  # Firehose's defaults for a Lambda processor (and the provider's, which drops them on read).
  transformer_parameter_defaults = {
    BufferSizeInMBs         = "1"
    BufferIntervalInSeconds = "60"
    NumberOfRetries         = "3"
  }
}

resource "aws_kinesis_firehose_delivery_stream" "this" {
  count = local.use_firehose ? 1 : 0

  name        = local.firehose_name
  destination = "extended_s3"

  dynamic "kinesis_source_configuration" {
    for_each = local.direct_put ? [] : [aws_kinesis_stream.this[0].arn]
    content {
      kinesis_stream_arn = kinesis_source_configuration.value
      role_arn           = aws_iam_role.firehose[0].arn
    }
  }

  # A Kinesis-sourced Firehose takes the stream's encryption (server-side encryption cannot
  # be set there); Direct PUT records are encrypted by Firehose with our key.
  dynamic "server_side_encryption" {
    for_each = local.direct_put ? [aws_kms_key.this.arn] : []
    content {
      enabled  = true
      key_type = "CUSTOMER_MANAGED_CMK"
      key_arn  = server_side_encryption.value
    }
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose[0].arn
    bucket_arn          = aws_s3_bucket.lake.arn
    prefix              = local.firehose_prefix
    error_output_prefix = local.firehose_error_prefix
    kms_key_arn         = aws_kms_key.this.arn
    # Parquet compresses its pages itself (SNAPPY below); the object must stay uncompressed.
    compression_format = "UNCOMPRESSED"
    # The compactor and every reader list <table>/p_date=D/*.parquet.
    file_extension     = ".parquet"
    buffering_interval = var.firehose_buffer_seconds
    buffering_size     = var.firehose_buffer_mb
    s3_backup_mode     = "Disabled"

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose[0].name
      log_stream_name = aws_cloudwatch_log_stream.firehose_delivery[0].name
    }

    processing_configuration {
      enabled = true

      processors {
        type = "Lambda"

        parameters {
          parameter_name  = "LambdaArn"
          parameter_value = module.transformer[0].arn
        }
        # Only values that differ from Firehose's defaults: AWS keeps defaults out of the
        # description, so the provider keeps them out of state and listing one would be a
        # change on every plan.
        dynamic "parameters" {
          for_each = {
            for k, v in local.transformer_parameters : k => v
            if v != local.transformer_parameter_defaults[k]
          }
          content {
            parameter_name  = parameters.key
            parameter_value = parameters.value
          }
        }
      }
    }

    dynamic_partitioning_configuration {
      enabled        = true
      retry_duration = 300
    }

    data_format_conversion_configuration {
      enabled = true

      input_format_configuration {
        deserializer {
          # The transformer writes timestamps as ISO-8601 with Z, which OpenX reads.
          open_x_json_ser_de {}
        }
      }

      output_format_configuration {
        serializer {
          parquet_ser_de {
            compression = "SNAPPY"
          }
        }
      }

      schema_configuration {
        database_name = aws_glue_catalog_database.this.name
        table_name    = module.raw_table.name
        role_arn      = aws_iam_role.firehose[0].arn
        region        = local.region
        version_id    = "LATEST"
      }
    }
  }

  depends_on = [aws_iam_role_policy.firehose]
}

data "aws_iam_policy_document" "firehose_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "firehose" {
  count = local.use_firehose ? 1 : 0

  name               = "${var.name}-firehose"
  assume_role_policy = data.aws_iam_policy_document.firehose_assume.json
}

# What Firehose does with its role: read the stream, invoke the transformer, read the Glue
# table's schema, write the lake's raw and error prefixes, log delivery errors.
data "aws_iam_policy_document" "firehose" {
  count = local.use_firehose ? 1 : 0

  dynamic "statement" {
    for_each = local.use_kinesis ? [1] : []
    content {
      sid       = "ReadTheStream"
      actions   = ["kinesis:DescribeStream", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"]
      resources = [aws_kinesis_stream.this[0].arn]
    }
  }

  statement {
    sid       = "InvokeTheTransformer"
    actions   = ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"]
    resources = [module.transformer[0].arn, "${module.transformer[0].arn}:*"]
  }

  statement {
    sid       = "ReadTheRawTableSchema"
    actions   = ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"]
    resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_raw_arn]
  }

  statement {
    sid     = "WriteRawAndErrors"
    actions = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    resources = [
      "${aws_s3_bucket.lake.arn}/${local.schema.table}/*",
      "${aws_s3_bucket.lake.arn}/_firehose_errors/${local.schema.table}/*",
    ]
  }

  statement {
    sid       = "ListTheBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.lake.arn]
  }

  statement {
    sid       = "UseTheKeyThroughS3AndKinesis"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via_s3, local.via_kinesis]
    }
  }

  statement {
    sid       = "LogDeliveryErrors"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose[0].arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "firehose" {
  count = local.use_firehose ? 1 : 0

  name   = "firehose"
  role   = aws_iam_role.firehose[0].id
  policy = data.aws_iam_policy_document.firehose[0].json
}
