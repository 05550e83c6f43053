# The lake -> PostgreSQL sync as a Lambda function (var.postgres_sync_runner = "lambda";
# docs/sync.md): `sync-lambda` syncs one table per invocation within its time budget and
# answers {"done": bool}; the nightly workflow invokes it again until done (at most
# var.postgres_sync_lambda_max_invocations times). It runs in the target's VPC with the sync
# security group of sync_task.tf (HTTPS out, the target's port to the target only) and may
# call what the container task may (data.aws_iam_policy_document.sync_task).

locals {
  # The task's settings, but: Lambda sets AWS_REGION itself (a reserved key), and RDS's CA
  # bundle is in the zip (scripts/package-lambdas.sh), unpacked under /var/task.
  sync_lambda_env = merge(
    { for k, v in local.sync_task_env : k => v if k != "AWS_REGION" },
    { FIRELAKE_PG_CA_FILE = "/var/task/global-bundle.pem" },
  )
}

module "sync_lambda" {
  source = "./modules/lambda_function"
  count  = local.postgres_sync_lambda ? 1 : 0

  name        = "${var.name}-postgres-sync"
  binary      = "sync-lambda"
  description = "Nightly, after compaction: lake tables -> PostgreSQL, continued invocation after invocation until done"
  artifact    = local.artifacts["sync-lambda"]

  architecture = var.lambda_architecture
  # Rows stream by row group into COPY: memory does not grow with the day.
  memory_mb = 1024
  timeout_s = 900
  # The workflow syncs one table at a time; a day's staged rows are resumed by one invocation.
  reserved_concurrency = 1

  environment = local.sync_lambda_env
  policies    = { code = data.aws_iam_policy_document.sync_task.json }

  vpc_subnet_ids         = var.postgres_subnet_ids
  vpc_security_group_ids = aws_security_group.sync_task[*].id

  kms_key_arn           = aws_kms_key.this.arn
  dead_letter_queue_arn = aws_sqs_queue.dead_letter.arn
  alarm_topic_arn       = aws_sns_topic.alarms.arn
  log_retention_days    = var.log_retention_days
}
