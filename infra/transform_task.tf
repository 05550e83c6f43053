# The transform layer (transform/, docs/transform.md) as a Fargate task the nightly workflow
# runs after compaction: the image of transform/Dockerfile runs `dbt build --target athena`
# for one compacted day (FIRELAKE_DAY, which the project reads as var('day')). Its role can
# query Athena in its work group, read the source tables (Glue and their S3 prefixes), and
# create and write the transform tables in their own Glue database and S3 prefix; nothing
# else. Created only when var.transform_image is set.

locals {
  transform_enabled   = var.transform_image != null
  transform_log_group = "/aws/ecs/${var.name}-transform"
  transform_database  = "${var.glue_database}_transform"
  # dbt-athena writes the models' files under the data prefix and query results under the
  # results prefix, both in the lake bucket.
  transform_data_prefix    = "transform"
  transform_results_prefix = "_athena_results/transform"
  transform_env = {
    FIRELAKE_DATABASE           = var.glue_database
    FIRELAKE_TRANSFORM_SCHEMA   = local.transform_database
    FIRELAKE_TRANSFORM_DATA_DIR = "s3://${local.lake_bucket}/${local.transform_data_prefix}/"
    FIRELAKE_ATHENA_STAGING_DIR = "s3://${local.lake_bucket}/${local.transform_results_prefix}/"
    FIRELAKE_ATHENA_WORKGROUP   = var.transform_athena_workgroup
    AWS_REGION                  = local.region
  }
  transform_database_arn = "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${local.transform_database}"
  transform_tables_arn   = "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${local.transform_database}/*"
}

resource "aws_cloudwatch_log_group" "transform_task" {
  count = local.transform_enabled ? 1 : 0

  name              = local.transform_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

# What dbt calls: Athena in its work group, Glue for the source and transform tables, S3 for
# their files and the query results.
data "aws_iam_policy_document" "transform_task" {
  statement {
    sid = "QueryAthenaInTheWorkGroup"
    actions = [
      "athena:StartQueryExecution",
      "athena:GetQueryExecution",
      "athena:GetQueryResults",
      "athena:StopQueryExecution",
      "athena:GetWorkGroup",
    ]
    resources = ["arn:${local.partition}:athena:${local.region}:${local.account_id}:workgroup/${var.transform_athena_workgroup}"]
  }

  statement {
    sid       = "ReadTheSourceTables"
    actions   = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"]
    resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_raw_arn, local.glue_curated_arn]
  }

  statement {
    sid = "KeepTheTransformTables"
    actions = [
      "glue:GetDatabase",
      "glue:CreateDatabase",
      "glue:GetTable",
      "glue:GetTables",
      "glue:CreateTable",
      "glue:UpdateTable",
      "glue:DeleteTable",
      "glue:GetPartition",
      "glue:GetPartitions",
      "glue:BatchCreatePartition",
      "glue:CreatePartition",
      "glue:UpdatePartition",
      "glue:DeletePartition",
      "glue:BatchDeletePartition",
    ]
    resources = [local.glue_catalog_arn, local.transform_database_arn, local.transform_tables_arn]
  }

  statement {
    sid       = "ReadTheSourceFiles"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.lake.arn}/${local.schema.table}/*", "${aws_s3_bucket.lake.arn}/${local.curated_table}/*"]
  }

  statement {
    sid       = "WriteTheTransformFilesAndQueryResults"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.lake.arn}/${local.transform_data_prefix}/*", "${aws_s3_bucket.lake.arn}/${local.transform_results_prefix}/*"]
  }

  statement {
    sid       = "ListThoseFolders"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        "${local.schema.table}/*",
        "${local.curated_table}/*",
        "${local.transform_data_prefix}/*",
        "${local.transform_results_prefix}/*",
      ]
    }
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

resource "aws_iam_role" "transform_task" {
  count = local.transform_enabled ? 1 : 0

  name               = "${var.name}-transform-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "transform_task" {
  count = local.transform_enabled ? 1 : 0

  name   = "dbt"
  role   = aws_iam_role.transform_task[0].id
  policy = data.aws_iam_policy_document.transform_task.json
}

# Pulling the image (from any registry the deployment names) and writing the task's log.
resource "aws_iam_role" "transform_task_execution" {
  count = local.transform_enabled ? 1 : 0

  name               = "${var.name}-transform-task-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "transform_task_execution" {
  statement {
    # checkov:skip=CKV_AWS_356:ecr:GetAuthorizationToken supports no resource-level permissions (the token is for the registry).
    sid       = "LogInToTheRegistry"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullTheImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = ["arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/*"]
  }

  statement {
    sid       = "WriteTheTaskLog"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.transform_log_group}:*"]
  }
}

resource "aws_iam_role_policy" "transform_task_execution" {
  count = local.transform_enabled ? 1 : 0

  name   = "execution"
  role   = aws_iam_role.transform_task_execution[0].id
  policy = data.aws_iam_policy_document.transform_task_execution.json
}

resource "aws_ecs_task_definition" "transform" {
  count = local.transform_enabled ? 1 : 0

  family                   = "${var.name}-transform"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 512
  memory                   = 1024
  task_role_arn            = aws_iam_role.transform_task[0].arn
  execution_role_arn       = aws_iam_role.transform_task_execution[0].arn

  # dbt's target/ and logs (DBT_TARGET_PATH, DBT_LOG_PATH): the root file system is read-only.
  volume {
    name = "scratch"
  }

  container_definitions = jsonencode([{
    name                   = "transform"
    image                  = var.transform_image
    essential              = true
    readonlyRootFilesystem = true
    command                = ["build", "--target", "athena"]
    mountPoints            = [{ sourceVolume = "scratch", containerPath = "/tmp", readOnly = false }]
    environment            = [for k in sort(keys(local.transform_env)) : { name = k, value = local.transform_env[k] }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = local.transform_log_group
        awslogs-region        = local.region
        awslogs-stream-prefix = "transform"
      }
    }
  }])

  depends_on = [aws_iam_role_policy.transform_task, aws_iam_role_policy.transform_task_execution, aws_cloudwatch_log_group.transform_task]
}
