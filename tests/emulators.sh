# Sourced by scripts/test.sh: installs and starts the local AWS stand-ins on loopback (see
# DESIGN.md): moto_server (S3, Glue, Secrets Manager) and kinesalite (Kinesis), and exports
# the standard AWS variables that point every SDK and firelake binary at them. They stop
# when the test script exits.
EMU_DIR=$REPO/.emulators
mkdir -p "$EMU_DIR"
if [ ! -f "$EMU_DIR/node_modules/kinesalite/package.json" ] || [ ! -f "$EMU_DIR/node_modules/kinesis-local/main.js" ]; then
    # kinesis-local (kinesis-mock) emulates resharding (ChildShards), which kinesalite does not.
    (cd "$EMU_DIR" && npm install --silent --no-audit --no-fund kinesalite@3.3.3 kinesis-local@0.6.2 >/dev/null)
fi
export FIRELAKE_KINESIS_LOCAL=$EMU_DIR/node_modules/kinesis-local/main.js
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MOTO_PORT=$(free_port)
KINESIS_PORT=$(free_port)
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$EMU_DIR/moto.log" 2>&1 &
EMU_PIDS="$!"
(cd "$EMU_DIR" && exec node -e "require('kinesalite')({createStreamMs:50,deleteStreamMs:50,updateStreamMs:50,shardLimit:100}).listen($KINESIS_PORT,'127.0.0.1')") >"$EMU_DIR/kinesalite.log" 2>&1 &
EMU_PIDS="$EMU_PIDS $!"
trap 'kill $EMU_PIDS 2>/dev/null || true' EXIT
for port in "$MOTO_PORT" "$KINESIS_PORT"; do
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
done
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_KINESIS=http://127.0.0.1:$KINESIS_PORT
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_EC2_METADATA_DISABLED=true
export FIRELAKE_EMULATORS=1
echo "emulators: moto on $MOTO_PORT, kinesalite on $KINESIS_PORT"
