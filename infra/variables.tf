variable "name" {
  description = "Prefix of every resource name (lower case, digits, dashes)."
  type        = string
  default     = "firelake"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name))
    error_message = "name: 2 to 20 characters, lower case letters, digits and dashes, starting with a letter (bucket names derive from it)."
  }
}

variable "region" {
  description = "AWS region; null takes the region of the environment (AWS_REGION or the profile)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "source_name" {
  description = "The source to deploy: a file infra/generated/<source>.tf.json made by `firelake schema --source NAME --format terraform`."
  type        = string
  default     = "users"
}

variable "delivery" {
  description = <<-EOT
    How records reach the lake:
    firehose            producer -> Kinesis stream -> Firehose (transformer Lambda, dynamic partitioning, Parquet) -> S3
    firehose_direct_put producer -> Firehose Direct PUT (same transformer, partitioning and Parquet) -> S3; no Kinesis stream
    stream_consumer     producer -> Kinesis stream -> stream-consumer Lambda (event source mapping) -> S3 + Glue partitions
  EOT
  type        = string
  default     = "firehose"

  validation {
    condition     = contains(["firehose", "firehose_direct_put", "stream_consumer"], var.delivery)
    error_message = "delivery: firehose, firehose_direct_put or stream_consumer."
  }
}

variable "artifacts_dir" {
  description = "Where scripts/package-lambdas.sh put the Lambda zips (<dir>/<binary>/bootstrap.zip)."
  type        = string
  default     = "../target/lambda"
}

variable "lambda_architecture" {
  description = "Architecture the zips were built for: x86_64 (scripts/package-lambdas.sh default) or arm64 (--arm64)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture: x86_64 or arm64."
  }
}

variable "rust_log" {
  description = "RUST_LOG of every function (tracing filter)."
  type        = string
  default     = "info"
}

variable "glue_database" {
  description = "Glue database of the raw and curated tables."
  type        = string
  default     = "firelake"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,64}$", var.glue_database))
    error_message = "glue_database: lower case letters, digits and underscores."
  }
}

variable "kinesis_stream_mode" {
  description = "ON_DEMAND or PROVISIONED."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.kinesis_stream_mode)
    error_message = "kinesis_stream_mode: ON_DEMAND or PROVISIONED."
  }
}

variable "kinesis_shard_count" {
  description = "Shards of a PROVISIONED stream."
  type        = number
  default     = 1
}

variable "kinesis_retention_hours" {
  description = "How long the stream keeps records (24 to 8760 hours)."
  type        = number
  default     = 24

  validation {
    condition     = var.kinesis_retention_hours >= 24 && var.kinesis_retention_hours <= 8760
    error_message = "kinesis_retention_hours: 24 to 8760."
  }
}

variable "producer_schedule" {
  description = "EventBridge schedule of the producer's ticks."
  type        = string
  default     = "rate(1 minute)"
}

variable "compactor_schedule" {
  description = "EventBridge schedule of the nightly workflow (UTC; workflow.tf): after the day has closed."
  type        = string
  default     = "cron(30 1 * * ? *)"
}

variable "firehose_buffer_seconds" {
  description = "Firehose S3 buffering interval: how often a partition's file lands (60 to 900)."
  type        = number
  default     = 60

  validation {
    condition     = var.firehose_buffer_seconds >= 60 && var.firehose_buffer_seconds <= 900
    error_message = "firehose_buffer_seconds: 60 to 900 (dynamic partitioning's range)."
  }
}

variable "firehose_buffer_mb" {
  description = "Firehose S3 buffering size in MiB (64 to 128 with record format conversion and dynamic partitioning)."
  type        = number
  default     = 64

  validation {
    condition     = var.firehose_buffer_mb >= 64 && var.firehose_buffer_mb <= 128
    error_message = "firehose_buffer_mb: 64 to 128."
  }
}

variable "transform_buffer_mb" {
  description = "Records per transformer invocation, in MiB of incoming data (0.2 to 3). Base64 and the JSON envelope grow a batch by about 4/3: 3 MiB stays within Lambda's 6 MB request limit."
  type        = number
  default     = 1

  validation {
    condition     = var.transform_buffer_mb >= 0.2 && var.transform_buffer_mb <= 3
    error_message = "transform_buffer_mb: 0.2 to 3 (the Lambda request limit is 6 MB)."
  }
}

variable "transformer_concurrency" {
  description = "Reserved concurrency of the Firehose transformer."
  type        = number
  default     = 5
}

variable "stream_consumer_concurrency" {
  description = "Reserved concurrency of the stream-consumer (shards x parallelization factor at most)."
  type        = number
  default     = 5
}

variable "stream_consumer_batch_size" {
  description = "Records per stream-consumer invocation."
  type        = number
  default     = 10000
}

variable "stream_consumer_batch_window_seconds" {
  description = "How long the event source mapping gathers records before invoking (0 to 300): the consumer's flush interval."
  type        = number
  default     = 60
}

variable "compactor_memory_mb" {
  description = "Memory of the compactor function."
  type        = number
  default     = 2048
}

variable "compactor_tmp_mb" {
  description = "Ephemeral /tmp of the compactor, where dedupe spills its keys on large days (512 to 10240)."
  type        = number
  default     = 2048
}

variable "raw_retention_days" {
  description = "Days raw files (<table>/) and the records rejected beside them (<table>/_rejected/) stay before S3 expires them; the curated table keeps the data."
  type        = number
  default     = 30
}

variable "error_retention_days" {
  description = "Days Firehose's error output (records the transformer answered ProcessingFailed) stays."
  type        = number
  default     = 90
}

variable "dead_letter_retention_days" {
  description = "Days the producer's dead letters (_dead_letter/: records the stream never took) stay before S3 expires them (redacted; read them as one of kept_record_readers)."
  type        = number
  default     = 90
}

variable "kept_record_readers" {
  description = "IAM principals (ARNs, wildcards allowed: arn:aws:iam::ACCOUNT:role/ops-*) that may read kept raw records: dead letters, rejects and Firehose's error output. Nobody else can, whatever their IAM policies say (the bucket policy denies it)."
  type        = list(string)
  default     = []
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version stays recoverable."
  type        = number
  default     = 7
}

variable "access_log_retention_days" {
  description = "Days S3 server access logs stay."
  type        = number
  default     = 365
}

variable "log_retention_days" {
  description = "Days CloudWatch log groups keep function and Firehose logs."
  type        = number
  default     = 365
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (null: subscribe yourself)."
  type        = string
  default     = null
}

variable "freshness_alarm_seconds" {
  description = "Alarm when the oldest record not yet in S3 is older than this."
  type        = number
  default     = 900
}

variable "iterator_age_alarm_ms" {
  description = "Alarm when the stream's readers fall this far behind."
  type        = number
  default     = 300000
}

variable "source_api_secret" {
  description = "Value of the source API's credential (only for a source whose definition names auth_env), written to Secrets Manager through a write-only argument: never in the state or a plan file. Pass it as TF_VAR_source_api_secret together with source_api_secret_version."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "source_api_secret_version" {
  description = "Bump (1, 2, ...) to write source_api_secret as the secret's new value; 0 writes none (put it yourself: `aws secretsmanager put-secret-value`)."
  type        = number
  default     = 0

  validation {
    condition     = var.source_api_secret_version >= 0 && floor(var.source_api_secret_version) == var.source_api_secret_version
    error_message = "source_api_secret_version: a whole number, 0 or more."
  }
}

variable "secret_recovery_days" {
  description = "Days a destroyed API secret stays recoverable (7 to 30); its name cannot be used again until then. 0 deletes it at once (a deployment you destroy and re-create)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_days == 0 || (var.secret_recovery_days >= 7 && var.secret_recovery_days <= 30)
    error_message = "secret_recovery_days: 0, or 7 to 30."
  }
}

variable "force_destroy_buckets" {
  description = "Let `terraform destroy` delete the buckets with their objects (all versions) and the compactor's image repository with its images."
  type        = bool
  default     = false
}

variable "compactor_image" {
  description = "Image of the compactor task (null: <name>-compactor in this account's ECR, tagged with the sha256 of target/lambda/compactor/bootstrap.zip; see docs/deploying.md)."
  type        = string
  default     = null
}

variable "compactor_task_cpu" {
  description = "CPU units of the compactor task (1024 = 1 vCPU; Fargate's pairs with memory apply)."
  type        = number
  default     = 2048
}

variable "compactor_task_memory_mb" {
  description = "Memory of the compactor task in MiB."
  type        = number
  default     = 8192
}

variable "compactor_task_disk_gib" {
  description = "Ephemeral storage of the compactor task in GiB (21 to 200), where dedupe spills its keys."
  type        = number
  default     = 50

  validation {
    condition     = var.compactor_task_disk_gib >= 21 && var.compactor_task_disk_gib <= 200
    error_message = "compactor_task_disk_gib: 21 to 200 (Fargate's range)."
  }
}

variable "compactor_task_subnet_ids" {
  description = "Subnets the compactor task runs in (with a route to S3 and Glue: a NAT gateway or VPC endpoints); only used in the run command this deployment prints."
  type        = list(string)
  default     = []
}

variable "compactor_task_security_group_ids" {
  description = "Security groups of the compactor task (egress to HTTPS); only used in the run command this deployment prints."
  type        = list(string)
  default     = []
}

variable "compactor_parallel_days" {
  description = "Days the nightly workflow compacts at once (its Map's MaxConcurrency; the compactor function's reserved concurrency)."
  type        = number
  default     = 4

  validation {
    condition     = var.compactor_parallel_days >= 1 && var.compactor_parallel_days <= 40
    error_message = "compactor_parallel_days: 1 to 40."
  }
}

variable "compactor_lambda_max_day_mb" {
  description = "Raw MB of a day above which the nightly workflow compacts it in the container task instead of the Lambda (a day the Lambda times out or runs out of memory on goes there too)."
  type        = number
  default     = 4096
}

variable "events_bus" {
  description = "EventBridge bus the compactor puts its \"partition complete\" events on (source firelake.compactor): a bus name, or default."
  type        = string
  default     = "default"
}

variable "transform_image" {
  description = "Image of transform/Dockerfile (dbt-athena and the dbt project): the nightly workflow runs it as an ECS task, `dbt build --target athena` for each compacted day, after compaction and the sync (null: the step is skipped)."
  type        = string
  default     = null
}

variable "transform_athena_workgroup" {
  description = "Athena work group the transform task's queries run in (its role may use this one only)."
  type        = string
  default     = "primary"
}

variable "partition_projection_start" {
  description = "First day (YYYY-MM-DD) Athena projects for the raw table: days before it are invisible to Athena queries even when their files exist, so a backfill of older records needs an earlier start. Every day from it to today is enumerated by a query without a day filter, so a start far before the data slows those queries a little. The default covers any backfill of this century."
  type        = string
  default     = "2000-01-01"

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.partition_projection_start))
    error_message = "partition_projection_start: a day, YYYY-MM-DD."
  }
}
