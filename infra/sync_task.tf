# The lake -> PostgreSQL sync (issue 23, docs/sync.md) as a Fargate task the nightly workflow
# runs after compaction, once per table of var.postgres_sync_tables: the compactor's image with
# `firelake sync` as its entry point, no day named (every day new or changed since its last
# sync; a run stopped mid-way continues from firelake_sync_state the next night). Optionally
# the target itself: a private, encrypted RDS PostgreSQL with IAM authentication.

locals {
  postgres_sync_enabled = length(var.postgres_sync_tables) > 0 && (var.postgres_create_rds || var.postgres_url != null)
  # Which runs it (var.postgres_sync_runner): this container task, or sync_lambda.tf's function.
  postgres_sync_task   = local.postgres_sync_enabled && var.postgres_sync_runner == "container"
  postgres_sync_lambda = local.postgres_sync_enabled && var.postgres_sync_runner == "lambda"
  postgres_rds_user    = "firelake"
  # The target's port: the created instance's, else the one postgres_url names (5432 when none).
  postgres_port = var.postgres_create_rds ? var.postgres_port : tonumber(
    try(regex("^[^/]+//[^/?]*:([0-9]+)(?:[/?]|$)", coalesce(var.postgres_url, "none"))[0], 5432)
  )
  postgres_url = var.postgres_create_rds ? format(
    "postgres://%s@%s:%d/lake?sslmode=verify-full",
    coalesce(var.postgres_iam_user, local.postgres_rds_user),
    try(aws_db_instance.postgres[0].address, "not-created"),
    try(aws_db_instance.postgres[0].port, local.postgres_port),
  ) : var.postgres_url
  # The password's secret: none with IAM auth, else the created instance's or yours.
  postgres_secret_arn = var.postgres_iam_user != null ? null : (
    var.postgres_create_rds ? try(aws_db_instance.postgres[0].master_user_secret[0].secret_arn, null) : var.postgres_password_secret_arn
  )
  sync_task_env = merge(
    { for k, v in local.compactor_env : k => v if k != "FIRELAKE_EVENTS_BUS" },
    {
      FIRELAKE_PG_URL     = coalesce(local.postgres_url, "not-configured")
      FIRELAKE_PG_SCHEMA  = var.postgres_schema
      FIRELAKE_PG_CA_FILE = "/etc/ssl/rds/global-bundle.pem"
      AWS_REGION          = local.region
    },
    local.postgres_secret_arn == null ? {} : { FIRELAKE_PG_PASSWORD_SECRET = local.postgres_secret_arn },
    var.postgres_iam_user == null ? {} : { FIRELAKE_PG_IAM_AUTH = "true" },
  )
  postgres_db_resource_id = try(aws_db_instance.postgres[0].resource_id, "*")
}

# What `firelake sync` calls: read the lake's tables (Glue, S3), the password's secret, and an
# IAM login as its one database user.
data "aws_iam_policy_document" "sync_task" {
  statement {
    sid       = "ReadTheCatalog"
    actions   = ["glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions"]
    resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_raw_arn, local.glue_curated_arn]
  }

  statement {
    sid       = "ReadTheLakeFiles"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.lake.arn}/${local.schema.table}/*", "${aws_s3_bucket.lake.arn}/${local.curated_table}/*"]
  }

  statement {
    sid       = "ListTheLakeFolders"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.schema.table}/*", "${local.curated_table}/*"]
    }
  }

  statement {
    sid       = "DecryptTheLake"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
  }

  dynamic "statement" {
    for_each = local.postgres_secret_arn == null ? [] : [1]
    content {
      sid       = "ReadThePassword"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [local.postgres_secret_arn]
    }
  }

  dynamic "statement" {
    for_each = var.postgres_iam_user == null ? [] : [1]
    content {
      sid       = "LogInWithIam"
      actions   = ["rds-db:connect"]
      resources = ["arn:${local.partition}:rds-db:${local.region}:${local.account_id}:dbuser:${local.postgres_db_resource_id}/${var.postgres_iam_user}"]
    }
  }
}

resource "aws_iam_role" "sync_task" {
  count = local.postgres_sync_task ? 1 : 0

  name               = "${var.name}-postgres-sync-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "sync_task" {
  count = local.postgres_sync_task ? 1 : 0

  name   = "code"
  role   = aws_iam_role.sync_task[0].id
  policy = data.aws_iam_policy_document.sync_task.json
}

# The compactor's image and execution role (pull it, log to the compactor's group under "sync").
resource "aws_ecs_task_definition" "sync" {
  count = local.postgres_sync_task ? 1 : 0

  family                   = "${var.name}-postgres-sync"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 1024
  memory                   = 2048
  task_role_arn            = aws_iam_role.sync_task[0].arn
  execution_role_arn       = aws_iam_role.compactor_task_execution.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.lambda_architecture == "arm64" ? "ARM64" : "X86_64"
  }

  container_definitions = jsonencode([{
    name                   = "sync"
    image                  = local.compactor_image
    entryPoint             = ["/usr/local/bin/firelake", "sync"]
    essential              = true
    readonlyRootFilesystem = true
    environment            = [for k in sort(keys(local.sync_task_env)) : { name = k, value = local.sync_task_env[k] }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.compactor_task.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "sync"
      }
    }
  }])

  depends_on = [aws_iam_role_policy.sync_task]
}

# The task (or the sync function, sync_lambda.tf) may reach AWS's APIs (HTTPS) and the
# database's port (local.postgres_port), nothing else.
resource "aws_security_group" "sync_task" {
  count = local.postgres_sync_enabled && var.postgres_vpc_id != null ? 1 : 0
  # checkov:skip=CKV2_AWS_5:The workflow attaches it to each sync task it starts (RunTask network configuration in workflow.asl.json), or the sync function's vpc_config does (sync_lambda.tf).

  name        = "${var.name}-postgres-sync-task"
  description = "firelake sync task: HTTPS to AWS APIs, PostgreSQL to the target"
  vpc_id      = var.postgres_vpc_id
}

resource "aws_vpc_security_group_egress_rule" "sync_task_https" {
  count = length(aws_security_group.sync_task)

  security_group_id = aws_security_group.sync_task[0].id
  description       = "S3, Glue, Secrets Manager, STS over HTTPS"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "sync_task_to_rds" {
  count = length(aws_security_group.sync_task) > 0 && var.postgres_create_rds ? 1 : 0

  security_group_id            = aws_security_group.sync_task[0].id
  description                  = "PostgreSQL on the created instance"
  ip_protocol                  = "tcp"
  from_port                    = local.postgres_port
  to_port                      = local.postgres_port
  referenced_security_group_id = aws_security_group.postgres[0].id
}

resource "aws_vpc_security_group_egress_rule" "sync_task_to_target" {
  for_each = length(aws_security_group.sync_task) > 0 && !var.postgres_create_rds ? toset(var.postgres_target_cidr_blocks) : toset([])

  security_group_id = aws_security_group.sync_task[0].id
  description       = "PostgreSQL on the given target"
  ip_protocol       = "tcp"
  from_port         = local.postgres_port
  to_port           = local.postgres_port
  cidr_ipv4         = each.value
}
