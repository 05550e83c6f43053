# The lake bucket (versioned, SSE-KMS, private, TLS only, access-logged, raw files expiring)
# and the bucket its server access logs go to.

resource "aws_s3_bucket" "lake" {
  # checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice that needs a second region's provider and key; versioning and noncurrent-version retention guard against deletes here.
  # checkov:skip=CKV2_AWS_62:Nothing reacts to object events: Firehose and the consumers register what they write, the compactor lists days.
  bucket        = local.lake_bucket
  force_destroy = var.force_destroy_buckets
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    # One data key per bucket and period instead of a KMS call per object.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "lake" {
  bucket        = aws_s3_bucket.lake.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "lake/"

  # S3 refuses a target bucket whose policy does not yet let the logging service write.
  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  # Raw files are compacted nightly into <table>_curated/, which has no expiry. The trailing
  # slash keeps _curated out. This rule also expires the records rejected beside them
  # (<table>/_rejected/): S3 applies the shortest of overlapping expirations, so they cannot
  # outlive the raw days anyway.
  rule {
    id     = "expire-raw"
    status = "Enabled"
    filter {
      prefix = "${local.schema.table}/"
    }
    expiration {
      days = var.raw_retention_days
    }
  }

  rule {
    id     = "expire-firehose-errors"
    status = "Enabled"
    filter {
      prefix = local.firehose_errors
    }
    expiration {
      days = var.error_retention_days
    }
  }

  rule {
    id     = "expire-dead-letters"
    status = "Enabled"
    filter {
      prefix = local.dead_letter_prefix
    }
    expiration {
      days = var.dead_letter_retention_days
    }
  }

  # Replaced generations, expired raw files and checkpoint versions stay recoverable for a
  # while, then go; uploads a crash left unfinished are aborted.
  rule {
    id     = "old-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "expired-delete-markers"
    status = "Enabled"
    filter {}
    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.lake]
}

data "aws_iam_policy_document" "lake_bucket" {
  statement {
    sid       = "DenyPlainHttp"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.lake.arn, "${aws_s3_bucket.lake.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOldTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.lake.arn, "${aws_s3_bucket.lake.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  # Kept raw records are whole source records (redacted of never_read values, still personal
  # data): readable by kept_record_readers only, whatever other IAM policies in the account
  # grant. Writers need no read: the producer and the stream-consumer only put them.
  statement {
    sid       = "OnlyKeptRecordReadersReadDeadLettersAndRejects"
    effect    = "Deny"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.lake.arn}/${local.dead_letter_prefix}*", "${aws_s3_bucket.lake.arn}/${local.rejected_prefix}*", "${aws_s3_bucket.lake.arn}/${local.nulled_prefix}*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    dynamic "condition" {
      for_each = length(var.kept_record_readers) > 0 ? [var.kept_record_readers] : []
      content {
        test     = "ArnNotLike"
        variable = "aws:PrincipalArn"
        values   = condition.value
      }
    }
  }

  # Firehose's error output: the same, and Firehose's own role (the writer; AWS's policy for
  # a Firehose S3 destination includes reads of what it writes).
  statement {
    sid       = "OnlyKeptRecordReadersReadFirehoseErrors"
    effect    = "Deny"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.lake.arn}/${local.firehose_errors}*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    dynamic "condition" {
      for_each = local.use_firehose || length(var.kept_record_readers) > 0 ? [1] : []
      content {
        test     = "ArnNotLike"
        variable = "aws:PrincipalArn"
        values   = concat(var.kept_record_readers, aws_iam_role.firehose[*].arn)
      }
    }
  }
}

resource "aws_s3_bucket_policy" "lake" {
  bucket = aws_s3_bucket.lake.id
  policy = data.aws_iam_policy_document.lake_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.lake]
}

# Server access logs of the lake bucket.
resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_18:This is the access-log bucket; logging it into itself would log its own log deliveries without end.
  # checkov:skip=CKV_AWS_144:Access logs are kept in the region they describe.
  # checkov:skip=CKV2_AWS_62:Nothing reacts to log deliveries; they are read when investigating.
  # checkov:skip=CKV_AWS_145:S3 server access log delivery supports SSE-S3 only, not SSE-KMS.
  bucket        = local.log_bucket
  force_destroy = var.force_destroy_buckets
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

data "aws_iam_policy_document" "log_bucket" {
  statement {
    sid       = "S3LogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/lake/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.lake.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DenyPlainHttp"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.log_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}
