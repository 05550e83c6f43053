"""Writes tests/msk_iam_vector.txt: an MSK IAM auth token made by AWS's own Python signer
(aws-msk-iam-sasl-signer-python 1.0.2, on botocore) with fixed example credentials at
2024-01-01T00:00:00Z, the reference aws/src/msk_iam.rs's signer is held to.

    python -m venv /tmp/v && /tmp/v/bin/pip install aws-msk-iam-sasl-signer-python==1.0.2
    /tmp/v/bin/python tests/msk_iam_vector.py > tests/msk_iam_vector.txt
"""
import datetime

import botocore.auth
from botocore.credentials import Credentials
from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

botocore.auth.get_current_datetime = lambda *a, **k: datetime.datetime(2024, 1, 1, 0, 0, 0)
creds = Credentials(
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example/+="
)
token, expiry_ms = getattr(MSKAuthTokenProvider, "__construct_auth_token")("us-east-1", creds)
assert expiry_ms == (1704067200 + 900) * 1000, expiry_ms
print(token)
