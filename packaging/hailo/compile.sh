#!/usr/bin/env bash
# Compile a cardsight embedding model to a Hailo-8L HEF with the Hailo Dataflow Compiler (DFC).
#
#   python -m models.hailo_kit --model models/card/card_student.onnx --out build/hailo   # anywhere
#   packaging/hailo/compile.sh build/hailo [models/card/]                                # on the DFC machine
#
# Reads kit.json, the ONNX model, calib_set.npy and model.alls from the kit folder; writes
# <model>.hef and <model>.hef.json (naming the ONNX sha256 the runtime checks) into the output
# folder (default: the kit folder). Needs the `hailo` CLI of the Hailo AI Software Suite.
set -euo pipefail

KIT="${1:?usage: compile.sh KIT_DIR [OUT_DIR]}"
OUT="${2:-$KIT}"
HAILO="${HAILO_CLI:-hailo}"

if ! command -v "$HAILO" >/dev/null 2>&1; then
    echo "the Hailo DFC CLI ($HAILO) is not installed; see packaging/hailo/README.md" >&2
    exit 1
fi
for needed in kit.json model.alls calib_set.npy; do
    [ -f "$KIT/$needed" ] || { echo "missing $KIT/$needed (run python -m models.hailo_kit)" >&2; exit 1; }
done

field() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$KIT/kit.json" "$1"
}
ONNX="$(field onnx)"
NAME="${ONNX%.onnx}"
ARCH="$(field hw_arch)"
INPUT="$(field input_node)"
OUTPUT="$(field output_node)"
SHA="$(field onnx_sha256)"

cd "$KIT"
"$HAILO" parser onnx "$ONNX" --hw-arch "$ARCH" --start-node-names "$INPUT" --end-node-names "$OUTPUT" \
    --har-path "$NAME.har" -y
"$HAILO" optimize "$NAME.har" --hw-arch "$ARCH" --calib-set-path calib_set.npy --model-script model.alls \
    --output-har-path "${NAME}_optimized.har"
"$HAILO" compiler "${NAME}_optimized.har" --hw-arch "$ARCH" --output-dir .
cd - >/dev/null

mkdir -p "$OUT"
if [ "$(cd "$KIT" && pwd)" != "$(cd "$OUT" && pwd)" ]; then
    cp "$KIT/$NAME.hef" "$OUT/$NAME.hef"
fi
python3 - "$OUT/$NAME.hef.json" "$SHA" "$ARCH" <<'PY'
import json, sys, datetime
path, sha, arch = sys.argv[1:4]
json.dump({"onnx_sha256": sha, "hw_arch": arch, "normalisation_in_hef": True,
           "compiled_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
          open(path, "w"), indent=2)
PY
echo "wrote $OUT/$NAME.hef and $OUT/$NAME.hef.json"
