# Where failures go: the alarm topic, the dead-letter queue (asynchronous invocations that
# failed every attempt, schedule deliveries that never reached a function) and, with the
# stream-consumer, the queue of Kinesis batches it gave up on (their shard and sequence
# ranges, for `firelake consume --redrive`).

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.this.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-dead-letters"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.this.arn
}

data "aws_iam_policy_document" "dead_letter" {
  statement {
    sid       = "ScheduleDeliveriesThatFailed"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.producer.arn, aws_cloudwatch_event_rule.compactor.arn]
    }
  }

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dead_letter.arn]
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

resource "aws_sqs_queue_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  policy    = data.aws_iam_policy_document.dead_letter.json
}

# The event source mapping's on-failure destination: one message per batch the
# stream-consumer gave up on (after its retries and bisection), naming the shard and the
# sequence range. The records themselves stay in the stream for its retention only: the
# alarm on this queue says how to re-drive them into the lake.
resource "aws_sqs_queue" "stream_consumer_failures" {
  count = local.stream_consumer ? 1 : 0

  name                      = local.stream_consumer_failures_queue
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.this.arn
}

data "aws_iam_policy_document" "stream_consumer_failures" {
  count = local.stream_consumer ? 1 : 0

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.stream_consumer_failures[0].arn]
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

resource "aws_sqs_queue_policy" "stream_consumer_failures" {
  count = local.stream_consumer ? 1 : 0

  queue_url = aws_sqs_queue.stream_consumer_failures[0].id
  policy    = data.aws_iam_policy_document.stream_consumer_failures[0].json
}
