"""Writes tests/rds_iam_vector.txt: an RDS IAM auth token made by botocore's own
generate_db_auth_token (the function AWS's docs and the CLI's `aws rds generate-db-auth-token`
use) with fixed example credentials at 2024-01-01T00:00:00Z, the reference
aws/src/rds_iam.rs's signer is held to.

    /work/main/.venv/bin/python tests/rds_iam_vector.py > tests/rds_iam_vector.txt
"""
import datetime

import botocore.auth
import botocore.session

botocore.auth.get_current_datetime = lambda *a, **k: datetime.datetime(2024, 1, 1, 0, 0, 0)
session = botocore.session.Session()
session.set_credentials(
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example/+="
)
rds = session.create_client("rds", region_name="eu-west-1")
print(rds.generate_db_auth_token("db.abc123.eu-west-1.rds.amazonaws.com", 5432, "firelake_sync"))
