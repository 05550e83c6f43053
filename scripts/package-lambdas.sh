#!/usr/bin/env bash
# Build the Lambda artifacts infra/ deploys: target/lambda/<binary>/bootstrap.zip for each
# binary below, release builds for Lambda's provided.al2023 runtime. cargo-lambda (and zig,
# which it links with, so the binaries need no newer glibc than Lambda has) come from the
# project's Python venv (tests/requirements.txt).
#
#   bash scripts/package-lambdas.sh            # x86_64 (infra's default lambda_architecture)
#   bash scripts/package-lambdas.sh --arm64    # Graviton: then terraform apply -var lambda_architecture=arm64
#
# Extra arguments go to `cargo lambda build` (e.g. --compiler cargo to link with the host's
# toolchain instead of zig). Then: cd infra && terraform apply.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
source "$REPO/scripts/python-env.sh"
export PATH=$VENV/bin:$PATH

# The functions infra/lambda.tf deploys (infra/tests check the two lists agree), and the
# workspace packages they are in.
BINARIES=(producer firehose-transformer stream-consumer compactor)
PACKAGES=(firelake-producer firelake-firehose-transformer firelake-stream-consumer firelake-compactor)

target=--x86-64
if [ "${1:-}" = "--arm64" ]; then
    target=--arm64
    shift
fi
args=()
for i in "${!BINARIES[@]}"; do
    args+=(--package "${PACKAGES[$i]}" --bin "${BINARIES[$i]}")
done

cargo lambda build --release --locked --output-format zip "$target" "${args[@]}" "$@"

for b in "${BINARIES[@]}"; do
    zip=target/lambda/$b/bootstrap.zip
    [ -f "$zip" ] || { echo "error: $zip was not built" >&2; exit 1; }
    printf '%-24s %s (%s bytes)\n' "$b" "$zip" "$(stat -c %s "$zip")"
done
