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
  description = "EventBridge schedule of the compactor (UTC): nightly, after the day has closed."
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
  description = "Days raw files (<table>/) and rejected records stay before S3 expires them; the curated table keeps the data."
  type        = number
  default     = 30
}

variable "error_retention_days" {
  description = "Days Firehose's error output (records the transformer answered ProcessingFailed) stays."
  type        = number
  default     = 90
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
  description = "Value of the source API's credential, stored in Secrets Manager (only for a source whose definition names auth_env). null: put it yourself with `aws secretsmanager put-secret-value`."
  type        = string
  default     = null
  sensitive   = true
}

variable "force_destroy_buckets" {
  description = "Let `terraform destroy` delete the buckets with their objects (all versions)."
  type        = bool
  default     = false
}
