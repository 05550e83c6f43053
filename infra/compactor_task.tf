# The compactor as a Fargate task: the same binary in its container mode (no
# AWS_LAMBDA_RUNTIME_API: it runs once, prints its JSON report, exits non-zero on failure),
# with the same FIRELAKE_* settings and the same permissions as the Lambda, for a day too
# large for one 15-minute invocation. The image is compactor/Dockerfile around the release
# binary that scripts/package-lambdas.sh builds; docs/deploying.md says how to push it
# and start a task (`terraform output compactor_task_run_command`).

locals {
  # By default the image in this deployment's repository, tagged with the hash of the zip the
  # Lambda runs: both run the same build.
  compactor_image = coalesce(
    var.compactor_image,
    "${try(aws_ecr_repository.compactor[0].repository_url, "")}:${filesha256(local.artifacts["compactor"])}",
  )
  compactor_log_group = "/aws/ecs/${var.name}-compactor"
  # Where dedupe spills its keys: the task's ephemeral storage (the root file system is read-only).
  compactor_spill_dir = "/spill"
  compactor_task_env  = merge(local.compactor_env, { TMPDIR = local.compactor_spill_dir })
}

resource "aws_ecr_repository" "compactor" {
  count = var.compactor_image == null ? 1 : 0

  name                 = "${var.name}-compactor"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_destroy_buckets

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }
}

resource "aws_ecr_lifecycle_policy" "compactor" {
  count = var.compactor_image == null ? 1 : 0

  repository = aws_ecr_repository.compactor[0].name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the last 10 images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 10 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "compactor" {
  name = "${var.name}-compactor"

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "compactor_task" {
  name              = local.compactor_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

# The task's own role: what the compactor binary calls, the Lambda's policy exactly.
resource "aws_iam_role" "compactor_task" {
  name               = "${var.name}-compactor-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "compactor_task" {
  name   = "code"
  role   = aws_iam_role.compactor_task.id
  policy = data.aws_iam_policy_document.compactor.json
}

# What ECS does before the container starts: pull the image, ship its output to the log group.
resource "aws_iam_role" "compactor_task_execution" {
  name               = "${var.name}-compactor-task-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "compactor_task_execution" {
  dynamic "statement" {
    for_each = var.compactor_image == null ? [1] : []
    content {
      sid       = "PullTheImage"
      actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = [aws_ecr_repository.compactor[0].arn]
    }
  }

  statement {
    # checkov:skip=CKV_AWS_356:ecr:GetAuthorizationToken supports no resource-level permissions (the token is for the registry).
    sid       = "LogInToTheRegistry"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteTheTaskLog"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.compactor_task.arn}:*"]
  }
}

resource "aws_iam_role_policy" "compactor_task_execution" {
  name   = "execution"
  role   = aws_iam_role.compactor_task_execution.id
  policy = data.aws_iam_policy_document.compactor_task_execution.json
}

resource "aws_ecs_task_definition" "compactor" {
  family                   = "${var.name}-compactor"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.compactor_task_cpu
  memory                   = var.compactor_task_memory_mb
  task_role_arn            = aws_iam_role.compactor_task.arn
  execution_role_arn       = aws_iam_role.compactor_task_execution.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.lambda_architecture == "arm64" ? "ARM64" : "X86_64"
  }

  ephemeral_storage {
    size_in_gib = var.compactor_task_disk_gib
  }

  volume {
    name = "spill"
  }

  container_definitions = jsonencode([{
    name                   = "compactor"
    image                  = local.compactor_image
    essential              = true
    readonlyRootFilesystem = true
    environment            = [for k in sort(keys(local.compactor_task_env)) : { name = k, value = local.compactor_task_env[k] }]
    mountPoints            = [{ sourceVolume = "spill", containerPath = local.compactor_spill_dir, readOnly = false }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.compactor_task.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "compactor"
      }
    }
  }])

  depends_on = [aws_iam_role_policy.compactor_task, aws_iam_role_policy.compactor_task_execution]
}
