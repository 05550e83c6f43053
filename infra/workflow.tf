# The nightly workflow (Step Functions), started on var.compactor_schedule: the compactor
# lists the days to compact with their raw size, a Map compacts them in parallel (a day over
# var.compactor_lambda_max_day_mb, or one the Lambda ran out of time or memory on, in the
# container task of compactor_task.tf), then the steps that depend on compaction run when
# they are configured; a failure is published to the alarm topic with its day and step. The
# definition is workflow.asl.json, rendered here and by infra/tests/test_workflow.py.

locals {
  workflow_name = "${var.name}-nightly"
  # The account's default bus is named "default" too.
  events_bus_arn = "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/${var.events_bus}"

  workflow_definition = templatefile("${path.module}/workflow.asl.json", {
    partition                 = local.partition
    compactor_function_arn    = module.compactor.arn
    cluster_arn               = aws_ecs_cluster.compactor.arn
    task_definition_arn       = aws_ecs_task_definition.compactor.arn
    subnets_json              = jsonencode(var.compactor_task_subnet_ids)
    security_groups_json      = jsonencode(var.compactor_task_security_group_ids)
    alarm_topic_arn           = aws_sns_topic.alarms.arn
    max_concurrency           = var.compactor_parallel_days
    lambda_max_day_bytes      = var.compactor_lambda_max_day_mb * 1048576
    postgres_sync_json        = jsonencode(local.postgres_sync_enabled)
    postgres_sync_tables_json = jsonencode(local.postgres_sync_enabled ? var.postgres_sync_tables : [])
    # The sync task (sync_task.tf), in the compactor's cluster.
    sync_task_definition_arn  = try(aws_ecs_task_definition.sync[0].arn, "not-configured")
    sync_subnets_json         = jsonencode(var.postgres_subnet_ids)
    sync_security_groups_json = jsonencode(aws_security_group.sync_task[*].id)
    # Or the sync function (sync_lambda.tf), invoked until it answers done.
    postgres_sync_runner        = var.postgres_sync_runner
    sync_function_arn           = try(module.sync_lambda[0].arn, "not-configured")
    sync_lambda_max_invocations = var.postgres_sync_lambda_max_invocations
    transform_json              = jsonencode(local.transform_enabled)
    # The dbt task (transform_task.tf), in the compactor's cluster.
    transform_task_definition_arn = try(aws_ecs_task_definition.transform[0].arn, "not-configured")
  })
}

resource "aws_cloudwatch_log_group" "workflow" {
  name              = "/aws/vendedlogs/states/${local.workflow_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "workflow" {
  name               = "${var.name}-nightly-workflow"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
}

data "aws_iam_policy_document" "workflow" {
  statement {
    sid       = "InvokeTheCompactor"
    actions   = ["lambda:InvokeFunction"]
    resources = [module.compactor.arn, "${module.compactor.arn}:*"]
  }

  dynamic "statement" {
    for_each = local.postgres_sync_lambda ? [1] : []
    content {
      sid       = "InvokeTheSyncFunction"
      actions   = ["lambda:InvokeFunction"]
      resources = [module.sync_lambda[0].arn, "${module.sync_lambda[0].arn}:*"]
    }
  }

  dynamic "statement" {
    for_each = local.postgres_sync_task ? [1] : []
    content {
      sid       = "RunTheSyncTask"
      actions   = ["ecs:RunTask"]
      resources = [aws_ecs_task_definition.sync[0].arn]
      condition {
        test     = "ArnEquals"
        variable = "ecs:cluster"
        values   = [aws_ecs_cluster.compactor.arn]
      }
    }
  }

  dynamic "statement" {
    for_each = local.postgres_sync_task ? [1] : []
    content {
      sid       = "PassTheSyncTaskRoles"
      actions   = ["iam:PassRole"]
      resources = [aws_iam_role.sync_task[0].arn, aws_iam_role.compactor_task_execution.arn]
      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["ecs-tasks.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "RunTheCompactorTask"
    actions   = ["ecs:RunTask"]
    resources = [aws_ecs_task_definition.compactor.arn]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.compactor.arn]
    }
  }

  # runTask.sync watches the task it started (task ARNs are not known before) and stops it
  # when the execution is stopped: in the compactor's cluster only.
  statement {
    sid       = "WatchAndStopTheCompactorTask"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${aws_ecs_cluster.compactor.name}/*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.compactor.arn]
    }
  }

  statement {
    sid       = "PassTheCompactorTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.compactor_task.arn, aws_iam_role.compactor_task_execution.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = local.transform_enabled ? [1] : []
    content {
      sid       = "RunTheTransformTask"
      actions   = ["ecs:RunTask"]
      resources = [aws_ecs_task_definition.transform[0].arn]
      condition {
        test     = "ArnEquals"
        variable = "ecs:cluster"
        values   = [aws_ecs_cluster.compactor.arn]
      }
    }
  }

  dynamic "statement" {
    for_each = local.transform_enabled ? [1] : []
    content {
      sid       = "PassTheTransformTaskRoles"
      actions   = ["iam:PassRole"]
      resources = [aws_iam_role.transform_task[0].arn, aws_iam_role.transform_task_execution[0].arn]
      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["ecs-tasks.amazonaws.com"]
      }
    }
  }

  # The rule Step Functions manages to hear that the task stopped (.sync integrations).
  statement {
    sid       = "ManagedRuleForTaskCompletion"
    actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    resources = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/StepFunctionsGetEventsForECSTaskRule"]
  }

  statement {
    sid       = "NotifyTheAlarmTopic"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
  }

  statement {
    sid       = "UseTheKeyForTheTopic"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.region}.amazonaws.com"]
    }
  }

  statement {
    # checkov:skip=CKV_AWS_111:Step Functions' log delivery and X-Ray calls support no resource-level permissions (AWS: "Resource": "*").
    # checkov:skip=CKV_AWS_356:Step Functions' log delivery and X-Ray calls support no resource-level permissions (AWS: "Resource": "*").
    sid = "ExecutionHistoryLogsAndTraces"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "workflow" {
  name   = "nightly"
  role   = aws_iam_role.workflow.id
  policy = data.aws_iam_policy_document.workflow.json
}

resource "aws_sfn_state_machine" "nightly" {
  name       = local.workflow_name
  role_arn   = aws_iam_role.workflow.arn
  definition = local.workflow_definition

  # Failed states with their input and output (days, reports, error causes: no secrets), in
  # the KMS-encrypted log group.
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.workflow.arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = true
  }

  depends_on = [aws_iam_role_policy.workflow]
}

# The nightly schedule starts the workflow (no bare cron on the compactor any more).
resource "aws_cloudwatch_event_rule" "compactor" {
  name                = "${var.name}-compactor-nightly"
  description         = "Compact the closed raw days of ${local.schema.table} into ${local.curated_table} (the nightly workflow)"
  schedule_expression = var.compactor_schedule
}

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "workflow_schedule" {
  name               = "${var.name}-nightly-schedule"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
}

data "aws_iam_policy_document" "workflow_schedule" {
  statement {
    sid       = "StartTheNightlyWorkflow"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.nightly.arn]
  }
}

resource "aws_iam_role_policy" "workflow_schedule" {
  name   = "start"
  role   = aws_iam_role.workflow_schedule.id
  policy = data.aws_iam_policy_document.workflow_schedule.json
}

resource "aws_cloudwatch_event_target" "compactor" {
  rule     = aws_cloudwatch_event_rule.compactor.name
  arn      = aws_sfn_state_machine.nightly.arn
  role_arn = aws_iam_role.workflow_schedule.arn
  input    = "{}"

  retry_policy {
    maximum_retry_attempts       = 3
    maximum_event_age_in_seconds = 3600
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}
