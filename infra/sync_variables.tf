# The lake -> PostgreSQL sync (issue 23, docs/sync.md): off unless tables are named and a
# target is given (an RDS instance this deployment creates, or an endpoint of your own).

variable "postgres_sync_tables" {
  description = "Lake tables the nightly workflow syncs to PostgreSQL after compaction (e.g. [\"users_curated\"]); empty: no sync."
  type        = list(string)
  default     = []
}

variable "postgres_create_rds" {
  description = "Create the target: an RDS PostgreSQL instance (encrypted with this deployment's key, private, IAM database authentication on, its master password in Secrets Manager). Needs postgres_vpc_id and postgres_subnet_ids."
  type        = bool
  default     = false
}

variable "postgres_url" {
  description = "Your own target instead: postgres://USER@HOST:PORT/DB?sslmode=verify-full (no password; the image has RDS's CA bundle)."
  type        = string
  default     = null

  validation {
    condition     = var.postgres_url == null || can(regex("^postgres(ql)?://[^:@/]+@", var.postgres_url))
    error_message = "postgres_url: postgres://USER@HOST:PORT/DB, with a user and without a password."
  }
}

variable "postgres_password_secret_arn" {
  description = "Secrets Manager secret with the password of postgres_url's user (the password, or RDS's JSON {\"username\",\"password\"}); null with postgres_iam_user."
  type        = string
  default     = null
}

variable "postgres_iam_user" {
  description = "Log in with RDS IAM authentication as this database user (created once: CREATE USER u; GRANT rds_iam TO u; see docs/sync.md) instead of a password."
  type        = string
  default     = null
}

variable "postgres_vpc_id" {
  description = "VPC of the RDS instance and of the sync task."
  type        = string
  default     = null
}

variable "postgres_subnet_ids" {
  description = "Private subnets of the RDS instance and of the sync task (with a route to S3, Glue and Secrets Manager: NAT or VPC endpoints)."
  type        = list(string)
  default     = []
}

variable "postgres_port" {
  description = "Port of the created RDS instance (its listener, its ingress rule and the sync task's egress). With postgres_url the port is the URL's (5432 when it names none)."
  type        = number
  default     = 5432

  validation {
    condition     = var.postgres_port >= 1150 && var.postgres_port <= 65535
    error_message = "postgres_port: 1150-65535 (what RDS accepts for PostgreSQL)."
  }
}

variable "postgres_target_cidr_blocks" {
  description = "With postgres_url: where the sync task may connect on the URL's port (the target's addresses)."
  type        = list(string)
  default     = []
}

variable "postgres_instance_class" {
  description = "Instance class of the created RDS instance."
  type        = string
  default     = "db.t4g.medium"
}

variable "postgres_storage_gib" {
  description = "Allocated storage of the created RDS instance in GiB (it grows up to 4 times this on its own)."
  type        = number
  default     = 50
}

variable "postgres_schema" {
  description = "Schema of the synced tables and of firelake_sync_state."
  type        = string
  default     = "public"
}

variable "postgres_sync_runner" {
  description = "What runs the nightly sync: \"container\" (a Fargate task on the compactor's image, no time limit) or \"lambda\" (the sync-lambda function in postgres_vpc_id's subnets, invoked again by the workflow until it answers done)."
  type        = string
  default     = "container"

  validation {
    condition     = contains(["container", "lambda"], var.postgres_sync_runner)
    error_message = "postgres_sync_runner: \"container\" or \"lambda\"."
  }
}

variable "postgres_sync_lambda_max_invocations" {
  description = "With postgres_sync_runner = \"lambda\": invocations of the sync function per table and night (each up to 15 minutes) before the workflow gives up and notifies the alarm topic; the next night continues where it stopped."
  type        = number
  default     = 40

  validation {
    condition     = var.postgres_sync_lambda_max_invocations >= 1 && floor(var.postgres_sync_lambda_max_invocations) == var.postgres_sync_lambda_max_invocations
    error_message = "postgres_sync_lambda_max_invocations: a whole number, at least 1."
  }
}
