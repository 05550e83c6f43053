# One firelake binary as a Lambda function (the provided.al2023 runtime runs its `bootstrap`):
# its own role with the binary's policy plus what the runtime needs (its log group, X-Ray,
# the dead-letter queue), a KMS-encrypted log group, and alarms on errors and throttles.

variable "name" {
  description = "Function name."
  type        = string
}

variable "binary" {
  description = "The workspace binary this function runs (its zip is <artifacts_dir>/<binary>/bootstrap.zip)."
  type        = string
}

variable "description" {
  type = string
}

variable "artifact" {
  description = "Path of the zip holding `bootstrap` (scripts/package-lambdas.sh)."
  type        = string
}

variable "architecture" {
  type    = string
  default = "x86_64"
}

variable "memory_mb" {
  type    = number
  default = 512
}

variable "timeout_s" {
  type    = number
  default = 60
}

variable "ephemeral_storage_mb" {
  type    = number
  default = 512
}

variable "reserved_concurrency" {
  description = "Reserved (and so maximum) concurrent executions."
  type        = number
}

variable "environment" {
  description = "Environment variables: the binary's FIRELAKE_* settings and RUST_LOG."
  type        = map(string)
}

variable "policies" {
  description = "Inline IAM policies of what the binary itself calls, by name; empty for a binary that calls no AWS API. A map, not a nullable string: its keys are known when planning, while the policy documents name ARNs known only after apply."
  type        = map(string)
  default     = {}
}

variable "vpc_subnet_ids" {
  description = "Subnets the function runs in (with vpc_security_group_ids); empty: outside any VPC."
  type        = list(string)
  default     = []
}

variable "vpc_security_group_ids" {
  description = "Security groups of the function's network interfaces, with vpc_subnet_ids."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "Key of the log group and the environment variables."
  type        = string
}

variable "dead_letter_queue_arn" {
  description = "SQS queue for asynchronous invocations that failed every attempt."
  type        = string
}

variable "alarm_topic_arn" {
  type = string
}

variable "log_retention_days" {
  type = number
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "code" {
  for_each = var.policies

  name   = each.key
  role   = aws_iam_role.this.id
  policy = each.value
}

# What the Lambda runtime does with the function's role, whatever the binary is.
data "aws_iam_policy_document" "runtime" {
  statement {
    sid       = "WriteItsLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [var.dead_letter_queue_arn]
  }

  # The queue is encrypted with the deployment's key.
  statement {
    sid       = "DeadLettersAreEncrypted"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${data.aws_region.current.id}.amazonaws.com"]
    }
  }

  statement {
    # checkov:skip=CKV_AWS_356:X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions.
    sid       = "Traces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

# In a VPC, Lambda creates and deletes the function's network interfaces with its role: AWS's
# managed policy for exactly that (ec2:*NetworkInterface*, whose Describe calls take no resource).
resource "aws_iam_role_policy_attachment" "vpc" {
  count = length(var.vpc_subnet_ids) > 0 ? 1 : 0

  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_iam_role_policy" "runtime" {
  name   = "runtime"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.runtime.json
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_117:The functions call only AWS APIs and the source's public HTTPS API, all over TLS with IAM or API credentials; a VPC would add NAT gateways and endpoints without isolating anything more. The sync function, which reaches a private database, runs in its VPC (vpc_subnet_ids).
  # checkov:skip=CKV_AWS_272:The zips are built from this repository by scripts/package-lambdas.sh and uploaded by Terraform, pinned by source_code_hash; code signing would need an AWS Signer profile and an S3 upload step this deployment does not have.
  function_name = var.name
  description   = var.description
  role          = aws_iam_role.this.arn
  handler       = "bootstrap"
  runtime       = "provided.al2023"
  architectures = [var.architecture]

  filename         = var.artifact
  source_code_hash = filebase64sha256(var.artifact)

  memory_size                    = var.memory_mb
  timeout                        = var.timeout_s
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  ephemeral_storage {
    size = var.ephemeral_storage_mb
  }

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = "Active"
  }

  dynamic "vpc_config" {
    for_each = length(var.vpc_subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
  }

  dead_letter_config {
    target_arn = var.dead_letter_queue_arn
  }

  logging_config {
    # The binaries print JSON lines themselves (tracing-subscriber).
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  tags = {
    Binary = var.binary
  }

  depends_on = [aws_iam_role_policy.runtime, aws_iam_role_policy.code, aws_iam_role_policy_attachment.vpc]
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "${var.name} returned errors (see its log group)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  alarm_name          = "${var.name}-throttles"
  alarm_description   = "${var.name} was throttled (reserved concurrency reached)."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
}

output "arn" {
  value = aws_lambda_function.this.arn
}

output "name" {
  value = aws_lambda_function.this.function_name
}

output "role_name" {
  value = aws_iam_role.this.name
}

output "log_group_name" {
  value = aws_cloudwatch_log_group.this.name
}
