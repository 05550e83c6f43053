# The source API's credential, for a source whose definition names `auth_env`: the producer
# Lambda gets `<auth_env>=secretsmanager://<name>` and reads the value at start.
resource "aws_secretsmanager_secret" "source_api" {
  # checkov:skip=CKV2_AWS_57:The credential is issued by the third-party API; no rotation function can mint a new one. Rotate it there and put the new value.
  count = local.schema.auth_env == null ? 0 : 1

  name                    = "${var.name}/${local.schema.source}/api-credential"
  description             = "Credential of the ${local.schema.source} API (sent in the header its source definition names)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_days
}

# The value goes through a write-only argument: Terraform sends it to Secrets Manager and
# keeps it neither in the state nor in a saved plan. A new value is written when
# source_api_secret_version changes. Without one (version 0) put the value yourself:
#   aws secretsmanager put-secret-value --secret-id NAME --secret-string file://credential.txt
resource "aws_secretsmanager_secret_version" "source_api" {
  count = local.schema.auth_env != null && var.source_api_secret_version > 0 ? 1 : 0

  secret_id                = aws_secretsmanager_secret.source_api[0].id
  secret_string_wo         = var.source_api_secret
  secret_string_wo_version = var.source_api_secret_version

  lifecycle {
    precondition {
      condition     = var.source_api_secret != null
      error_message = "source_api_secret_version is set but source_api_secret is not: export TF_VAR_source_api_secret with the credential."
    }
  }
}
