# A Parquet table in the Glue Data Catalog whose columns come from a source definition (the
# `firelake schema --format terraform` output), Hive-partitioned like the lake.

variable "database" {
  type = string
}

variable "name" {
  type = string
}

variable "description" {
  type    = string
  default = null
}

variable "location" {
  description = "The table's folder URL, ending in /."
  type        = string
}

variable "schema" {
  description = "One output of infra/generated: columns, partition_keys, parameters, formats."
  type = object({
    columns        = list(object({ name = string, type = string, comment = optional(string) }))
    partition_keys = list(object({ name = string, type = string, comment = optional(string) }))
    parameters     = map(string)
    input_format   = string
    output_format  = string

    serialization_library = string
  })
}

variable "extra_parameters" {
  description = "Table parameters beyond the source's (e.g. Athena partition projection)."
  type        = map(string)
  default     = {}
}

resource "aws_glue_catalog_table" "this" {
  database_name = var.database
  name          = var.name
  description   = var.description
  table_type    = "EXTERNAL_TABLE"
  parameters    = merge(var.schema.parameters, var.extra_parameters)

  dynamic "partition_keys" {
    for_each = var.schema.partition_keys
    content {
      name    = partition_keys.value.name
      type    = partition_keys.value.type
      comment = partition_keys.value.comment
    }
  }

  storage_descriptor {
    location      = var.location
    input_format  = var.schema.input_format
    output_format = var.schema.output_format

    ser_de_info {
      serialization_library = var.schema.serialization_library
    }

    dynamic "columns" {
      for_each = var.schema.columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}

output "name" {
  value = aws_glue_catalog_table.this.name
}

output "arn" {
  value = aws_glue_catalog_table.this.arn
}
