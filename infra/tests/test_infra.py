"""infra/ held to the code: the Terraform is evaluated (hcl_eval) for each delivery mode and
compared with what the binaries read and call (rust_scan), what `firelake schema` generates
and what the transformer emits. Run: `python -m pytest infra/tests` (scripts/test.sh does,
after building the workspace)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import hcl_eval  # noqa: E402
import rust_scan  # noqa: E402

REPO = rust_scan.REPO
INFRA = REPO / "infra"
GENERATED = INFRA / "generated"
MODES = ["firehose", "firehose_direct_put", "stream_consumer"]
LAMBDA_MODULE = "./modules/lambda_function"

# What a function's role needs beyond the binary's own calls, and why.
PLATFORM_ACTIONS = {
    # The Kinesis event source mapping reads the stream with the function's role, and sends
    # the batches it gives up on to the on-failure queue with it.
    "stream-consumer": {
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:ListShards",
        "sqs:SendMessage",
    },
}

# KMS use implied by calls on data encrypted with the deployment's key: action -> (KMS action,
# the service KMS is used through). SSE-KMS objects need a data key to write and Decrypt to
# read; a multipart upload (AbortMultipartUpload stands for it) needs Decrypt to complete;
# a KMS-encrypted stream needs a data key to put and Decrypt to get; so does a secret.
KMS_IMPLIED = {
    "s3:PutObject": [("kms:GenerateDataKey", "s3")],
    "s3:GetObject": [("kms:Decrypt", "s3")],
    "s3:AbortMultipartUpload": [("kms:Decrypt", "s3"), ("kms:GenerateDataKey", "s3")],
    "kinesis:PutRecords": [("kms:GenerateDataKey", "kinesis")],
    "kinesis:GetRecords": [("kms:Decrypt", "kinesis")],
    "secretsmanager:GetSecretValue": [("kms:Decrypt", "secretsmanager")],
    # SSE-KMS queues: a sender needs a data key and Decrypt (AWS's SQS key management docs).
    "sqs:SendMessage": [("kms:GenerateDataKey", "sqs"), ("kms:Decrypt", "sqs")],
}

# Which Terraform resource a policy statement must name for each service's actions.
RESOURCE_OF_SERVICE = {
    "kinesis": r"aws_kinesis_stream\.this",
    "firehose": r"aws_kinesis_firehose_delivery_stream\.this",
    "s3": r"aws_s3_bucket\.lake\.arn",
    "secretsmanager": r"aws_secretsmanager_secret\.source_api",
    "glue": r"^arn:\$\{data\.aws_partition\.current\.partition\}:glue:",
    "kms": r"aws_kms_key\.this\.arn",
    "sqs": r"aws_sqs_queue\.stream_consumer_failures\[0\]\.arn",
    "events": r"^arn:\$\{data\.aws_partition\.current\.partition\}:events:.*:event-bus/",
}


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def firelake() -> Path:
    exe = Path(os.environ.get("FIRELAKE_BIN", REPO / "target/debug/firelake"))
    if "FIRELAKE_BIN" not in os.environ:
        subprocess.run(["cargo", "build", "--locked", "-p", "firelake", "--bin", "firelake"],
                       cwd=REPO, check=True, capture_output=True)
    return exe


@pytest.fixture(scope="session")
def ws():
    return rust_scan.Workspace()


def root(mode="firehose", overrides=None, module_overrides=None, **variables) -> hcl_eval.Module:
    return hcl_eval.load(INFRA, {"delivery": mode, **variables}, overrides, module_overrides)


def sources() -> list[str]:
    return sorted(p.stem for p in (REPO / "sources").glob("*.toml"))


def functions(m: hcl_eval.Module) -> dict[str, hcl_eval.Module]:
    """binary -> its function module instance (those the variables create)."""
    out = {}
    for name, blk in m.src.modules.items():
        if blk.body.attrs["source"] != ("lit", LAMBDA_MODULE):
            continue
        for inst in m.child_instances(name):
            b = inst.vars["binary"]
            assert b not in out, f"two functions run {b}"
            out[b] = inst
    return out


def policy(m: hcl_eval.Module, ref) -> list[dict]:
    """Statements of the aws_iam_policy_document a `.json` reference names."""
    if ref is None:
        return []
    mm = re.fullmatch(r"\$\{(?:(module\.\w+(?:\[\d+\])?)\.)?data\.aws_iam_policy_document\.(\w+)(?:\[(\d+)\])?\.json\}", str(ref))
    assert mm, f"not a policy document reference: {ref}"
    owner = m
    name, idx = mm.group(2), mm.group(3)
    insts = owner.instances("data", "aws_iam_policy_document", name)
    inst = insts[int(idx)] if idx is not None else insts[0]
    return inst.body().get("statement", [])


def allowed(statements) -> set[str]:
    return {a for s in statements if s.get("effect", "Allow") == "Allow" for a in s["actions"]}


def role_statements(m, fn: hcl_eval.Module) -> list[dict]:
    """Every statement of the function's inline policies (what its binary calls)."""
    return [st for ref in fn.vars["policies"].values() for st in policy(m, ref)]


def exclusions(ws, m, binary, fn) -> set[Path]:
    """Code the deployment rules out for this function (see rust_scan's docstring)."""
    out: set[Path] = set()
    if binary == "producer":
        scheme = fn.vars["environment"]["FIRELAKE_TO"].split("://")[0]
        pubs = rust_scan.publisher_files(ws)
        assert scheme in pubs, f"FIRELAKE_TO scheme {scheme} has no publisher in ticks.rs"
        out |= {p for s, p in pubs.items() if s != scheme}
        if m.local("schema")["auth_env"] is None:
            out.add(REPO / "aws/src/secrets.rs")
    return out


def code_actions(ws, m, binary, fn) -> rust_scan.Analysis:
    return rust_scan.analyse(binary, exclusions(ws, m, binary, fn), ws=ws)


def kms_expected(actions: set[str]) -> tuple[set[str], set[str]]:
    kms, via = set(), set()
    for a in actions:
        for k, svc in KMS_IMPLIED.get(a, []):
            kms.add(k)
            via.add(svc)
    return kms, via


def role_problems(ws, m, binary, fn) -> list[str]:
    """Differences between a function's role and what its binary calls."""
    statements = role_statements(m, fn)
    role = allowed(statements)
    code = code_actions(ws, m, binary, fn)
    platform = PLATFORM_ACTIONS.get(binary, set())
    needed = code.actions | platform
    problems = []
    non_kms = {a for a in role if not a.startswith("kms:")}
    for a in sorted(needed - non_kms):
        where = ", ".join(sorted(code.action_sources.get(a, {"platform"})))
        problems.append(f"{binary}: {a} is called ({where}) but its role does not allow it")
    for a in sorted(non_kms - needed):
        problems.append(f"{binary}: its role allows {a}, which the code never calls")
    kms_needed, via_needed = kms_expected(needed)
    kms_role = {a for a in role if a.startswith("kms:")}
    if kms_role != kms_needed:
        problems.append(f"{binary}: KMS actions {sorted(kms_role)} != implied {sorted(kms_needed)}")
    via = set()
    for s in statements:
        if any(a.startswith("kms:") for a in s["actions"]):
            conds = [c for c in s.get("condition", []) if c["variable"] == "kms:ViaService"]
            if not conds:
                problems.append(f"{binary}: KMS use not limited by kms:ViaService")
            for c in conds:
                via |= {v.split(".")[0] for v in c["values"]}
    if via != via_needed:
        problems.append(f"{binary}: KMS through {sorted(via)} != implied {sorted(via_needed)}")
    return problems


def env_problems(ws, m, binary, fn) -> list[str]:
    env = fn.vars["environment"]
    code = code_actions(ws, m, binary, fn)
    problems = []
    auth_env = m.local("schema")["auth_env"] if binary == "producer" else None
    readable = code.env_read | ({auth_env} if auth_env else set())
    for v in sorted(code.env_required - set(env)):
        problems.append(f"{binary}: reads {v}, which it cannot run without, but the function does not set it")
    for v in sorted(set(env) - readable):
        problems.append(f"{binary}: the function sets {v}, which the binary never reads")
    return problems


def transformer_response(firelake: Path, tmp: Path) -> list[dict]:
    shared = Path(os.environ.get("FIRELAKE_SHARED", REPO.parent / "shared")) / "bench"
    py = sys.executable
    subprocess.run([py, shared / "gen_users.py", "--count", "200", "--seed", "7", "--bad-rate", "0.1",
                    "--out", tmp / "users.jsonl"], check=True, capture_output=True)
    subprocess.run([py, shared / "make_firehose_event.py", tmp / "users.jsonl", tmp / "events", "--source", "kinesis"],
                   check=True, capture_output=True)
    out = subprocess.run([firelake, "transform", "--event", tmp / "events", "--source", "users"],
                         check=True, capture_output=True, text=True)
    records = []
    for line in out.stdout.splitlines():
        if line.strip():
            doc = json.loads(line)
            records += doc["records"]
    return records


# ---------------------------------------------------------------------------------------------
# One source of truth: the generated schema
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", sources())
def test_generated_schema_matches_the_source_definition(firelake, source):
    want = subprocess.run([firelake, "schema", "--source", source, "--format", "terraform"],
                          check=True, capture_output=True, text=True).stdout
    path = GENERATED / f"{source}.tf.json"
    assert path.exists(), f"missing {path.relative_to(REPO)}: run `firelake schema --source {source} --format terraform -o {path.relative_to(REPO)}`"
    assert path.read_text() == want, (
        f"{path.relative_to(REPO)} drifted from sources/{source}.toml: regenerate it with "
        f"`firelake schema --source {source} --format terraform -o {path.relative_to(REPO)}`"
    )


def test_every_generated_file_has_a_source():
    extra = {p.name.removesuffix(".tf.json") for p in GENERATED.glob("*.tf.json")} - set(sources())
    assert not extra, f"generated files without a source definition: {extra}"


@pytest.mark.parametrize("mode", MODES)
def test_glue_tables_have_the_generated_columns(firelake, mode):
    m = root(mode)
    glue = json.loads(subprocess.run([firelake, "schema", "--source", "users", "--format", "glue-columns"],
                                     check=True, capture_output=True, text=True).stdout)

    def cols(blocks):
        return [{"Name": c["name"], "Type": c["type"], **({"Comment": c["comment"]} if c.get("comment") else {})}
                for c in blocks]

    for mod, name, folder in [("raw_table", "users", "users/"), ("curated_table", "users_curated", "users_curated/")]:
        (child,) = m.child_instances(mod)
        table = child.instances("resource", "aws_glue_catalog_table", "this")[0].body()
        assert table["name"] == name
        assert table["database_name"] == "${aws_glue_catalog_database.this.name}" or table["database_name"] == "firelake"
        sd = table["storage_descriptor"][0]
        assert cols(sd["columns"]) == glue["Columns"], f"{name}: Glue columns differ from `firelake schema`"
        assert cols(table["partition_keys"]) == glue["PartitionKeys"]
        assert sd["location"].endswith("/" + folder)
        assert sd["ser_de_info"][0]["serialization_library"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        assert table["parameters"]["classification"] == "parquet"
    raw = m.child_instances("raw_table")[0].instances("resource", "aws_glue_catalog_table", "this")[0].body()
    # Firehose registers no partitions: the raw table projects the days where the prefix puts them.
    assert raw["parameters"]["projection.enabled"] == "true"
    # The projected range starts where the variable says (older backfills stay visible).
    assert raw["parameters"]["projection.p_date.range"] == "2000-01-01,NOW"
    early = root(mode, partition_projection_start="1990-01-01").child_instances("raw_table")[0]
    params = early.instances("resource", "aws_glue_catalog_table", "this")[0].body()["parameters"]
    assert params["projection.p_date.range"] == "1990-01-01,NOW"
    assert raw["parameters"]["storage.location.template"].endswith("/users/p_date=${p_date}/")


# ---------------------------------------------------------------------------------------------
# Firehose
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["firehose", "firehose_direct_put"])
def test_firehose_partitions_by_what_the_transformer_emits(firelake, tmp_path, mode):
    m = root(mode)
    fh = m.instances("resource", "aws_kinesis_firehose_delivery_stream", "this")[0].body()
    s3 = fh["extended_s3_configuration"][0]
    records = transformer_response(firelake, tmp_path)
    ok = [r for r in records if r["result"] == "Ok"]
    failed = [r for r in records if r["result"] == "ProcessingFailed"]
    assert ok and failed, "the probe event should hold good and corrupt records"
    keys = {k for r in ok for k in r["metadata"]["partitionKeys"]}
    assert keys == {"p_date"}, keys
    used = set(re.findall(r"!\{partitionKeyFromLambda:(\w+)\}", s3["prefix"]))
    assert used == keys, f"prefix {s3['prefix']} uses {used}, the transformer emits {keys}"
    assert s3["prefix"] == "users/p_date=!{partitionKeyFromLambda:p_date}/"
    # The rows carry exactly the raw table's columns and its partition key (Firehose's
    # conversion drops fields the schema lacks, silently), the key as in the metadata.
    table = m.child_instances("raw_table")[0].instances("resource", "aws_glue_catalog_table", "this")[0].body()
    columns = [c["name"] for c in table["storage_descriptor"][0]["columns"]]
    pkeys = [c["name"] for c in table["partition_keys"]]
    assert pkeys == sorted(keys)
    for r in ok[:50]:
        row = json.loads(base64.b64decode(r["data"]))
        assert list(row) == columns + pkeys
        assert row["p_date"] == r["metadata"]["partitionKeys"]["p_date"]


@pytest.mark.parametrize("mode", ["firehose", "firehose_direct_put"])
def test_firehose_configuration(mode):
    m = root(mode)
    fh = m.instances("resource", "aws_kinesis_firehose_delivery_stream", "this")[0].body()
    s3 = fh["extended_s3_configuration"][0]
    assert fh["destination"] == "extended_s3"
    assert "!{firehose:error-output-type}" in s3["error_output_prefix"]
    assert not s3["error_output_prefix"].startswith("users/"), "errors must not land in the raw table"
    assert s3["dynamic_partitioning_configuration"][0]["enabled"] is True
    assert s3["file_extension"] == ".parquet" and s3["compression_format"] == "UNCOMPRESSED"
    assert s3["buffering_size"] >= 64 and 60 <= s3["buffering_interval"] <= 900
    assert s3["kms_key_arn"] == "${aws_kms_key.this.arn}"
    (proc,) = s3["processing_configuration"][0]["processors"]
    params = {p["parameter_name"]: p["parameter_value"] for p in proc["parameters"]}
    assert proc["type"] == "Lambda"
    assert params["LambdaArn"] == "${module.transformer[0].aws_lambda_function.this.arn}"
    # Firehose's defaults are left out (AWS does not return them: listing one is a change on
    # every plan); what is not listed is the default.
    defaults = {"BufferSizeInMBs": "1", "BufferIntervalInSeconds": "60", "NumberOfRetries": "3"}
    assert not [k for k, v in params.items() if defaults.get(k) == v], params
    # base64 (4/3) and the JSON envelope: 3 MiB in stays under Lambda's 6 MB request limit.
    assert 0.2 <= float(params.get("BufferSizeInMBs", defaults["BufferSizeInMBs"])) <= 3
    conv = s3["data_format_conversion_configuration"][0]
    assert conv["enabled"] is True
    assert "open_x_json_ser_de" in conv["input_format_configuration"][0]["deserializer"][0]
    assert "parquet_ser_de" in conv["output_format_configuration"][0]["serializer"][0]
    sc = conv["schema_configuration"][0]
    assert sc["table_name"] == "users" and sc["database_name"] in ("firelake", "${aws_glue_catalog_database.this.name}")
    if mode == "firehose_direct_put":
        assert "kinesis_source_configuration" not in fh
        (sse,) = fh["server_side_encryption"]
        assert sse["enabled"] is True and sse["key_type"] == "CUSTOMER_MANAGED_CMK"
        assert not m.instances("resource", "aws_kinesis_stream", "this")
    else:
        (src,) = fh["kinesis_source_configuration"]
        assert src["kinesis_stream_arn"] == "${aws_kinesis_stream.this[0].arn}"
        assert "server_side_encryption" not in fh


def test_no_firehose_with_the_stream_consumer():
    m = root("stream_consumer")
    assert not m.instances("resource", "aws_kinesis_firehose_delivery_stream", "this")
    assert "firehose-transformer" not in functions(m)
    (esm,) = [i.body() for i in m.instances("resource", "aws_lambda_event_source_mapping", "stream_consumer")]
    assert esm["function_response_types"] == ["ReportBatchItemFailures"]
    assert esm["bisect_batch_on_function_error"] is True
    assert esm["event_source_arn"] == "${aws_kinesis_stream.this[0].arn}"
    assert esm["function_name"] == "${module.stream_consumer[0].aws_lambda_function.this.arn}"
    assert esm["destination_config"][0]["on_failure"][0]["destination_arn"] == "${aws_sqs_queue.stream_consumer_failures[0].arn}"
    assert 0 <= esm["maximum_record_age_in_seconds"] <= 604800 or esm["maximum_record_age_in_seconds"] == -1


# ---------------------------------------------------------------------------------------------
# Functions: environment and roles held to the code
# ---------------------------------------------------------------------------------------------


def test_every_deployed_binary_is_a_workspace_binary(ws):
    for mode in MODES:
        for b, fn in functions(root(mode)).items():
            assert b in ws.binaries, f"{b} is not a binary of the workspace"
            assert fn.vars["artifact"].endswith(f"/{b}/bootstrap.zip")


@pytest.mark.parametrize("mode", MODES)
def test_functions_set_what_their_binaries_read(ws, mode):
    m = root(mode)
    fns = functions(m)
    expected = {"firehose": {"producer", "firehose-transformer", "compactor"},
                "firehose_direct_put": {"producer", "firehose-transformer", "compactor"},
                "stream_consumer": {"producer", "stream-consumer", "compactor"}}[mode]
    assert set(fns) == expected
    problems = [p for b, fn in fns.items() for p in env_problems(ws, m, b, fn)]
    assert problems == []
    lake = m.local("lake_url")
    env = {b: fn.vars["environment"] for b, fn in fns.items()}
    # What a Lambda needs whatever the flags' defaults: the lake, the catalog, the stream.
    assert env["producer"]["FIRELAKE_STATE"] == lake
    if mode == "firehose_direct_put":
        assert env["producer"]["FIRELAKE_TO"] == "firehose://firelake-users"
    else:
        assert env["producer"]["FIRELAKE_TO"] == "kinesis://firelake-users"
    for b in ("compactor", "stream-consumer"):
        if b in env:
            assert env[b]["FIRELAKE_LAKE"] == lake
            assert env[b]["FIRELAKE_CATALOG"] == "glue://firelake"
    for e in env.values():
        assert e["FIRELAKE_SOURCE"] == "users"


@pytest.mark.parametrize("mode", MODES)
def test_roles_allow_exactly_what_the_code_calls(ws, mode):
    m = root(mode)
    problems = [p for b, fn in functions(m).items() for p in role_problems(ws, m, b, fn)]
    assert problems == []


def test_direct_put_producer_may_only_put_record_batches_on_its_stream(ws):
    m = root("firehose_direct_put")
    fn = functions(m)["producer"]
    st = role_statements(m, fn)
    fh = [s for s in st if any(a.startswith("firehose:") for a in s["actions"])]
    assert [s["actions"] for s in fh] == [["firehose:PutRecordBatch"]]
    assert [str(r) for r in fh[0]["resources"]] == ["${aws_kinesis_firehose_delivery_stream.this[0].arn}"]
    assert not any(a.startswith("kinesis:") for a in allowed(st))


@pytest.mark.parametrize("mode", MODES)
def test_statements_name_their_services_resources(mode):
    m = root(mode)
    for b, fn in functions(m).items():
        for s in role_statements(m, fn):
            services = {a.split(":")[0] for a in s["actions"]}
            assert len(services) == 1, f"{b}: one service per statement: {s['actions']}"
            (svc,) = services
            for r in s["resources"]:
                assert r != "*", f"{b}: {s.get('sid')} allows every resource"
                assert re.search(RESOURCE_OF_SERVICE[svc], str(r)), f"{b}: {s.get('sid')}: {r} is not the {svc} resource"


def test_runtime_policy_is_logs_dead_letters_and_traces():
    m = root()
    for b, fn in functions(m).items():
        st = fn.instances("data", "aws_iam_policy_document", "runtime")[0].body()["statement"]
        assert allowed(st) == {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage",
                               "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                               "kms:GenerateDataKey", "kms:Decrypt"}, b
        fnr = fn.instances("resource", "aws_lambda_function", "this")[0].body()
        assert fnr["runtime"] == "provided.al2023" and fnr["handler"] == "bootstrap"
        assert fnr["environment"][0]["variables"] == hcl_eval.plain(fn.vars["environment"])


def test_a_source_with_a_credential_gets_its_secret(ws, tmp_path):
    """A definition naming auth_env: the producer gets `<auth_env>=secretsmanager://NAME`, its
    role GetSecretValue on that secret, and the secret path of the code counts again."""
    gen = tmp_path / "generated"
    shutil.copytree(GENERATED, gen)
    doc = json.loads((gen / "users.tf.json").read_text())
    doc["output"]["users"]["value"]["auth_env"] = "USERS_API_TOKEN"
    (gen / "users.tf.json").write_text(json.dumps(doc))
    m = root("firehose", module_overrides={"./generated": hcl_eval.ModuleSource(gen)})
    fn = functions(m)["producer"]
    env = fn.vars["environment"]
    assert env["USERS_API_TOKEN"] == "secretsmanager://firelake/users/api-credential"
    assert REPO / "aws/src/secrets.rs" not in exclusions(ws, m, "producer", fn)
    assert "secretsmanager:GetSecretValue" in code_actions(ws, m, "producer", fn).actions
    assert role_problems(ws, m, "producer", fn) == []
    assert env_problems(ws, m, "producer", fn) == []
    (secret,) = m.instances("resource", "aws_secretsmanager_secret", "source_api")
    assert secret.body()["kms_key_id"] == "${aws_kms_key.this.arn}"


def test_the_secret_resolver_is_reached_only_for_a_credential(ws):
    """Why excluding aws/src/secrets.rs without auth_env is right: its one caller resolves the
    credential only when the definition names one."""
    r = rust_scan.reach(ws, "producer", set())
    secrets = REPO / "aws/src/secrets.rs"
    callers = [(f, u) for f, u in r.units
               if f.path != secrets and (secrets, "resolve") in r.refs[id(u)]]
    assert [str(f.path.relative_to(REPO)) for f, _ in callers] == ["producer/src/http.rs"]
    text = " ".join(t.text for t in callers[0][1].toks)
    call = text.index("secrets :: resolve")
    if "auth_env" not in text[max(0, call - 400):call]:
        # The call sits in a small helper (`resolve_secret`, one cfg variant per feature):
        # then the helper's one call site is where auth_env must be checked.
        helper = re.search(r"fn (\w+) \(", text).group(1)
        http = (REPO / "producer/src/http.rs").read_text()
        sites = [m.start() for m in re.finditer(rf"(?<!fn ){helper}\(", http)]
        assert len(sites) == 1, f"{helper} called {len(sites)} times in http.rs"
        assert "auth_env" in http[max(0, sites[0] - 400):sites[0]]


# ---------------------------------------------------------------------------------------------
# The checks fail when infra/ and the code drift apart
# ---------------------------------------------------------------------------------------------


def test_a_missing_permission_is_found(ws):
    iam = INFRA / "iam.tf"
    text = iam.read_text().replace('actions   = ["kinesis:PutRecords"]', 'actions   = ["kinesis:PutRecord"]')
    m = root("firehose", overrides={str(iam.resolve()): text})
    problems = role_problems(ws, m, "producer", functions(m)["producer"])
    assert any("kinesis:PutRecords is called" in p for p in problems), problems
    assert any("allows kinesis:PutRecord," in p for p in problems), problems


def test_a_new_sdk_call_without_a_permission_is_found():
    src = REPO / "producer/src/kinesis.rs"
    text = src.read_text()
    assert ".put_records()" in text
    changed = text.replace(".put_records()", ".describe_stream_summary().send(); self.client.put_records()", 1)
    ws2 = rust_scan.Workspace({str(src): changed})
    m = root("firehose")
    fn = functions(m)["producer"]
    assert "kinesis:DescribeStreamSummary" in code_actions(ws2, m, "producer", fn).actions
    assert any("kinesis:DescribeStreamSummary is called" in p for p in role_problems(ws2, m, "producer", fn))


def test_an_unset_or_unread_variable_is_found(ws):
    lam = INFRA / "lambda.tf"
    text = lam.read_text()
    text = text.replace('FIRELAKE_LAKE    = local.lake_url', 'FIRELAKE_LAKES   = local.lake_url')
    m = root("stream_consumer", overrides={str(lam.resolve()): text})
    problems = env_problems(ws, m, "stream-consumer", functions(m)["stream-consumer"])
    assert any("reads FIRELAKE_LAKE," in p for p in problems), problems
    assert any("sets FIRELAKE_LAKES" in p for p in problems), problems


def test_a_partition_key_the_transformer_does_not_emit_is_found():
    main = INFRA / "main.tf"
    text = main.read_text().replace("partitionKeyFromLambda:${local.schema.partition_column}", "partitionKeyFromLambda:day")
    m = root("firehose", overrides={str(main.resolve()): text})
    prefix = m.instances("resource", "aws_kinesis_firehose_delivery_stream", "this")[0].body()["extended_s3_configuration"][0]["prefix"]
    assert set(re.findall(r"!\{partitionKeyFromLambda:(\w+)\}", prefix)) == {"day"}


# ---------------------------------------------------------------------------------------------
# Schedules, alarms, storage
# ---------------------------------------------------------------------------------------------


def test_schedules():
    m = root()
    rules = {n: m.instances("resource", "aws_cloudwatch_event_rule", n)[0].body() for n in ("producer", "compactor")}
    assert rules["producer"]["schedule_expression"] == "rate(1 minute)"
    assert rules["compactor"]["schedule_expression"].startswith("cron(")
    fns = functions(m)
    t = m.instances("resource", "aws_cloudwatch_event_target", "producer")[0].body()
    assert t["arn"] == "${module.producer.aws_lambda_function.this.arn}"
    perms = {n: [i.body() for (ty, name) in m.src.resources if ty == "aws_lambda_permission"
                 for i in m.instances("resource", ty, name) if i.body()["function_name"] == fns[n].vars["name"]]
             for n in ("producer", "compactor")}
    assert len(perms["producer"]) == 1 and perms["producer"][0]["source_arn"] == "${aws_cloudwatch_event_rule.producer.arn}"
    assert perms["producer"][0]["principal"] == "events.amazonaws.com"
    # The nightly schedule starts the workflow (workflow.tf), which invokes the compactor; no
    # bare cron invokes it any more.
    t = m.instances("resource", "aws_cloudwatch_event_target", "compactor")[0].body()
    assert t["arn"] == "${aws_sfn_state_machine.nightly.arn}"
    assert t["role_arn"] == "${aws_iam_role.workflow_schedule.arn}"
    assert perms["compactor"] == []


@pytest.mark.parametrize("mode", MODES)
def test_alarms(mode):
    m = root(mode)
    alarms = {}
    for (ty, name) in m.src.resources:
        if ty == "aws_cloudwatch_metric_alarm":
            for i in m.instances("resource", ty, name):
                alarms[name] = i.body()
    for a in alarms.values():
        assert a["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"]
    want = {"dead_letters"}
    if mode != "firehose_direct_put":
        want |= {"stream_iterator_age", "stream_no_records"}
    if mode != "stream_consumer":
        want |= {"firehose_freshness", "firehose_delivery", "firehose_processing", "firehose_conversion",
                 "firehose_partitions", "processing_failed_records"}
    if mode == "stream_consumer":
        want |= {"stream_consumer_iterator_age", "stream_consumer_failures"}
    if mode == "firehose_direct_put":
        want |= {"firehose_no_records"}
    assert set(alarms) == want
    for b, fn in functions(m).items():
        names = {n for (ty, n) in fn.src.resources if ty == "aws_cloudwatch_metric_alarm"}
        assert names == {"errors", "throttles"}, b
        assert str(fn.vars["alarm_topic_arn"]) == "${aws_sns_topic.alarms.arn}"
    if mode != "stream_consumer":
        f = m.instances("resource", "aws_cloudwatch_log_metric_filter", "processing_failed")[0].body()
        msg = re.search(r'\$\.fields\.message = "([^"]+)"', f["pattern"]).group(1)
        src = (REPO / "firehose-transformer/src/lib.rs").read_text()
        assert f'"{msg}"' in src, "the metric filter must match the transformer's rejection log line"


def test_lake_bucket_is_private_encrypted_versioned_tls_only_and_expires_raw():
    m = root()

    def one(ty, name):
        return m.instances("resource", ty, name)[0].body()

    assert one("aws_s3_bucket_versioning", "lake")["versioning_configuration"][0]["status"] == "Enabled"
    enc = one("aws_s3_bucket_server_side_encryption_configuration", "lake")["rule"][0]
    assert enc["apply_server_side_encryption_by_default"][0] == {"sse_algorithm": "aws:kms", "kms_master_key_id": "${aws_kms_key.this.arn}"}
    pab = one("aws_s3_bucket_public_access_block", "lake")
    assert all(pab[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
    pol = m.instances("data", "aws_iam_policy_document", "lake_bucket")[0].body()["statement"]
    tls = [s for s in pol if s.get("effect") == "Deny" and s.get("condition", [{}])[0].get("variable") == "aws:SecureTransport"]
    assert tls and tls[0]["condition"][0]["values"] == ["false"]
    rules = {r["id"]: r for r in one("aws_s3_bucket_lifecycle_configuration", "lake")["rule"]}
    raw = rules["expire-raw"]
    assert raw["filter"][0]["prefix"] == "users/" and raw["expiration"][0]["days"] == 30
    assert one("aws_s3_bucket_logging", "lake")["target_bucket"] == "${aws_s3_bucket.logs.id}"


# ---------------------------------------------------------------------------------------------
# Kept raw records, the API secret, the compactor's reach (issue 18)
# ---------------------------------------------------------------------------------------------

BUCKET = "${aws_s3_bucket.lake.arn}"
KEPT = {"dead letters": "_dead_letter/", "rejects": "users/_rejected/", "firehose errors": "_firehose_errors/"}
READER = "arn:aws:iam::123456789012:role/lake-operators-*"


def overlaps(pattern: str, prefix: str) -> bool:
    """Whether an S3 object ARN pattern (`*` wildcards) names some key under `prefix`."""
    lit = pattern.split("*", 1)[0]
    return lit.startswith(prefix) or ("*" in pattern and prefix.startswith(lit))


def s3_readers_of(statements) -> list[str]:
    return [str(r) for st in statements if st.get("effect", "Allow") == "Allow"
            and {"s3:GetObject", "s3:GetObjectVersion"} & set(st["actions"]) for r in st["resources"]]


def every_role_policy(m) -> dict[str, list[dict]]:
    """role -> statements, for every role the deployment creates."""
    roles = {f"function {b}": role_statements(m, fn) for b, fn in functions(m).items()}
    roles["compactor task"] = policy(m, m.instances("resource", "aws_iam_role_policy", "compactor_task")[0].body()["policy"])
    roles["compactor task execution"] = policy(m, "${data.aws_iam_policy_document.compactor_task_execution.json}")
    if m.local("use_firehose"):
        roles["firehose"] = policy(m, "${data.aws_iam_policy_document.firehose[0].json}")
    return roles


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("readers", [[], [READER]])
def test_kept_records_expire_and_only_their_readers_read_them(mode, readers):
    m = root(mode, kept_record_readers=readers)
    rules = m.instances("resource", "aws_s3_bucket_lifecycle_configuration", "lake")[0].body()["rule"]
    firehose = "${aws_iam_role.firehose[0].arn}"
    deny = [st for st in m.instances("data", "aws_iam_policy_document", "lake_bucket")[0].body()["statement"]
            if st.get("effect") == "Deny" and "s3:GetObject" in st["actions"]]
    for what, prefix in KEPT.items():
        expiring = [r for r in rules if r["status"] == "Enabled" and r.get("expiration", [{}])[0].get("days")
                    and prefix.startswith(r["filter"][0].get("prefix", "\0"))]
        assert expiring, f"{what} ({prefix}) never expire"
        (st,) = [st for st in deny if f"{BUCKET}/{prefix}*" in st["resources"]]
        assert set(st["actions"]) == {"s3:GetObject", "s3:GetObjectVersion"}
        assert st["principals"] == [{"type": "*", "identifiers": ["*"]}]
        allowed_readers = readers + ([firehose] if what == "firehose errors" and mode != "stream_consumer" else [])
        if allowed_readers:
            assert st["condition"] == [{"test": "ArnNotLike", "variable": "aws:PrincipalArn", "values": allowed_readers}]
        else:
            assert "condition" not in st, "with no readers, nobody may read them"
    assert kept_record_grants(m) == []


def kept_record_grants(m) -> list[str]:
    """Roles the deployment creates that are granted a read of kept records (Firehose may read
    its own error output)."""
    firehose_errors = m.local("firehose_error_prefix").split("!{")[0]
    assert firehose_errors.startswith(KEPT["firehose errors"])
    problems = []
    for role, statements in every_role_policy(m).items():
        for r in s3_readers_of(statements):
            for what, prefix in KEPT.items():
                if not overlaps(r.removeprefix(BUCKET + "/"), prefix):
                    continue
                if role == "firehose" and (r == f"{BUCKET}/{firehose_errors}*" or what == "rejects"):
                    continue  # its own error output; its raw-prefix grant (the bucket policy denies the rejects)
                problems.append(f"{role} may read {what}: {r}")
    return problems


def test_a_role_that_may_read_kept_records_is_found():
    iam = INFRA / "iam.tf"
    text = iam.read_text()
    widened = text.replace('actions   = ["s3:PutObject"]\n    resources = ["${aws_s3_bucket.lake.arn}/${local.dead_letter_prefix}*"]',
                           'actions   = ["s3:GetObject", "s3:PutObject"]\n    resources = ["${aws_s3_bucket.lake.arn}/${local.dead_letter_prefix}*"]')
    assert widened != text
    problems = kept_record_grants(root("firehose", overrides={str(iam.resolve()): widened}))
    assert problems == ["function producer may read dead letters: ${aws_s3_bucket.lake.arn}/_dead_letter/*"]


def test_overlap_finds_a_grant_on_the_rejects():
    assert overlaps("users/*", "users/_rejected/")
    assert overlaps("_dead_letter/*", "_dead_letter/")
    assert not overlaps("users/p_date=*", "users/_rejected/")
    assert not overlaps("_producer/users/*", "_dead_letter/")


def test_producer_only_writes_dead_letters():
    m = root()
    st = role_statements(m, functions(m)["producer"])
    on_dead_letters = {a for s_ in st for a in s_["actions"] for r in s_["resources"] if "_dead_letter" in str(r)}
    assert on_dead_letters == {"s3:PutObject"}


def compactor_reach_problems(m) -> list[str]:
    """Grants of the compactor (function and task) on the raw table's partitions or its rejects."""
    raw, problems = m.local("glue_raw_arn"), []
    for role in ("function compactor", "compactor task"):
        statements = every_role_policy(m)[role]
        for st in statements:
            glue = [a for a in st["actions"] if a.startswith("glue:")]
            if raw in st["resources"] and not (glue and all(a.split(":")[1].startswith("Get") for a in glue)):
                problems.append(f"{role} may change the raw table: {st['actions']}")
        if not s3_readers_of(statements):
            problems.append(f"{role} reads nothing")
        problems += [f"{role} may read the rejects: {r}" for r in s3_readers_of(statements)
                     if overlaps(r.removeprefix(BUCKET + "/"), KEPT["rejects"])]
    return problems


@pytest.mark.parametrize("mode", MODES)
def test_the_compactor_never_writes_the_raw_tables_partitions(mode):
    assert compactor_reach_problems(root(mode)) == []


def test_a_compactor_grant_on_the_raw_table_or_its_rejects_is_found():
    iam = INFRA / "iam.tf"
    text = iam.read_text()
    widened = text.replace(
        "resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_curated_arn]",
        "resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_raw_arn, local.glue_curated_arn]")
    widened = widened.replace('${local.schema.table}/${local.pcol}=*"]', '${local.schema.table}/*"]')
    assert widened != text
    problems = compactor_reach_problems(root("firehose", overrides={str(iam.resolve()): widened}))
    assert any("function compactor may change the raw table" in p for p in problems), problems
    assert any("compactor task may read the rejects" in p for p in problems), problems


def test_the_api_secret_is_written_write_only(tmp_path):
    """Its value goes through the provider's write-only argument (never in state or a plan;
    test_terraform applies it and reads the state), from an ephemeral variable."""
    gen = tmp_path / "generated"
    shutil.copytree(GENERATED, gen)
    doc = json.loads((gen / "users.tf.json").read_text())
    doc["output"]["users"]["value"]["auth_env"] = "USERS_API_TOKEN"
    (gen / "users.tf.json").write_text(json.dumps(doc))
    overrides = {"./generated": hcl_eval.ModuleSource(gen)}
    variable = hcl_eval.load(INFRA).src.variables["source_api_secret"].body.attrs
    assert variable["ephemeral"] == ("lit", True) and variable["sensitive"] == ("lit", True)
    m = root("firehose", module_overrides=overrides, source_api_secret="x", source_api_secret_version=1)
    (version,) = m.instances("resource", "aws_secretsmanager_secret_version", "source_api")
    body = version.body()
    assert body["secret_string_wo"] == "x" and body["secret_string_wo_version"] == 1
    assert "secret_string" not in body and "secret_binary" not in body
    # Version 0: Terraform writes no value (put it with the CLI, README).
    assert not root("firehose", module_overrides=overrides).instances("resource", "aws_secretsmanager_secret_version", "source_api")


# ---------------------------------------------------------------------------------------------
# The compactor as a container task (issue 17) and the stream-consumer's failure queue (issue 16)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_the_compactor_task_runs_the_compactor_as_its_lambda_does(ws, mode):
    m = root(mode)
    fn = functions(m)["compactor"]
    (td,) = [i.body() for i in m.instances("resource", "aws_ecs_task_definition", "compactor")]
    assert td["requires_compatibilities"] == ["FARGATE"] and td["network_mode"] == "awsvpc"
    assert td["task_role_arn"] == "${aws_iam_role.compactor_task.arn}"
    assert td["execution_role_arn"] == "${aws_iam_role.compactor_task_execution.arn}"
    (container,) = json.loads(td["container_definitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    spill = m.local("compactor_spill_dir")
    # The Lambda's settings, and TMPDIR on the task's storage; container mode: no runtime API.
    assert env == {**fn.vars["environment"], "TMPDIR": spill}
    assert "AWS_LAMBDA_RUNTIME_API" not in env
    code = code_actions(ws, m, "compactor", fn)
    assert code.env_required <= set(env) and set(env) - {"TMPDIR"} <= code.env_read, env
    assert container["readonlyRootFilesystem"] is True
    assert container["mountPoints"] == [{"sourceVolume": "spill", "containerPath": spill, "readOnly": False}]
    assert td["volume"] == [{"name": "spill"}] and td["ephemeral_storage"][0]["size_in_gib"] >= 21
    assert container["image"] == m.local("compactor_image")
    log = m.instances("resource", "aws_cloudwatch_log_group", "compactor_task")[0].body()
    assert container["logConfiguration"]["options"]["awslogs-group"] == log["name"]
    # The task role is the Lambda's code policy, which the role checks above hold to the code.
    (role_policy,) = [i.body() for i in m.instances("resource", "aws_iam_role_policy", "compactor_task")]
    assert role_policy["policy"] == str(fn.vars["policies"]["code"])
    assert role_policy["role"] == "${aws_iam_role.compactor_task.id}"
    execution = policy(m, "${data.aws_iam_policy_document.compactor_task_execution.json}")
    assert allowed(execution) == {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:GetAuthorizationToken",
                                  "logs:CreateLogStream", "logs:PutLogEvents"}
    for st in execution:
        if st["actions"] != ["ecr:GetAuthorizationToken"]:  # no resource-level permissions
            assert "*" not in st["resources"], st
    trust = m.instances("data", "aws_iam_policy_document", "ecs_tasks_assume")[0].body()["statement"][0]
    assert trust["principals"] == [{"type": "Service", "identifiers": ["ecs-tasks.amazonaws.com"]}]
    assert {c["variable"] for c in trust["condition"]} == {"aws:SourceAccount", "aws:SourceArn"}
    assert log["kms_key_id"] == "${aws_kms_key.this.arn}"
    key_logs = [st for st in m.instances("data", "aws_iam_policy_document", "kms")[0].body()["statement"]
                if st.get("sid") == "CloudWatchLogsEncryptsOurLogGroups"][0]
    assert any(log["name"].startswith(v.split("log-group:")[1].rstrip("*")) for v in key_logs["condition"][0]["values"])


def test_the_compactor_image_packages_the_release_binary():
    text = (REPO / "compactor/Dockerfile").read_text()
    steps = [ln.split(None, 1) for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    copy, cli = [args.split() for op, args in steps if op == "COPY"]
    assert copy[0] == "bootstrap", "the build context is target/lambda/compactor (package-lambdas.sh's output)"
    # `firelake sync` is in the image (issue 23), where package-lambdas.sh puts the CLI.
    assert cli == ["firelake", "/usr/local/bin/firelake"]
    script = (REPO / "scripts/package-lambdas.sh").read_text()
    assert "cp target/lambda/firelake/bootstrap target/lambda/compactor/firelake" in script
    assert re.search(r"--bin firelake \\\n\s+--no-default-features --features sync", script), script
    (entry,) = [json.loads(args) for op, args in steps if op == "ENTRYPOINT"]
    assert entry == [copy[1]]
    assert [args for op, args in steps if op == "USER"] == ["nonroot"]
    assert "AWS_LAMBDA_RUNTIME_API" not in text.split("FROM", 1)[1]


def test_the_stream_consumers_failed_batches_have_their_queue_and_alarm(firelake):
    m = root("stream_consumer")
    (queue,) = [i.body() for i in m.instances("resource", "aws_sqs_queue", "stream_consumer_failures")]
    assert queue["kms_master_key_id"] == "${aws_kms_key.this.arn}"
    (alarm,) = [i.body() for i in m.instances("resource", "aws_cloudwatch_metric_alarm", "stream_consumer_failures")]
    assert (alarm["namespace"], alarm["metric_name"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["dimensions"] == {"QueueName": queue["name"]}
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    # The command it names reads the stream the function reads into the lake it writes.
    command = m.local("redrive_command")
    assert command in alarm["alarm_description"]
    assert command.startswith("firelake consume --from kinesis://firelake-users --redrive sqs://firelake-stream-consumer-failures ")
    flags = dict(zip(command.split()[2::2], command.split()[3::2]))
    env = functions(m)["stream-consumer"].vars["environment"]
    assert (flags["--source"], flags["--lake"], flags["--catalog"]) == (
        env["FIRELAKE_SOURCE"], env["FIRELAKE_LAKE"], env["FIRELAKE_CATALOG"])
    assert queue["name"] == flags["--redrive"].removeprefix("sqs://")
    # Flags `firelake consume` has (--redrive comes with issue 16's re-drive command).
    usage = subprocess.run([firelake, "consume", "--help"], check=True, capture_output=True, text=True).stdout
    for flag in ("--from", "--source", "--lake", "--catalog"):
        assert f"{flag} " in usage, f"`firelake consume` has no {flag}"
    assert m.local("stream_consumer_failures_queue") == "firelake-stream-consumer-failures"


def test_every_checkov_skip_says_why():
    skips = []
    for p in sorted(INFRA.rglob("*.tf")):
        for n, line in enumerate(p.read_text().splitlines(), 1):
            m = re.search(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?", line)
            if m:
                skips.append((p.relative_to(REPO), n, m.group(1), (m.group(2) or "").strip()))
    assert skips, "no skips found: the pattern is wrong"
    for path, n, check, reason in skips:
        assert len(reason.split()) >= 6, f"{path}:{n}: skip of {check} without a reason"


def test_the_packaging_script_builds_every_deployed_binary():
    text = (REPO / "scripts/package-lambdas.sh").read_text()
    listed = set(re.search(r"^BINARIES=\(([^)]*)\)", text, re.M).group(1).split())
    deployed = set(functions(root(**SYNC_ON_LAMBDA)))
    for mode in MODES:
        deployed |= set(functions(root(mode)))
    assert listed == deployed
    # Stripped release builds (the `lambda` profile), checked against Lambda's limits.
    assert re.search(r"cargo lambda build --profile lambda --locked --output-format zip", text)
    profile = tomllib.loads((REPO / "Cargo.toml").read_text())["profile"]["lambda"]
    assert profile["inherits"] == "release" and profile["strip"] is True
    assert "MAX_ZIPPED=$((50 * 1024 * 1024))" in text and "MAX_UNZIPPED=$((250 * 1024 * 1024))" in text
    assert root().vars["artifacts_dir"] == "../target/lambda"


# ---------------------------------------------------------------------------------------------
# The nightly workflow (issue 22): its roles may do what the workflow does and no more
# ---------------------------------------------------------------------------------------------

# What Step Functions needs for execution-history logs and X-Ray traces: AWS documents these
# with Resource "*" (no resource-level permissions).
LOGS_AND_TRACES = {"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                   "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                   "logs:DescribeResourcePolicies", "logs:DescribeLogGroups", "xray:PutTraceSegments",
                   "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}
COMPACTOR_FN = "${module.compactor.aws_lambda_function.this.arn}"


def grants(statements) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in statements:
        for a in s["actions"]:
            out.setdefault(a, []).extend(str(r) for r in s["resources"])
    return out


def condition(statements, action) -> list[dict]:
    return [c for s in statements if action in s["actions"] for c in s.get("condition", [])]


@pytest.mark.parametrize("mode", MODES)
def test_the_workflow_role_invokes_runs_passes_and_publishes_only_what_the_workflow_does(mode):
    m = root(mode)
    (sm,) = [i.body() for i in m.instances("resource", "aws_sfn_state_machine", "nightly")]
    assert sm["role_arn"] == "${aws_iam_role.workflow.arn}"
    st = policy(m, "${data.aws_iam_policy_document.workflow.json}")
    g = grants(st)
    assert g.pop("lambda:InvokeFunction") == [COMPACTOR_FN, COMPACTOR_FN + ":*"]
    assert g.pop("ecs:RunTask") == ["${aws_ecs_task_definition.compactor.arn}"]
    assert condition(st, "ecs:RunTask") == [{"test": "ArnEquals", "variable": "ecs:cluster",
                                              "values": ["${aws_ecs_cluster.compactor.arn}"]}]
    for a in ("ecs:DescribeTasks", "ecs:StopTask"):
        (r,) = g.pop(a)
        assert r.endswith(":task/firelake-compactor/*"), r
    assert g.pop("iam:PassRole") == ["${aws_iam_role.compactor_task.arn}",
                                     "${aws_iam_role.compactor_task_execution.arn}"]
    assert condition(st, "iam:PassRole")[0]["values"] == ["ecs-tasks.amazonaws.com"]
    for a in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        (r,) = g.pop(a)
        assert r.endswith(":rule/StepFunctionsGetEventsForECSTaskRule"), r
    assert g.pop("sns:Publish") == ["${aws_sns_topic.alarms.arn}"]
    for a in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert g.pop(a) == ["${aws_kms_key.this.arn}"]
    assert condition(st, "kms:Decrypt")[0]["values"] == ["sns.${data.aws_region.current.id}.amazonaws.com"]
    assert set(g) == LOGS_AND_TRACES and all(r == ["*"] for r in g.values()), g


def test_the_sync_task_runs_only_when_configured():
    st = policy(root(), "${data.aws_iam_policy_document.workflow.json}")
    assert grants(st)["lambda:InvokeFunction"] == [COMPACTOR_FN, COMPACTOR_FN + ":*"]
    assert "RunTheSyncTask" not in {s.get("sid") for s in st}
    m = root(postgres_sync_tables=["users_curated"], postgres_url="postgres://loader@db.example:5432/lake?sslmode=verify-full",
             postgres_password_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:pg-AbCdEf")
    st = policy(m, "${data.aws_iam_policy_document.workflow.json}")
    sids = {s.get("sid"): s for s in st}
    assert sids["RunTheSyncTask"]["resources"] == ["${aws_ecs_task_definition.sync[0].arn}"]
    assert grants(st)["lambda:InvokeFunction"] == [COMPACTOR_FN, COMPACTOR_FN + ":*"]


# The sync on Lambda (postgres_sync_runner = "lambda", sync_lambda.tf) with your own target.
SYNC_ON_LAMBDA = dict(postgres_sync_tables=["users_curated"], postgres_sync_runner="lambda",
                      postgres_url="postgres://loader@db.example:6543/lake?sslmode=verify-full",
                      postgres_password_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:pg-AbCdEf",
                      postgres_vpc_id="vpc-1", postgres_subnet_ids=["subnet-a", "subnet-b"],
                      postgres_target_cidr_blocks=["10.1.0.0/16"])
SYNC_FN = "${module.sync_lambda[0].aws_lambda_function.this.arn}"


def test_the_sync_lambda_runs_in_the_vpc_with_the_settings_and_role_of_the_task(ws):
    assert "sync-lambda" not in functions(root(postgres_sync_tables=["users_curated"], **{
        k: v for k, v in SYNC_ON_LAMBDA.items() if k not in ("postgres_sync_tables", "postgres_sync_runner")}))
    m = root(**SYNC_ON_LAMBDA)
    fn = functions(m)["sync-lambda"]
    assert env_problems(ws, m, "sync-lambda", fn) == []
    env = fn.vars["environment"]
    # Lambda reserves AWS_REGION; RDS's CA bundle is in the zip (package-lambdas.sh).
    assert "AWS_REGION" not in env and env["FIRELAKE_PG_CA_FILE"] == "/var/task/global-bundle.pem"
    script = (REPO / "scripts/package-lambdas.sh").read_text()
    assert re.search(r"global-bundle\.pem\"\), \"global-bundle\.pem\"\)", script), "the zip carries the CA bundle at its root"
    assert env["FIRELAKE_PG_URL"].startswith("postgres://loader@db.example:6543/")
    assert env["FIRELAKE_PG_PASSWORD_SECRET"].endswith(":secret:pg-AbCdEf")
    assert (env["FIRELAKE_LAKE"], env["FIRELAKE_CATALOG"]) == (m.local("lake_url"), "glue://firelake")
    assert {k: str(v) for k, v in fn.vars["policies"].items()} == {"code": "${data.aws_iam_policy_document.sync_task.json}"}
    assert fn.vars["timeout_s"] == 900 and fn.vars["reserved_concurrency"] == 1
    f = fn.instances("resource", "aws_lambda_function", "this")[0].body()
    assert f["vpc_config"] == [{"subnet_ids": ["subnet-a", "subnet-b"],
                                "security_group_ids": ["${aws_security_group.sync_task[0].id}"]}]
    (vpc,) = [i.body() for i in fn.instances("resource", "aws_iam_role_policy_attachment", "vpc")]
    assert vpc["policy_arn"].endswith(":iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")
    # Its security group: HTTPS out, and the target's port to the target only; no ECS task.
    rules = {(r.body()["from_port"], r.body().get("cidr_ipv4")) for name in ("sync_task_https", "sync_task_to_target")
             for r in m.instances("resource", "aws_vpc_security_group_egress_rule", name)}
    assert rules == {(443, "0.0.0.0/0"), (6543, "10.1.0.0/16")}
    assert m.instances("resource", "aws_ecs_task_definition", "sync") == []
    assert m.instances("resource", "aws_iam_role", "sync_task") == []
    # The workflow may invoke it, and runs no sync task.
    st = policy(m, "${data.aws_iam_policy_document.workflow.json}")
    assert grants(st)["lambda:InvokeFunction"] == [COMPACTOR_FN, COMPACTOR_FN + ":*", SYNC_FN, SYNC_FN + ":*"]
    assert not {"RunTheSyncTask", "PassTheSyncTaskRoles"} & {s.get("sid") for s in st}
    # Functions outside a VPC stay so (no network interfaces to manage).
    for b in ("producer", "compactor"):
        other = functions(m)[b]
        assert "vpc_config" not in other.instances("resource", "aws_lambda_function", "this")[0].body()
        assert other.instances("resource", "aws_iam_role_policy_attachment", "vpc") == []


def test_the_schedule_may_only_start_the_nightly_workflow():
    m = root()
    st = policy(m, "${data.aws_iam_policy_document.workflow_schedule.json}")
    assert grants(st) == {"states:StartExecution": ["${aws_sfn_state_machine.nightly.arn}"]}
    (role,) = [i.body() for i in m.instances("resource", "aws_iam_role", "workflow_schedule")]
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.events_assume.json}"


@pytest.mark.parametrize("bus", [None, "lake-events"])
def test_the_compactor_announces_on_its_one_bus(bus):
    m = root(**({} if bus is None else {"events_bus": bus}))
    fn = functions(m)["compactor"]
    puts = grants(role_statements(m, fn))["events:PutEvents"]
    assert len(puts) == 1 and puts[0].endswith(f":event-bus/{bus or 'default'}"), puts
    assert fn.vars["environment"]["FIRELAKE_EVENTS_BUS"] == (bus or "default")
