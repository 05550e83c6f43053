# One CloudWatch dashboard for the pipeline (issue 21 point 5), built from the EMF metrics the
# Lambdas and the stream-consumer print (namespace firelake, docs/metrics.md) and AWS's own:
# freshness, records in and out, rejects, nulled values, iterator age, compaction outcome.

locals {
  dashboard_period = 300

  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title = "Records in / out (firelake EMF)", region = local.region, stat = "Sum", period = local.dashboard_period
        view  = "timeSeries"
        metrics = [
          ["firelake", "RecordsIn", "Table", local.schema.table],
          ["firelake", "RecordsOut", "Table", local.schema.table],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title = "Rejected records and nulled values", region = local.region, stat = "Sum", period = local.dashboard_period
        view  = "timeSeries"
        metrics = [
          ["firelake", "Rejected", "Table", local.schema.table],
          ["firelake", "NulledValues", "Table", local.schema.table],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title   = "Nulled values by column and reason", region = local.region, period = 86400
        view    = "bar"
        metrics = [[{ expression = "SEARCH('{firelake,Table,Column,Reason} MetricName=\"NulledValues\" Table=\"${local.schema.table}\"', 'Sum', 86400)", id = "nulled" }]]
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title = "Freshness: Firehose delivery (s) and stream iterator age (ms)", region = local.region, stat = "Maximum", period = local.dashboard_period
        view  = "timeSeries"
        metrics = concat(
          local.use_firehose ? [["AWS/Firehose", "DeliveryToS3.DataFreshness", "DeliveryStreamName", local.firehose_name]] : [],
          local.use_kinesis ? [["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", local.stream_name, { yAxis = "right" }]] : [],
        )
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 24, height = 6
      properties = {
        title = "Compaction outcome per day (nightly workflow executions)", region = local.region, stat = "Sum", period = 86400
        view  = "bar"
        metrics = [
          ["AWS/States", "ExecutionsSucceeded", "StateMachineArn", aws_sfn_state_machine.nightly.arn],
          ["AWS/States", "ExecutionsFailed", "StateMachineArn", aws_sfn_state_machine.nightly.arn],
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "pipeline" {
  dashboard_name = "${var.name}-${local.schema.table}"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
