"""infra/ through the real Terraform and AWS provider (issue 22): `fmt -check`, `init` from the
provider mirror and `validate`; then, for every delivery mode, `apply` of the whole root module
against an emulated account (moto), a second `plan` that must show no changes, and `destroy`,
after which the AWS APIs must show nothing of the deployment left.

Terraform and the provider mirror are required: a machine without them fails here, it does
not skip (DESIGN.md's stand-ins table says where they are). The emulator is moto_server with
the two AWS behaviours it lacks patched in (moto_aws.py); every resource of the module is
applied. The modes run side by side, each in an emulated account of its own (and under its
own `name`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
# FIRELAKE_TF_MODES="firehose" runs fewer (a quick local check); the test command runs all.
MODES = os.environ.get("FIRELAKE_TF_MODES", "firehose firehose_direct_put stream_consumer").split()
# Each mode's deployment name (resource names derive from it) and Glue database.
NAMES = {"firehose": "fl-fh", "firehose_direct_put": "fl-dp", "stream_consumer": "fl-sc"}
# The API credential of the source the firehose mode deploys: it must reach Secrets Manager
# and never the state or a plan file.
SECRET = "tf-test-credential-5f2c9a7e"
AUTH_ENV = "USERS_API_TOKEN"
SERVICES = ["cloudwatch", "ecr", "ecs", "events", "firehose", "glue", "iam", "kinesis", "kms",
            "lambda", "logs", "s3", "secretsmanager", "sfn", "sns", "sqs", "sts"]
BINARIES = ["producer", "firehose-transformer", "stream-consumer", "compactor", "sync-lambda"]

INIT_LOCK = threading.Lock()
# Filled by the tests, printed by conftest.py at the end of the run.
REPORT: dict[str, dict] = {}


# ---------------------------------------------------------------------------------------------
# Terraform and its provider mirror
# ---------------------------------------------------------------------------------------------


def terraform_binary() -> str:
    exe = shutil.which("terraform")
    if not exe:
        pytest.fail("terraform is not on PATH: install Terraform >= 1.11 (DESIGN.md, stand-ins table)")
    return exe


def provider_mirror() -> Path:
    """The filesystem mirror's root: the folder above registry.terraform.io that holds
    terraform-provider-aws_* (FIRELAKE_TF_MIRROR names it, or it is searched for under /)."""
    given = os.environ.get("FIRELAKE_TF_MIRROR")
    if given:
        found = list(Path(given).glob("registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_*"))
    else:
        out = subprocess.run(
            ["find", "/", "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path", "/dev", ")", "-prune",
             "-o", "-name", "terraform-provider-aws_*", "-path", "*/registry.terraform.io/*", "-print"],
            capture_output=True, text=True)
        found = [Path(p) for p in out.stdout.split()]
    if not found:
        pytest.fail("no terraform-provider-aws_* in a provider mirror (searched "
                    f"{given or '/'}): put the AWS provider in a filesystem mirror or set FIRELAKE_TF_MIRROR")
    p = found[0]
    while p.name != "registry.terraform.io":
        p = p.parent
    return p.parent


@pytest.fixture(scope="session")
def tf_env(tmp_path_factory) -> dict:
    terraform_binary()
    home = tmp_path_factory.mktemp("terraform")
    rc = home / "cli.tfrc"
    rc.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{provider_mirror()}"\n  }}\n'
        "}\n"
        f'plugin_cache_dir = "{home / "plugins"}"\n'
    )
    (home / "plugins").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE=str(rc), TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
    return env


def tf(env: dict, cwd: Path, *args: str, ok=(0,)) -> subprocess.CompletedProcess:
    p = subprocess.run([terraform_binary(), *args], cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode not in ok:
        pytest.fail(f"terraform {' '.join(args)} exited {p.returncode}:\n{p.stdout[-6000:]}\n{p.stderr[-6000:]}")
    return p


def copy_module(dest: Path) -> Path:
    shutil.copytree(INFRA, dest, ignore=shutil.ignore_patterns(
        ".terraform", ".terraform.lock.hcl", "tests", "*.tfstate*", "*_override.tf"))
    return dest


# ---------------------------------------------------------------------------------------------
# Formatting, initialisation from the mirror, validation
# ---------------------------------------------------------------------------------------------


def test_terraform_fmt_is_clean(tf_env):
    p = tf(tf_env, INFRA, "fmt", "-check", "-recursive", "-diff", "-no-color", ok=(0, 3))
    assert p.returncode == 0, f"`terraform fmt -recursive infra` would change:\n{p.stdout}"


def test_init_from_the_mirror_and_validate(tf_env, tmp_path):
    mod = copy_module(tmp_path / "infra")
    tf(tf_env, mod, "init", "-backend=false", "-no-color")
    version = json.loads(tf(tf_env, mod, "version", "-json").stdout)
    assert "registry.terraform.io/hashicorp/aws" in version["provider_selections"], version
    out = json.loads(tf(tf_env, mod, "validate", "-json").stdout)
    assert out["valid"], out
    # A deprecated attribute is a warning today and an error in the next major version.
    assert out["warning_count"] == 0, out["diagnostics"]


# ---------------------------------------------------------------------------------------------
# The emulated account
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def emulator(log: Path):
    """A moto_server of its own (moto_aws.py) on a free loopback port: its URL."""
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("moto_aws.py")),
                                 "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def client(endpoint: str, service: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def emulator_override(endpoint: str) -> str:
    endpoints = "\n".join(f'    {s:<14} = "{endpoint}"' for s in SERVICES)
    return f"""# Written by infra/tests/test_terraform.py: the provider talks to the emulated account.
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  # The account ID comes from the emulator's STS (resource ARNs the provider builds need it).
  skip_requesting_account_id = false
  s3_use_path_style          = true
  endpoints {{
{endpoints}
  }}
}}
"""


def placeholder_artifacts(root: Path) -> Path:
    """A small zip per binary where scripts/package-lambdas.sh puts the real ones."""
    for b in BINARIES:
        (root / b).mkdir(parents=True)
        with zipfile.ZipFile(root / b / "bootstrap.zip", "w") as z:
            z.writestr("bootstrap", f"#!/bin/sh\necho placeholder for {b}\nexit 1\n")
    return root


def emulated_module(env: dict, endpoint: str, root: Path) -> Path:
    """The module with the emulator's provider settings and a source whose definition names
    an API credential (so the secret and its write-only value are applied too)."""
    mod = copy_module(root / "infra")
    gen = mod / "generated/users.tf.json"
    doc = json.loads(gen.read_text())
    doc["output"]["users"]["value"]["auth_env"] = AUTH_ENV
    gen.write_text(json.dumps(doc, indent=2))
    (mod / "emulator_override.tf").write_text(emulator_override(endpoint))
    with INIT_LOCK:  # Terraform's plugin cache is not safe for concurrent installs
        p = subprocess.run([terraform_binary(), "init", "-backend=false", "-no-color"], cwd=mod, env=env,
                           capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"terraform init exited {p.returncode}:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return mod


# ---------------------------------------------------------------------------------------------
# What a deployment leaves in the account, read through the AWS APIs
# ---------------------------------------------------------------------------------------------


def inventory(endpoint: str, name: str, database: str) -> dict[str, list[str]]:
    """Everything of the deployment `name` that exists (deleted-but-listed states excluded:
    INACTIVE ECS clusters and task definitions, KMS keys pending deletion)."""
    c = lambda s: client(endpoint, s)  # noqa: E731
    pre = f"{name}-"
    out: dict[str, list[str]] = {
        "s3 buckets": [b["Name"] for b in c("s3").list_buckets()["Buckets"] if b["Name"].startswith(pre)],
        "iam roles": [r["RoleName"] for r in c("iam").list_roles()["Roles"] if r["RoleName"].startswith(pre)],
        "lambda functions": [f["FunctionName"] for f in c("lambda").list_functions()["Functions"]
                             if f["FunctionName"].startswith(pre)],
        "event source mappings": [m["UUID"] for m in c("lambda").list_event_source_mappings()["EventSourceMappings"]
                                  if f":function:{pre}" in m["FunctionArn"]],
        "kinesis streams": [s for s in c("kinesis").list_streams()["StreamNames"] if s.startswith(pre)],
        "firehose streams": [s for s in c("firehose").list_delivery_streams()["DeliveryStreamNames"]
                             if s.startswith(pre)],
        "glue databases": [d["Name"] for d in c("glue").get_databases()["DatabaseList"] if d["Name"] == database],
        "sqs queues": [u for u in c("sqs").list_queues().get("QueueUrls", []) if f"/{pre}" in u],
        "sns topics": [t["TopicArn"] for t in c("sns").list_topics()["Topics"] if f":{pre}" in t["TopicArn"]],
        "log groups": [g["logGroupName"] for g in c("logs").describe_log_groups()["logGroups"]
                       if f"/{pre}" in g["logGroupName"]],
        "alarms": [a["AlarmName"] for a in c("cloudwatch").describe_alarms()["MetricAlarms"]
                   if a["AlarmName"].startswith(pre)],
        "event rules": [r["Name"] for r in c("events").list_rules()["Rules"] if r["Name"].startswith(pre)],
        "kms aliases": [a["AliasName"] for a in c("kms").list_aliases()["Aliases"] if a["AliasName"] == f"alias/{name}"],
        "kms keys": [k["KeyId"] for k in c("kms").list_keys()["Keys"]
                     if (md := c("kms").describe_key(KeyId=k["KeyId"])["KeyMetadata"])["KeyState"] != "PendingDeletion"
                     and md.get("Description", "").startswith(f"{name}:")],
        "secrets": [s["Name"] for s in c("secretsmanager").list_secrets(IncludePlannedDeletion=True)["SecretList"]
                    if s["Name"].startswith(f"{name}/")],
        "ecr repositories": [r["repositoryName"] for r in c("ecr").describe_repositories()["repositories"]
                             if r["repositoryName"].startswith(pre)],
        "state machines": [m["name"] for m in c("stepfunctions").list_state_machines()["stateMachines"]
                           if m["name"].startswith(pre)],
        "ecs task definitions": [a for a in c("ecs").list_task_definitions(status="ACTIVE")["taskDefinitionArns"]
                                 if f":task-definition/{pre}" in a],
    }
    clusters = c("ecs").list_clusters()["clusterArns"]
    described = c("ecs").describe_clusters(clusters=clusters)["clusters"] if clusters else []
    out["ecs clusters"] = [x["clusterName"] for x in described
                           if x["clusterName"].startswith(pre) and x["status"] == "ACTIVE"]
    return {k: v for k, v in out.items() if v}


# ---------------------------------------------------------------------------------------------
# apply, plan with no changes, destroy: each mode in its own thread
# ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    mode: str
    name: str
    database: str
    error: str | None = None
    before: dict = field(default_factory=dict)
    resources: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    plan_text: str = ""
    plan_changes: list[dict] = field(default_factory=list)
    secret_in_state: bool | None = None
    secret_in_plan: bool | None = None
    secret_value: str | None = None
    applied: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    left: dict = field(default_factory=dict)


def terraform_cycle(run: Run, env: dict, work: Path) -> None:
    """In an emulated account of its own: apply -> plan (detailed exit code) -> destroy,
    recording what the tests check."""
    with emulator(work / "moto.log") as endpoint:
        mod = emulated_module(env, endpoint, work)
        artifacts = placeholder_artifacts(work / "artifacts")
        cycle_in(run, env, mod, artifacts, endpoint, work)


def cycle_in(run: Run, env: dict, mod: Path, artifacts: Path, endpoint: str, work: Path) -> None:
    state, planfile = work / "terraform.tfstate", work / "second.tfplan"
    variables = ["-var", f"delivery={run.mode}", "-var", f"name={run.name}", "-var", f"glue_database={run.database}",
                 "-var", f"artifacts_dir={artifacts}", "-var", "force_destroy_buckets=true",
                 "-var", "secret_recovery_days=0", "-var", "source_api_secret_version=1"]
    secret = {"TF_VAR_source_api_secret": SECRET}

    def step(label: str, *args: str, ok=(0,)) -> subprocess.CompletedProcess:
        t0 = time.monotonic()
        p = subprocess.run([terraform_binary(), *args, "-no-color", f"-state={state}", *variables],
                           cwd=mod, env={**env, **secret}, capture_output=True, text=True)
        run.seconds[label] = round(time.monotonic() - t0, 1)
        if p.returncode not in ok:
            raise RuntimeError(f"terraform {label} exited {p.returncode}:\n{p.stdout[-8000:]}\n{p.stderr[-8000:]}")
        return p

    run.before = inventory(endpoint, run.name, run.database)
    try:
        step("apply", "apply", "-auto-approve")
        listed = subprocess.run([terraform_binary(), "state", "list", f"-state={state}"], cwd=mod, env=env,
                                capture_output=True, text=True, check=True).stdout.split()
        run.resources = [r for r in listed if not (r.startswith("data.") or ".data." in r)]
        run.secret_in_state = SECRET in state.read_text()
        run.secret_value = client(endpoint, "secretsmanager").get_secret_value(
                SecretId=f"{run.name}/users/api-credential")["SecretString"]
        run.applied = inventory(endpoint, run.name, run.database)
        if run.mode == "stream_consumer":
            run.details = failure_path(endpoint, run.name)
        p = step("plan", "plan", "-detailed-exitcode", f"-out={planfile}", ok=(0, 2))
        run.plan_text = p.stdout
        shown = subprocess.run([terraform_binary(), "show", "-json", str(planfile)], cwd=mod, env=env,
                               capture_output=True, text=True, check=True).stdout
        run.plan_changes = [{"address": c["address"], "actions": c["change"]["actions"]}
                            for c in json.loads(shown).get("resource_changes", [])
                            if c["change"]["actions"] not in (["no-op"], ["read"])]
        run.secret_in_plan = SECRET.encode() in b"".join(
            zipfile.ZipFile(planfile).read(n) for n in zipfile.ZipFile(planfile).namelist())
    finally:
        step("destroy", "destroy", "-auto-approve")
        run.left = inventory(endpoint, run.name, run.database)


def failure_path(endpoint: str, name: str) -> dict:
    """Where the stream-consumer's event source mapping sends the batches it gives up on, and
    the alarm on that queue."""
    (esm,) = [m for m in client(endpoint, "lambda").list_event_source_mappings()["EventSourceMappings"]
              if f":function:{name}-stream-consumer" in m["FunctionArn"]]
    (alarm,) = client(endpoint, "cloudwatch").describe_alarms(
        AlarmNames=[f"{name}-stream-consumer-failed-batches"])["MetricAlarms"]
    return {"on_failure": esm["DestinationConfig"]["OnFailure"]["Destination"], "alarm": alarm}


@pytest.fixture(scope="module")
def cycles(tf_env, tmp_path_factory) -> dict[str, Run]:
    """Every mode's cycle, side by side (each in its own emulated account)."""
    runs = {m: Run(m, NAMES[m], NAMES[m].replace("-", "_")) for m in MODES}

    def work(run: Run):
        try:
            terraform_cycle(run, tf_env, tmp_path_factory.mktemp(run.mode))
        except Exception as e:  # reported by the mode's test
            run.error = f"{type(e).__name__}: {e}"

    threads = [threading.Thread(target=work, args=(r,)) for r in runs.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in runs.values():
        REPORT[r.mode] = {"resources": len(r.resources), **r.seconds}
    return runs


@pytest.mark.parametrize("mode", MODES)
def test_apply_plan_no_changes_destroy_against_the_emulator(cycles, mode):
    run = cycles[mode]
    assert run.before == {}, f"{mode}: the account held the deployment before apply: {run.before}"
    assert run.error is None, run.error
    # Everything the module declares for this mode was applied.
    expected = {"lambda functions", "iam roles", "s3 buckets", "glue databases", "sqs queues", "sns topics",
                "log groups", "alarms", "event rules", "kms aliases", "kms keys", "ecr repositories",
                "ecs task definitions", "ecs clusters", "secrets", "state machines"}
    expected |= {"kinesis streams"} if mode != "firehose_direct_put" else set()
    expected |= {"firehose streams"} if mode != "stream_consumer" else {"event source mappings"}
    assert set(run.applied) == expected, run.applied
    assert run.plan_changes == [], (
        f"{mode}: the plan right after apply wants changes (a perpetual diff every user would see):\n"
        f"{run.plan_changes}\n{run.plan_text[-8000:]}")
    assert run.left == {}, f"{mode}: destroy left these behind: {run.left}"


@pytest.mark.parametrize("mode", MODES)
def test_the_api_secret_reaches_secrets_manager_but_never_the_state_or_a_plan(cycles, mode):
    run = cycles[mode]
    assert run.error is None, run.error
    assert run.secret_value == SECRET
    assert run.secret_in_state is False, "the API credential is in the Terraform state"
    assert run.secret_in_plan is False, "the API credential is in a saved plan file"


def test_failed_batches_go_to_their_queue_whose_alarm_says_how_to_redrive(cycles):
    run = cycles["stream_consumer"]
    assert run.error is None, run.error
    queue = "fl-sc-stream-consumer-failures"
    assert run.details["on_failure"] == f"arn:aws:sqs:us-east-1:123456789012:{queue}"
    alarm = run.details["alarm"]
    assert alarm["Namespace"] == "AWS/SQS" and alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": queue}]
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
    assert (f"firelake consume --from kinesis://fl-sc-users --redrive sqs://{queue} --source users "
            "--lake s3://fl-sc-lake-123456789012-us-east-1 --catalog glue://fl_sc") in alarm["AlarmDescription"]


def plan_sync(tf_env: dict, work: Path, *extra: str, fails=False) -> dict | str:
    """`terraform plan` in an emulated account with `extra` variables: address -> planned values
    (with `fails`: the failed plan's error output)."""
    work.mkdir()
    with emulator(work / "moto.log") as endpoint:
        mod = emulated_module(tf_env, endpoint, work)
        artifacts = placeholder_artifacts(work / "artifacts")
        planfile = work / "sync.tfplan"
        variables = ["-var", f"artifacts_dir={artifacts}", "-var", "name=fl-sync", "-var", "source_api_secret_version=1",
                     "-var", "postgres_vpc_id=vpc-0123456789abcdef0", "-var", 'postgres_subnet_ids=["subnet-a","subnet-b"]',
                     "-var", 'postgres_sync_tables=["users_curated"]', *extra]
        p = subprocess.run([terraform_binary(), "plan", "-no-color", f"-out={planfile}", *variables], cwd=mod,
                           env={**tf_env, "TF_VAR_source_api_secret": SECRET}, capture_output=True, text=True)
        if fails:
            assert p.returncode != 0, p.stdout[-6000:]
            return p.stderr
        assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-6000:]
        shown = json.loads(subprocess.run([terraform_binary(), "show", "-json", str(planfile)], cwd=mod, env=tf_env,
                                          capture_output=True, text=True, check=True).stdout)
    return {c["address"]: c["change"]["after"] for c in shown["resource_changes"]}


def test_a_plan_with_the_rds_target_and_the_nightly_sync_task(tf_env, tmp_path):
    """Issue 23: with postgres_create_rds, a private, encrypted RDS PostgreSQL with IAM auth and
    TLS forced, reachable from the sync task's security group only; with your own endpoint,
    the sync task on the compactor's image, `firelake sync` its entry point. The port of the
    rules follows the target's: postgres_port for the instance, the URL's for your own."""
    planned = plan_sync(tf_env, tmp_path / "rds", "-var", "postgres_create_rds=true", "-var", "postgres_port=6432")
    db = planned["aws_db_instance.postgres[0]"]
    assert (db["engine"], db["storage_encrypted"], db["publicly_accessible"]) == ("postgres", True, False)
    assert db["iam_database_authentication_enabled"] and db["manage_master_user_password"]
    params = {x["name"]: x["value"] for x in planned["aws_db_parameter_group.postgres[0]"]["parameter"]}
    assert params["rds.force_ssl"] == "1"
    rule = planned["aws_vpc_security_group_ingress_rule.postgres_from_sync[0]"]
    assert (rule["from_port"], rule["to_port"], db["port"]) == (6432, 6432, 6432)
    egress = planned["aws_vpc_security_group_egress_rule.sync_task_to_rds[0]"]
    assert (egress["from_port"], egress["to_port"]) == (6432, 6432)
    assert {"aws_vpc_security_group_egress_rule.sync_task_to_rds[0]", "aws_ecs_task_definition.sync[0]"} <= set(planned)

    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pg-AbCdEf"
    planned = plan_sync(tf_env, tmp_path / "own", "-var", "compactor_image=example/firelake:1",
                        "-var", "postgres_url=postgres://loader@db.example:6543/lake?sslmode=verify-full",
                        "-var", f"postgres_password_secret_arn={secret}", "-var", 'postgres_target_cidr_blocks=["10.1.0.0/16"]')
    assert not any(a.startswith("aws_db_instance.") for a in planned)
    (container,) = json.loads(planned["aws_ecs_task_definition.sync[0]"]["container_definitions"])
    assert container["image"] == "example/firelake:1"
    assert container["entryPoint"] == ["/usr/local/bin/firelake", "sync"]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["FIRELAKE_PG_CA_FILE"] == "/etc/ssl/rds/global-bundle.pem"
    assert env["FIRELAKE_PG_PASSWORD_SECRET"] == secret and env["FIRELAKE_SOURCE"] == "users"
    assert env["FIRELAKE_PG_URL"].startswith("postgres://loader@db.example:6543/")
    egress = planned['aws_vpc_security_group_egress_rule.sync_task_to_target["10.1.0.0/16"]']
    assert (egress["from_port"], egress["to_port"], egress["cidr_ipv4"]) == (6543, 6543, "10.1.0.0/16")


def test_a_plan_with_the_sync_on_lambda_in_the_vpc(tf_env, tmp_path):
    """Issue 23 point 4: postgres_sync_runner = "lambda" plans the sync-lambda function in the
    target's subnets with the sync security group (HTTPS out, the instance's port to the
    instance only), its VPC access and no ECS sync task; any other runner is refused."""
    planned = plan_sync(tf_env, tmp_path / "lambda", "-var", "postgres_create_rds=true", "-var", "postgres_port=6432",
                        "-var", "postgres_sync_runner=lambda")
    fn = planned["module.sync_lambda[0].aws_lambda_function.this"]
    assert fn["function_name"] == "fl-sync-postgres-sync" and fn["tags"] == {"Binary": "sync-lambda"}
    assert fn["timeout"] == 900 and fn["reserved_concurrent_executions"] == 1
    (vpc,) = fn["vpc_config"]
    assert vpc["subnet_ids"] == ["subnet-a", "subnet-b"]
    # Its environment (the instance's address is known after apply) is held to the binary's
    # env twins by test_infra.py.
    attached = planned["module.sync_lambda[0].aws_iam_role_policy_attachment.vpc[0]"]
    assert attached["policy_arn"] == "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
    egress = {a: planned[a] for a in planned if a.startswith("aws_vpc_security_group_egress_rule.sync_task")}
    assert {(e["from_port"], e["to_port"]) for e in egress.values()} == {(443, 443), (6432, 6432)}
    assert egress["aws_vpc_security_group_egress_rule.sync_task_https[0]"]["cidr_ipv4"] == "0.0.0.0/0"
    rule = planned["aws_vpc_security_group_ingress_rule.postgres_from_sync[0]"]
    assert (rule["from_port"], rule["to_port"]) == (6432, 6432)
    assert not any(a.startswith(("aws_ecs_task_definition.sync", "aws_iam_role.sync_task")) for a in planned)
    assert "module.sync_lambda[0].aws_cloudwatch_log_group.this" in planned

    err = plan_sync(tf_env, tmp_path / "bad", "-var", "postgres_url=postgres://loader@db.example/lake",
                    "-var", "postgres_sync_runner=fargate", fails=True)
    assert 'postgres_sync_runner: "container" or "lambda"' in err, err
