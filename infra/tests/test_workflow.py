"""The nightly workflow (issue 22, point 4): infra/workflow.asl.json as infra/workflow.tf
renders it, validated as Amazon States Language by asl-validator (npm), and its logic run
locally: `LocalMachine` walks the definition state by state (Pass, Task with Retry and Catch,
Choice, Map, Fail, Succeed) and runs each Task with the real `firelake` CLI, as the deployed
Lambda and container would (`compact --list-days`, `compact --date D`, the container's
FIRELAKE_DATE override); notifications are recorded. Also: the "partition complete" event a
committed day puts on EventBridge, received from moto through a rule with an SQS target."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_terraform import emulator  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
TEMPLATE = INFRA / "workflow.asl.json"
COMPACTOR = "arn:aws:lambda:us-east-1:123456789012:function:fl-compactor"
TOPIC = "arn:aws:sns:us-east-1:123456789012:fl-alarms"
SYNC = ["users_curated", "users"]
SYNC_TASK = "arn:aws:ecs:us-east-1:123456789012:task-definition/fl-postgres-sync:1"
SYNC_FN = "arn:aws:lambda:us-east-1:123456789012:function:fl-postgres-sync"
TRANSFORM = "arn:aws:ecs:us-east-1:123456789012:task-definition/fl-transform:1"


# ---------------------------------------------------------------------------------------------
# Rendering, as infra/workflow.tf's templatefile() does
# ---------------------------------------------------------------------------------------------


def template_variables_in_workflow_tf() -> set[str]:
    tf = (INFRA / "workflow.tf").read_text()
    m = re.search(r'templatefile\("\$\{path\.module\}/workflow\.asl\.json", \{(.*?)\n  \}\)', tf, re.S)
    assert m, "workflow.tf renders workflow.asl.json with templatefile()"
    return set(re.findall(r"^\s*(\w+)\s*=", m.group(1), re.M))


def variables(max_day_bytes=4096 << 20, sync=None, transform=None, runner="container",
              max_invocations=40) -> dict[str, str]:
    """The values workflow.tf passes, for a deployment in account 123456789012."""
    return {
        "partition": "aws",
        "compactor_function_arn": COMPACTOR,
        "cluster_arn": "arn:aws:ecs:us-east-1:123456789012:cluster/fl-compactor",
        "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/fl-compactor:1",
        "subnets_json": json.dumps(["subnet-1"]),
        "security_groups_json": json.dumps(["sg-1"]),
        "alarm_topic_arn": TOPIC,
        "max_concurrency": "4",
        "lambda_max_day_bytes": str(max_day_bytes),
        "postgres_sync_json": json.dumps(bool(sync)),
        "postgres_sync_tables_json": json.dumps(sync or []),
        "sync_task_definition_arn": SYNC_TASK if sync else "not-configured",
        "sync_subnets_json": json.dumps(["subnet-db"]),
        "sync_security_groups_json": json.dumps(["sg-sync"]),
        "postgres_sync_runner": runner,
        "sync_function_arn": SYNC_FN if sync and runner == "lambda" else "not-configured",
        "sync_lambda_max_invocations": str(max_invocations),
        "transform_json": json.dumps(transform is not None),
        "transform_task_definition_arn": transform or "not-configured",
    }


def render(values: dict[str, str]) -> dict:
    text = TEMPLATE.read_text()
    assert "%{" not in text, "the template uses ${name} interpolations only (this renderer's subset)"
    return json.loads(re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text))


def test_the_template_takes_exactly_what_workflow_tf_passes():
    used = set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))
    assert used == template_variables_in_workflow_tf() == set(variables())


@pytest.fixture(scope="session")
def asl_validator() -> str:
    exe = os.environ.get("ASL_VALIDATOR")
    if not exe:
        exe = subprocess.run(["bash", str(Path(__file__).with_name("install_asl_validator.sh"))],
                             capture_output=True, text=True, check=True).stdout.strip()
    return exe


@pytest.mark.parametrize("steps", ["compaction only", "with the steps after compaction", "with the sync on lambda"])
def test_the_definition_is_valid_states_language(asl_validator, tmp_path, steps):
    values = {"compaction only": variables(),
              "with the steps after compaction": variables(sync=SYNC, transform=TRANSFORM),
              "with the sync on lambda": variables(sync=SYNC, transform=TRANSFORM, runner="lambda")}[steps]
    path = tmp_path / "nightly.asl.json"
    path.write_text(json.dumps(render(values)))
    p = subprocess.run([asl_validator, "--json-path", str(path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_asl_validator_catches_a_broken_definition(asl_validator, tmp_path):
    d = render(variables())
    d["States"]["ListDays"]["Next"] = "NoSuchState"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(d))
    p = subprocess.run([asl_validator, "--json-path", str(path)], capture_output=True, text=True)
    assert p.returncode != 0 and "NoSuchState" in p.stdout + p.stderr


def all_states(d: dict):
    for name, s in d["States"].items():
        yield name, s
        if s["Type"] == "Map":
            yield from all_states(s["ItemProcessor"])


def test_tasks_retry_with_backoff_and_every_failure_reaches_the_alarm_topic():
    d = render(variables())
    states = dict(all_states(d))
    # A Map's task without a Catch of its own fails the Map, which catches it.
    enclosing = {n: m for m, s in states.items() if s["Type"] == "Map" for n in s["ItemProcessor"]["States"]}
    for name, s in states.items():
        if s["Type"] != "Task":
            continue
        backoff = [r for r in s.get("Retry", []) if r.get("MaxAttempts", 3) > 0]
        assert backoff and all(r["BackoffRate"] >= 2 for r in backoff), name
        if s["Resource"].endswith(":sns:publish"):
            assert s["Parameters"]["TopicArn"] == TOPIC
            continue
        # Whatever fails ends in a notification naming the step (and the day, within the Map).
        catch = s.get("Catch") or states[enclosing[name]]["Catch"]
        (last,) = [c for c in catch if "States.ALL" in c["ErrorEquals"]]
        failed = states[last["Next"]]
        assert failed["Parameters"]["step"] and "day" in failed["Parameters"] or "day.$" in failed["Parameters"]
        assert states[failed["Next"]]["Resource"].endswith(":sns:publish")
    assert d["States"]["CompactDays"]["MaxConcurrency"] == 4
    # A Lambda that ran out of time or memory hands its day to the container, never retried.
    lam = states["CompactOnLambda"]
    (to_container,) = [c for c in lam["Catch"] if c["Next"] == "CompactOnContainer"]
    assert {"Sandbox.Timedout", "Runtime.OutOfMemory", "States.Timeout"} <= set(to_container["ErrorEquals"])
    assert lam["Retry"][0]["ErrorEquals"] == to_container["ErrorEquals"] and lam["Retry"][0]["MaxAttempts"] == 0


# ---------------------------------------------------------------------------------------------
# The local machine
# ---------------------------------------------------------------------------------------------


class StatesError(Exception):
    def __init__(self, error: str, cause: str):
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


def get_path(data, path: str):
    assert path == "$" or path.startswith("$."), path
    for part in path[2:].split(".") if path != "$" else []:
        data = data[part]
    return data


def set_path(data, path, value):
    if path is None:
        return data
    if path == "$":
        return value
    out = json.loads(json.dumps(data))
    node = out
    *parents, last = path[2:].split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return out


def evaluate(template, data, context=None):
    """Parameters / ResultSelector / ItemSelector: "key.$" fields are paths ("$$." ones in the
    context object), States.JsonToString(path) or States.MathAdd(path, n)."""
    if isinstance(template, list):
        return [evaluate(t, data, context) for t in template]
    if not isinstance(template, dict):
        return template
    out = {}
    for k, v in template.items():
        if k.endswith(".$"):
            m = re.fullmatch(r"States\.JsonToString\((\$[\w.]*)\)", v)
            add = re.fullmatch(r"States\.MathAdd\((\$[\w.]*), *(-?\d+)\)", v)
            if m:
                out[k[:-2]] = json.dumps(get_path(data, m.group(1)), separators=(",", ":"))
            elif add:
                out[k[:-2]] = get_path(data, add.group(1)) + int(add.group(2))
            elif v.startswith("$$."):
                out[k[:-2]] = get_path(context, v[1:])
            else:
                out[k[:-2]] = get_path(data, v)
        else:
            out[k] = evaluate(v, data, context)
    return out


def matches(error: str, names: list[str]) -> bool:
    return error in names or "States.ALL" in names or ("States.TaskFailed" in names and error != "States.Timeout")


class LocalMachine:
    """Walks a state machine; `task(resource, parameters)` runs a Task (or raises StatesError)."""

    def __init__(self, definition: dict, task):
        self.definition, self.task = definition, task
        self.trace: list[str] = []
        self.attempts: dict[str, int] = {}

    def run(self, data=None):
        return self._run(self.definition, {} if data is None else data, "")

    def _run(self, machine: dict, data, scope: str):
        name = machine["StartAt"]
        while True:
            s = machine["States"][name]
            self.trace.append(scope + name)
            t = s["Type"]
            if t == "Fail":
                raise StatesError(s["Error"], s["Cause"])
            if t == "Succeed":
                return data
            if t == "Choice":
                name = next((c["Next"] for c in s["Choices"] if self._choice(c, data)), s["Default"])
                continue
            if t == "Pass":
                result = evaluate(s["Parameters"], data) if "Parameters" in s else s.get("Result", data)
                data = set_path(data, s.get("ResultPath", "$"), result)
            else:
                data, caught = (self._map if t == "Map" else self._task)(s, data, scope + name)
                if caught:
                    name = caught
                    continue
            if s.get("End"):
                return data
            name = s["Next"]

    @staticmethod
    def _choice(c: dict, data) -> bool:
        v = get_path(data, c["Variable"])
        if "NumericGreaterThan" in c:
            return v > c["NumericGreaterThan"]
        if "NumericGreaterThanEquals" in c:
            return v >= c["NumericGreaterThanEquals"]
        if "StringEquals" in c:
            return v == c["StringEquals"]
        if "BooleanEquals" in c:
            return v is c["BooleanEquals"]
        raise AssertionError(f"comparison not implemented here: {c}")

    def _caught(self, s: dict, data, e: StatesError):
        for c in s.get("Catch", []):
            if matches(e.error, c["ErrorEquals"]):
                return set_path(data, c.get("ResultPath", "$"), {"Error": e.error, "Cause": e.cause}), c["Next"]
        raise e

    def _task(self, s: dict, data, where: str):
        params = evaluate(s.get("Parameters", {}), data)
        tries = [0] * len(s.get("Retry", []))
        while True:
            try:
                result = self.task(s["Resource"], params)
                break
            except StatesError as e:
                i = next((i for i, r in enumerate(s.get("Retry", [])) if matches(e.error, r["ErrorEquals"])), None)
                if i is not None and tries[i] < s["Retry"][i].get("MaxAttempts", 3):
                    tries[i] += 1
                    self.attempts[where] = self.attempts.get(where, 1) + 1
                    continue
                return self._caught(s, data, e)
        if "ResultSelector" in s:
            result = evaluate(s["ResultSelector"], result)
        return set_path(data, s.get("ResultPath", "$"), result), None

    def _map(self, s: dict, data, where: str):
        try:
            for i, item in enumerate(get_path(data, s["ItemsPath"])):
                label = item["day"] if isinstance(item, dict) else item
                if "ItemSelector" in s:
                    item = evaluate(s["ItemSelector"], data, {"Map": {"Item": {"Value": item, "Index": i}}})
                self._run(s["ItemProcessor"], item, f"{where}[{label}].")
        except StatesError as e:
            return self._caught(s, data, e)
        return set_path(data, s.get("ResultPath", "$"), None), None


# ---------------------------------------------------------------------------------------------
# Tasks run by the real CLI on a local lake
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def firelake() -> Path:
    exe = Path(os.environ.get("FIRELAKE_BIN", REPO / "target/debug/firelake"))
    if "FIRELAKE_BIN" not in os.environ:
        subprocess.run(["cargo", "build", "--locked", "-p", "firelake", "--bin", "firelake"],
                       cwd=REPO, check=True, capture_output=True)
    return exe


class Deployment:
    """What the workflow's Tasks reach, on a local lake: the compactor (as `firelake compact`,
    Lambda and container alike) and the alarm topic (its messages recorded)."""

    def __init__(self, firelake: Path, lake: Path):
        self.firelake, self.lake = firelake, lake
        self.published: list[dict] = []
        self.commands: list[list[str]] = []
        self.synced: list[str] = []
        # The sync function's answers, in order (stand-ins: tests/sync.rs runs the real
        # sync-lambda against PostgreSQL until it answers done).
        self.sync_answers: list[bool] = []
        self.sync_invocations: list[dict] = []

    def cli(self, args: list[str], env: dict | None = None) -> dict:
        cmd = [str(self.firelake), "compact", "--lake", str(self.lake), *args]
        self.commands.append(args + [f"{k}={v}" for k, v in (env or {}).items()])
        p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
        if p.returncode != 0:
            raise StatesError("States.TaskFailed", (p.stderr.strip().splitlines() or ["no output"])[-1])
        return json.loads(p.stdout)

    def task(self, resource: str, params: dict):
        if resource == "arn:aws:states:::lambda:invoke":
            if params["FunctionName"] == SYNC_FN:
                self.sync_invocations.append(params["Payload"])
                return {"Payload": {"table": params["Payload"]["table"], "done": self.sync_answers.pop(0),
                                    "days_synced": 1, "days_partial": 0, "rows": 10}}
            if params["FunctionName"] != COMPACTOR:
                raise StatesError("Lambda.ResourceNotFoundException", params["FunctionName"])
            payload = params["Payload"]
            if payload == {"action": "list_days"}:
                return {"Payload": self.cli(["--list-days"])}
            assert payload["action"] == "compact", payload
            return {"Payload": self.cli(["--date", payload["day"], "--json"])}
        if resource == "arn:aws:states:::ecs:runTask.sync":
            (container,) = params["Overrides"]["ContainerOverrides"]
            if container["Name"] == "sync":
                # The sync task (sync_task.tf): `firelake sync` of the table, its days chosen by
                # the database's state (tests/sync.rs runs it against a real PostgreSQL).
                assert params["TaskDefinition"] == SYNC_TASK
                assert params["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"] == ["sg-sync"]
                (env,) = container["Environment"]
                self.synced.append(env["Value"])
                return {}
            assert container["Name"] == "compactor"
            env = {e["Name"]: e["Value"] for e in container["Environment"]}
            return self.cli(["--json"], env)  # the container's day comes in FIRELAKE_DATE
        if resource == "arn:aws:states:::sns:publish":
            assert params["TopicArn"] == TOPIC
            self.published.append({"subject": params["Subject"], **json.loads(params["Message"])})
            return {"MessageId": str(len(self.published))}
        raise AssertionError(f"no local stand-in for {resource}")


def lake_with_days(firelake: Path, work: Path, days: list[str]) -> Path:
    """A lake whose raw table has `days` (the sample run's day, copied under each name)."""
    subprocess.run([str(firelake), "run", "--records", "1500", "--seed", "7"], cwd=work, check=True,
                   capture_output=True)
    raw = work / "lake/users"
    (made,) = [p for p in raw.iterdir() if p.name.startswith("p_date=")]
    for d in days:
        shutil.copytree(made, raw / f"p_date={d}")
    shutil.rmtree(made)
    return work / "lake"


def past_days(n: int) -> list[str]:
    today = date.today()
    return [(today - timedelta(days=i)).isoformat() for i in range(n, 0, -1)]


def curated_days(lake: Path) -> list[str]:
    cat = json.loads((lake / "_catalog/firelake.json").read_text())
    return sorted(cat["Tables"]["users_curated"]["Partitions"])


def test_the_nightly_order_runs_locally(firelake, tmp_path):
    days = past_days(2)
    lake = lake_with_days(firelake, tmp_path, days)
    dep = Deployment(firelake, lake)
    machine = LocalMachine(render(variables()), dep.task)
    out = machine.run()
    route = ["Route", "CompactOnLambda"]
    assert [t for t in machine.trace if "[" not in t] == [
        "Settings", "ListDays", "CompactDays", "PostgresSyncEnabled", "TransformEnabled", "Done"]
    assert [t for t in machine.trace if "[" in t] == [f"CompactDays[{d}].{s}" for d in days for s in route]
    assert [d["day"] for d in out["listed"]["days"]] == days
    assert curated_days(lake) == days
    assert dep.published == []
    # The next night finds nothing to do.
    again = LocalMachine(render(variables()), dep.task)
    assert again.run()["listed"]["days"] == []


def test_the_sync_runs_after_compaction_for_each_table(firelake, tmp_path):
    days = past_days(2)
    lake = lake_with_days(firelake, tmp_path, days)
    dep = Deployment(firelake, lake)
    machine = LocalMachine(render(variables(sync=SYNC)), dep.task)
    machine.run()
    top = [t for t in machine.trace if "[" not in t]
    assert top == ["Settings", "ListDays", "CompactDays", "PostgresSyncEnabled", "PostgresSync",
                   "TransformEnabled", "Done"]
    assert [t for t in machine.trace if t.startswith("PostgresSync[")] == [
        f"PostgresSync[{t}].{s}" for t in SYNC for s in ["SyncRunner", "SyncTable"]]
    assert dep.synced == SYNC
    assert curated_days(lake) == days


def test_the_sync_lambda_is_invoked_again_until_it_answers_done(firelake, tmp_path):
    """postgres_sync_runner = lambda: per table, the function is invoked while it answers
    done = false (a day larger than one invocation continues in the next), then the next table."""
    days = past_days(1)
    lake = lake_with_days(firelake, tmp_path, days)
    dep = Deployment(firelake, lake)
    dep.sync_answers = [False, False, True, True]
    machine = LocalMachine(render(variables(sync=SYNC, runner="lambda", max_invocations=5)), dep.task)
    machine.run()
    loop = ["SyncOnLambda", "CountSyncInvocation", "SyncDone"]
    assert [t for t in machine.trace if t.startswith("PostgresSync[")] == (
        [f"PostgresSync[{SYNC[0]}].{s}" for s in ["SyncRunner", *loop * 3, "SyncedOnLambda"]]
        + [f"PostgresSync[{SYNC[1]}].{s}" for s in ["SyncRunner", *loop, "SyncedOnLambda"]])
    assert dep.sync_invocations == [{"table": SYNC[0]}] * 3 + [{"table": SYNC[1]}]
    assert dep.synced == [] and dep.sync_answers == [] and dep.published == []
    assert machine.trace[-2:] == ["TransformEnabled", "Done"]


def test_a_sync_lambda_never_done_fails_after_the_bound_and_notifies(firelake, tmp_path):
    days = past_days(1)
    lake = lake_with_days(firelake, tmp_path, days)
    dep = Deployment(firelake, lake)
    dep.sync_answers = [False] * 10
    machine = LocalMachine(render(variables(sync=SYNC, runner="lambda", max_invocations=3)), dep.task)
    with pytest.raises(StatesError) as failed:
        machine.run()
    assert failed.value.error == "Firelake.NightlyFailed"
    assert dep.sync_invocations == [{"table": SYNC[0]}] * 3 and len(dep.sync_answers) == 7
    (msg,) = dep.published
    assert (msg["step"], msg["error"]) == ("postgres_sync", "Firelake.SyncNotDone")
    assert "done = false 3 times in a row" in msg["cause"] and "postgres_sync_lambda_max_invocations" in msg["cause"]
    assert machine.trace[-5:] == [f"PostgresSync[{SYNC[0]}].SyncDone", f"PostgresSync[{SYNC[0]}].SyncNotDone",
                                  "PostgresSyncFailed", "Notify", "Failed"]


def test_a_day_too_large_for_lambda_runs_in_the_container(firelake, tmp_path):
    days = past_days(2)
    lake = lake_with_days(firelake, tmp_path, days)
    dep = Deployment(firelake, lake)
    machine = LocalMachine(render(variables(max_day_bytes=1)), dep.task)
    machine.run()
    assert [t for t in machine.trace if "[" in t] == [
        f"CompactDays[{d}].{s}" for d in days for s in ["Route", "CompactOnContainer"]]
    assert [c for c in dep.commands if c[0] == "--json"] == [["--json", f"FIRELAKE_DATE={d}"] for d in days]
    assert curated_days(lake) == days


def test_a_failed_day_notifies_the_alarm_topic_with_its_day_and_step(firelake, tmp_path):
    days = past_days(2)
    lake = lake_with_days(firelake, tmp_path, days)
    bad = days[0]
    # A day whose journal is cut short fails (an unreadable raw file would only be quarantined):
    # compacted once, its journal truncated, then a late raw file makes it due again.
    subprocess.run([str(firelake), "compact", "--lake", str(lake), "--date", bad], check=True,
                   capture_output=True)
    (journal,) = (lake / f"users_curated/_journal/p_date={bad}").iterdir()
    journal.write_bytes(journal.read_bytes()[: journal.stat().st_size // 2])
    raw = sorted((lake / f"users/p_date={bad}").glob("*.parquet"))[0]
    shutil.copy(raw, raw.with_name("zz-late.parquet"))
    dep = Deployment(firelake, lake)
    machine = LocalMachine(render(variables(sync=SYNC)), dep.task)
    with pytest.raises(StatesError) as failed:
        machine.run()
    assert failed.value.error == "Firelake.NightlyFailed"
    assert [(m["step"], m["day"]) for m in dep.published] == [("compact_on_lambda", bad)]
    assert journal.name in dep.published[0]["cause"], dep.published[0]
    # Retried with backoff (twice) before it was given up on; nothing after compaction ran.
    assert machine.attempts[f"CompactDays[{bad}].CompactOnLambda"] == 3
    assert machine.trace[-3:] == [f"CompactDays[{bad}].NotifyDay", f"CompactDays[{bad}].DayFailed", "Failed"]
    assert "PostgresSync" not in " ".join(machine.trace)


def test_a_failed_list_notifies_its_step(firelake, tmp_path):
    dep = Deployment(firelake, tmp_path / "no-such-lake-here" / "x")
    (tmp_path / "no-such-lake-here").write_text("a file where the lake's folder should be")
    with pytest.raises(StatesError):
        LocalMachine(render(variables()), dep.task).run()
    assert [(m["step"], m["day"]) for m in dep.published] == [("list_days", None)]


# ---------------------------------------------------------------------------------------------
# "partition complete" on EventBridge (moto)
# ---------------------------------------------------------------------------------------------


def test_a_committed_day_is_announced_on_eventbridge(firelake, tmp_path):
    days = past_days(2)
    lake = lake_with_days(firelake, tmp_path, days)
    with emulator(tmp_path / "moto.log") as endpoint:
        c = lambda s: boto3.client(s, endpoint_url=endpoint, region_name="us-east-1",  # noqa: E731
                                   aws_access_key_id="test", aws_secret_access_key="test")
        c("events").create_event_bus(Name="fl-lake-events")
        queue = c("sqs").create_queue(QueueName="partitions")["QueueUrl"]
        queue_arn = c("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        c("events").put_rule(Name="partitions", EventBusName="fl-lake-events",
                             EventPattern=json.dumps({"source": ["firelake.compactor"],
                                                      "detail-type": ["partition complete"]}))
        c("events").put_targets(Rule="partitions", EventBusName="fl-lake-events",
                                Targets=[{"Id": "q", "Arn": queue_arn}])
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", AWS_EC2_METADATA_DISABLED="true",
                   FIRELAKE_EVENTS_BUS="fl-lake-events")
        p = subprocess.run([str(firelake), "compact", "--lake", str(lake), "--date", days[1], "--json"],
                           capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr
        report = json.loads(p.stdout)
        (day,) = report["days"]
        msgs = c("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        events = [json.loads(m["Body"]) for m in msgs]
        assert [(e["source"], e["detail-type"]) for e in events] == [("firelake.compactor", "partition complete")]
        assert events[0]["detail"] == {"table": "users_curated", "day": days[1],
                                       "generation": day["generation"], "rows": day["rows_out"]}
        # Up to date the next time: nothing committed, nothing announced.
        p = subprocess.run([str(firelake), "compact", "--lake", str(lake), "--date", days[1], "--json"],
                           capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr
        assert c("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []) == []
        # A bus that does not exist is an error that names it, after the commit.
        env["FIRELAKE_EVENTS_BUS"] = "no-such-bus"
        p = subprocess.run([str(firelake), "compact", "--lake", str(lake), "--date", days[0], "--json"],
                           capture_output=True, text=True, env=env)
        assert p.returncode != 0 and "no-such-bus" in p.stderr, p.stderr
