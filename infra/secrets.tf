# The source API's credential, for a source whose definition names `auth_env`: the producer
# Lambda gets `<auth_env>=secretsmanager://<name>` and reads the value at start.
resource "aws_secretsmanager_secret" "source_api" {
  # checkov:skip=CKV2_AWS_57:The credential is issued by the third-party API; no rotation function can mint a new one. Rotate it there and put the new value.
  count = local.schema.auth_env == null ? 0 : 1

  name                    = "${var.name}/${local.schema.source}/api-credential"
  description             = "Credential of the ${local.schema.source} API (sent in the header its source definition names)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "source_api" {
  count = local.schema.auth_env != null && nonsensitive(var.source_api_secret != null) ? 1 : 0

  secret_id     = aws_secretsmanager_secret.source_api[0].id
  secret_string = var.source_api_secret
}
