output "lake_bucket" {
  description = "The lake: <table>/p_date=D/ raw, <table>_curated/ curated."
  value       = aws_s3_bucket.lake.id
}

output "glue_database" {
  value = aws_glue_catalog_database.this.name
}

output "raw_table" {
  value = module.raw_table.name
}

output "curated_table" {
  value = module.curated_table.name
}

output "kinesis_stream" {
  value = local.use_kinesis ? aws_kinesis_stream.this[0].name : null
}

output "firehose_delivery_stream" {
  value = local.use_firehose ? aws_kinesis_firehose_delivery_stream.this[0].name : null
}

output "functions" {
  value = {
    producer             = module.producer.name
    compactor            = module.compactor.name
    firehose_transformer = local.use_firehose ? module.transformer[0].name : null
    stream_consumer      = local.stream_consumer ? module.stream_consumer[0].name : null
  }
}

output "alarm_topic" {
  value = aws_sns_topic.alarms.arn
}

output "dead_letter_queue" {
  value = aws_sqs_queue.dead_letter.url
}

output "redrive_command" {
  description = "stream_consumer: re-drives the Kinesis batches the stream-consumer gave up on (its failure queue) into the lake."
  value       = local.stream_consumer ? local.redrive_command : null
}

output "compactor_task_image" {
  description = "The image the compactor task runs: push compactor/Dockerfile's build there (docs/deploying.md)."
  value       = local.compactor_image
}

output "compactor_task_run_command" {
  description = "Compacts one day (replace YYYY-MM-DD) in the compactor task: for a day too large for the Lambda's 15 minutes."
  value = join(" ", [
    "aws ecs run-task --cluster ${aws_ecs_cluster.compactor.name}",
    "--task-definition ${aws_ecs_task_definition.compactor.family}",
    "--launch-type FARGATE",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", coalescelist(var.compactor_task_subnet_ids, ["SUBNET"]))}],securityGroups=[${join(",", coalescelist(var.compactor_task_security_group_ids, ["SECURITY_GROUP"]))}],assignPublicIp=DISABLED}'",
    "--overrides '{\"containerOverrides\":[{\"name\":\"compactor\",\"environment\":[{\"name\":\"FIRELAKE_DATE\",\"value\":\"YYYY-MM-DD\"}]}]}'",
  ])
}

output "athena_query" {
  description = "Paste into Athena: rows per day in the raw table."
  value       = "SELECT ${local.schema.partition_column}, count(*) FROM \"${aws_glue_catalog_database.this.name}\".\"${module.raw_table.name}\" GROUP BY 1 ORDER BY 1"
}

output "nightly_workflow" {
  description = "The nightly workflow's state machine (start it by hand: aws stepfunctions start-execution --state-machine-arn ARN)."
  value       = aws_sfn_state_machine.nightly.arn
}
