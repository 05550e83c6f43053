#!/usr/bin/env bash
# Build the Lambda artifacts infra/ deploys: target/lambda/<binary>/bootstrap.zip for each
# binary below, built with the `lambda` profile (release, stripped) for Lambda's
# provided.al2023 runtime, and checked against Lambda's package limits. cargo-lambda (and
# zig, which it links with, so the binaries need no newer glibc than Lambda has) come from
# the project's Python venv (tests/requirements.txt).
#
#   bash scripts/package-lambdas.sh            # x86_64 (infra's default lambda_architecture)
#   bash scripts/package-lambdas.sh --arm64    # Graviton: then terraform apply -var lambda_architecture=arm64
#
# Extra arguments go to `cargo lambda build` (e.g. --compiler cargo to link with the host's
# toolchain instead of zig). Then: cd infra && terraform apply. The compactor's container
# image (compactor/Dockerfile) packages target/lambda/compactor/bootstrap from this build.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
source "$REPO/scripts/python-env.sh"
export PATH=$VENV/bin:$PATH

# The functions infra/lambda.tf and sync_lambda.tf deploy (infra/tests check the two lists agree), and the
# workspace packages they are in.
BINARIES=(producer firehose-transformer stream-consumer compactor sync-lambda)
PACKAGES=(firelake-producer firelake-firehose-transformer firelake-stream-consumer firelake-compactor firelake-sync)
# Lambda's limits for a .zip deployment package uploaded directly (bytes).
MAX_ZIPPED=$((50 * 1024 * 1024))
MAX_UNZIPPED=$((250 * 1024 * 1024))

target=--x86-64
if [ "${1:-}" = "--arm64" ]; then
    target=--arm64
    shift
fi
# The Firehose transformer is built on its own: built with the others, cargo would unify its
# firelake-core features with theirs and link Parquet and Arrow (scripts/check_features.sh).
# So is sync-lambda (infra/sync_lambda.tf): its firelake-aws features (Secrets Manager, RDS
# IAM tokens) stay out of the others.
args=()
for i in "${!BINARIES[@]}"; do
    if [ "${BINARIES[$i]}" = firehose-transformer ] || [ "${BINARIES[$i]}" = sync-lambda ]; then
        cargo lambda build --profile lambda --locked --output-format zip "$target" \
            --package "${PACKAGES[$i]}" --bin "${BINARIES[$i]}" "$@"
    else
        args+=(--package "${PACKAGES[$i]}" --bin "${BINARIES[$i]}")
    fi
done

cargo lambda build --profile lambda --locked --output-format zip "$target" "${args[@]}" "$@"

# sync-lambda checks the database's certificate (sslmode=verify-full) against RDS's CA
# bundle, the one compactor/Dockerfile puts in the image: in the zip, so at
# /var/task/global-bundle.pem (infra/sync_lambda.tf's FIRELAKE_PG_CA_FILE).
curl -fsSL --retry 3 -o target/lambda/sync-lambda/global-bundle.pem \
    https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
"$PY" - target/lambda/sync-lambda <<'PY'
import os, sys, zipfile
folder = sys.argv[1]
with zipfile.ZipFile(os.path.join(folder, "bootstrap.zip"), "a", zipfile.ZIP_DEFLATED) as z:
    if "global-bundle.pem" not in z.namelist():
        z.write(os.path.join(folder, "global-bundle.pem"), "global-bundle.pem")
PY

fail=0
printf '%-22s %12s %14s  %s\n' binary zipped unzipped package
for b in "${BINARIES[@]}"; do
    zip=target/lambda/$b/bootstrap.zip
    [ -f "$zip" ] || { echo "error: $zip was not built" >&2; exit 1; }
    zipped=$(stat -c %s "$zip")
    unzipped=$("$PY" -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip")
    awk -v b="$b" -v z="$zipped" -v u="$unzipped" -v f="$zip" \
        'BEGIN { printf "%-22s %9.1f MB %11.1f MB  %s\n", b, z / 1048576, u / 1048576, f }'
    if [ "$zipped" -gt "$MAX_ZIPPED" ]; then
        echo "error: $zip is $zipped bytes zipped; Lambda takes at most $MAX_ZIPPED for a direct upload" >&2
        fail=1
    fi
    if [ "$unzipped" -gt "$MAX_UNZIPPED" ]; then
        echo "error: $zip is $unzipped bytes unzipped; Lambda takes at most $MAX_UNZIPPED" >&2
        fail=1
    fi
done
[ "$fail" = 0 ] || exit 1
echo "within Lambda's limits (50 MB zipped, 250 MB unzipped)"

# `firelake sync` runs in the compactor's image too (infra/sync_task.tf): the CLI with the
# `sync` feature only (no librdkafka), built the same way, beside the bootstrap.
cargo lambda build --profile lambda --locked "$target" --package firelake --bin firelake \
    --no-default-features --features sync "$@"
cp target/lambda/firelake/bootstrap target/lambda/compactor/firelake

# The compactor's image (compactor/Dockerfile) takes the zip's binary: its build context is
# target/lambda/compactor, tagged by default with the zip's sha256 (infra's compactor_image).
"$PY" - target/lambda/compactor <<'PY'
import os, sys, zipfile
folder = sys.argv[1]
zipfile.ZipFile(os.path.join(folder, "bootstrap.zip")).extract("bootstrap", folder)
os.chmod(os.path.join(folder, "bootstrap"), 0o755)
PY
echo "compactor image: docker build -f compactor/Dockerfile -t REPOSITORY:$(sha256sum target/lambda/compactor/bootstrap.zip | cut -d' ' -f1) target/lambda/compactor"
