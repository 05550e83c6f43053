terraform {
  # 1.11: write-only arguments (the source API secret never lands in state or plan files).
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.100 and every 6.x: the code uses nothing only one of them has (infra/tests
      # validates and applies it with 5.100; see docs/deploying.md).
      version = ">= 5.100, < 7.0"
    }
  }
}

provider "aws" {
  # null: the region of the environment (AWS_REGION, the profile).
  region = var.region

  default_tags {
    tags = merge({ Project = "firelake", Deployment = var.name }, var.tags)
  }
}
