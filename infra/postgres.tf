# The optional sync target (var.postgres_create_rds): RDS PostgreSQL, private (no public
# address, reachable on var.postgres_port from the sync task's security group only), encrypted with this
# deployment's key, TLS forced, IAM database authentication on, the master password made and
# rotated by RDS in Secrets Manager (never in the state).

resource "aws_db_subnet_group" "postgres" {
  count = var.postgres_create_rds ? 1 : 0

  name       = "${var.name}-postgres"
  subnet_ids = var.postgres_subnet_ids
}

resource "aws_security_group" "postgres" {
  count = var.postgres_create_rds ? 1 : 0

  name        = "${var.name}-postgres"
  description = "firelake sync target: PostgreSQL from the sync task only"
  vpc_id      = var.postgres_vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "postgres_from_sync" {
  count = var.postgres_create_rds && length(aws_security_group.sync_task) > 0 ? 1 : 0

  security_group_id            = aws_security_group.postgres[0].id
  description                  = "PostgreSQL from the sync task"
  ip_protocol                  = "tcp"
  from_port                    = local.postgres_port
  to_port                      = local.postgres_port
  referenced_security_group_id = aws_security_group.sync_task[0].id
}

# TLS only, and every statement's duration logged (checkov's query logging).
resource "aws_db_parameter_group" "postgres" {
  count = var.postgres_create_rds ? 1 : 0

  name   = "${var.name}-postgres16"
  family = "postgres16"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

resource "aws_db_instance" "postgres" {
  count = var.postgres_create_rds ? 1 : 0
  # checkov:skip=CKV_AWS_157:Multi-AZ doubles the cost of a copy the lake can always rebuild; set it on the instance if needed.
  # checkov:skip=CKV_AWS_118:Enhanced monitoring needs its own role; Performance Insights and CloudWatch cover this copy of the lake.

  identifier                          = "${var.name}-postgres"
  engine                              = "postgres"
  engine_version                      = "16"
  instance_class                      = var.postgres_instance_class
  port                                = local.postgres_port
  allocated_storage                   = var.postgres_storage_gib
  max_allocated_storage               = var.postgres_storage_gib * 4
  db_name                             = "lake"
  username                            = local.postgres_rds_user
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = aws_kms_key.this.arn
  iam_database_authentication_enabled = true
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.this.arn
  publicly_accessible                 = false
  db_subnet_group_name                = aws_db_subnet_group.postgres[0].name
  vpc_security_group_ids              = [aws_security_group.postgres[0].id]
  parameter_group_name                = aws_db_parameter_group.postgres[0].name
  backup_retention_period             = 7
  copy_tags_to_snapshot               = true
  deletion_protection                 = !var.force_destroy_buckets
  skip_final_snapshot                 = var.force_destroy_buckets
  final_snapshot_identifier           = "${var.name}-postgres-final"
  auto_minor_version_upgrade          = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.this.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
}
