# Sourced by scripts/test.sh (after tests/emulators.sh) and bench/kafka_consumer.sh: installs
# tansu, a Kafka-protocol broker (DESIGN.md: real protocol, classic consumer groups,
# idempotent produce), if it is not there yet, starts it on a free loopback port with
# in-memory storage, and exports FIRELAKE_KAFKA=127.0.0.1:PORT for the tests. The broker stops
# when the sourcing script exits.
#
# FIRELAKE_TANSU=/path/to/tansu uses an installed binary instead of installing one.
EMU_DIR=${EMU_DIR:-$REPO/.emulators}
mkdir -p "$EMU_DIR"
if [ -z "${FIRELAKE_TANSU:-}" ]; then
    EMU_DIR=$EMU_DIR bash "$REPO/tests/install_tansu.sh"
    FIRELAKE_TANSU=$EMU_DIR/tansu/bin/tansu
fi
export FIRELAKE_TANSU
if [ ! -x "$FIRELAKE_TANSU" ]; then
    echo "error: no tansu binary at $FIRELAKE_TANSU" >&2
    exit 1
fi
KAFKA_PORT=$("${PY:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$FIRELAKE_TANSU" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine memory://tansu/ >"$EMU_DIR/tansu.log" 2>&1 &
EMU_PIDS="${EMU_PIDS:-} $!"
trap 'kill $EMU_PIDS 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null && break
    sleep 0.1
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then
    echo "error: tansu did not start; its log:" >&2
    cat "$EMU_DIR/tansu.log" >&2
    exit 1
fi
export FIRELAKE_KAFKA=127.0.0.1:$KAFKA_PORT
echo "kafka broker: tansu $("$FIRELAKE_TANSU" --version 2>/dev/null | awk '{print $NF}') on $FIRELAKE_KAFKA"
