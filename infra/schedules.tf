# EventBridge ticks the producer every minute (the nightly compaction is workflow.tf's).

resource "aws_cloudwatch_event_rule" "producer" {
  name                = "${var.name}-producer-tick"
  description         = "One producer tick: the ${local.schema.source} API onto the stream"
  schedule_expression = var.producer_schedule
}

resource "aws_cloudwatch_event_target" "producer" {
  rule = aws_cloudwatch_event_rule.producer.name
  arn  = module.producer.arn

  # A tick not delivered within a minute is superseded by the next one, which fetches the
  # same page again (the position moves only after a published tick).
  retry_policy {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 60
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

resource "aws_lambda_permission" "producer_schedule" {
  statement_id  = "EventBridgeTicks"
  action        = "lambda:InvokeFunction"
  function_name = module.producer.name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.producer.arn
}

# A failed tick is not retried by Lambda either: the next tick is a minute away.
resource "aws_lambda_function_event_invoke_config" "producer" {
  function_name                = module.producer.name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}
