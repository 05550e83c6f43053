"""moto_server with the AWS behaviour `terraform plan` relies on that moto 5.2.5 lacks.

Run as `python moto_aws.py -H 127.0.0.1 -p PORT` (the arguments of moto_server). Each patch
below makes moto return what AWS's API reference says AWS returns; without them a plan right
after an apply shows changes that AWS would not show (and, through the policy documents that
name those resources, changes to half the roles). The module under test is not touched.

1. Lambda CreateFunction/UpdateFunctionConfiguration: moto drops DeadLetterConfig and
   LoggingConfig, and GetFunction returns neither. AWS returns both in FunctionConfiguration
   (LoggingConfig defaults to LogFormat Text and the log group /aws/lambda/<name>).
   https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration.html
2. Kinesis CreateStream: moto ignores its Tags parameter; AWS applies them (ListTagsForStream
   returns them). https://docs.aws.amazon.com/kinesis/latest/APIReference/API_CreateStream.html
3. Step Functions ValidateStateMachineDefinition (the provider calls it before creating or
   updating a state machine) and ListStateMachineVersions (it reads versions back): moto
   implements neither (a 500 the provider retries for minutes). Answered as AWS answers for a
   valid definition ({"result": "OK"}; the definition itself is validated by asl-validator in
   test_workflow.py) and for a state machine that never published a version (none).
   https://docs.aws.amazon.com/step-functions/latest/apireference/API_ValidateStateMachineDefinition.html
   https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListStateMachineVersions.html

Each patch checks that the moto internals it wraps are there, so a moto upgrade that changes
them fails here, loudly, instead of patching nothing.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from moto.awslambda import models as lambda_models
from moto.kinesis import responses as kinesis_responses
from moto.stepfunctions import responses as sfn_responses
from moto.server import main


def _patch_lambda() -> None:
    fn = lambda_models.LambdaFunction
    for name in ("__init__", "get_configuration", "update_configuration"):
        assert hasattr(fn, name), f"moto's LambdaFunction has no {name}: revisit moto_aws.py"
    init, get_configuration, update_configuration = fn.__init__, fn.get_configuration, fn.update_configuration

    def default_logging(self) -> dict[str, Any]:
        return {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.function_name}"}

    def patched_init(self, account_id, spec, region, version=1):
        init(self, account_id, spec, region, version)
        self.dead_letter_config = spec.get("DeadLetterConfig")
        self.logging_config = {**default_logging(self), **(spec.get("LoggingConfig") or {})}

    def patched_get_configuration(self, on_create: bool = False) -> dict[str, Any]:
        config = get_configuration(self, on_create)
        if getattr(self, "dead_letter_config", None):
            config["DeadLetterConfig"] = self.dead_letter_config
        config["LoggingConfig"] = getattr(self, "logging_config", None) or default_logging(self)
        return config

    def patched_update_configuration(self, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_config = config_updates["DeadLetterConfig"] or None
        if "LoggingConfig" in config_updates:
            self.logging_config = {**default_logging(self), **(config_updates["LoggingConfig"] or {})}
        return update_configuration(self, config_updates)

    fn.__init__ = patched_init
    fn.get_configuration = patched_get_configuration
    fn.update_configuration = patched_update_configuration


def _patch_kinesis() -> None:
    resp = kinesis_responses.KinesisResponse
    assert hasattr(resp, "create_stream"), "moto's KinesisResponse has no create_stream: revisit moto_aws.py"
    create_stream = resp.create_stream

    def patched_create_stream(self):
        result = create_stream(self)
        tags = self._get_param("Tags")
        if tags:
            self.kinesis_backend.add_tags_to_stream(None, self._get_param("StreamName"), tags)
        return result

    resp.create_stream = patched_create_stream


def _patch_stepfunctions() -> None:
    resp = sfn_responses.StepFunctionResponse
    for name in ("validate_state_machine_definition", "list_state_machine_versions"):
        assert not hasattr(resp, name), f"moto implements {name} now: drop its patch in moto_aws.py"

    def validate_state_machine_definition(self):
        return json.dumps({"result": "OK", "diagnostics": [], "truncated": False})

    def list_state_machine_versions(self):
        return json.dumps({"stateMachineVersions": []})

    resp.validate_state_machine_definition = validate_state_machine_definition
    resp.list_state_machine_versions = list_state_machine_versions


if __name__ == "__main__":
    _patch_lambda()
    _patch_kinesis()
    _patch_stepfunctions()
    sys.exit(main(sys.argv[1:]))
