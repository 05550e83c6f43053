terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
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
