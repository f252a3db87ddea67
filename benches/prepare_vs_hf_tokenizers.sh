#!/usr/bin/env bash
# `emergent prepare` against HF `tokenizers` (the Rust library with Python bindings that users would
# otherwise pick) on the same text, the same documents and the same threads, alternating rounds:
# tokens/s of each, their ratio, and whether the ids are identical. Then the peak memory (max RSS,
# /usr/bin/time -v) of `emergent prepare` on a large input, which streams.
#
#   benches/prepare_vs_hf_tokenizers.sh [MB for the speed rounds, default 64] [MB for memory, default 2048]
#
# Needs GPT-2's vocab.json + merges.txt in ../shared/data/gpt2 (or $GPT2_VOCAB_DIR) and the text in
# ../shared/data/tinyshakespeare.txt (or $TEXT), repeated to the size asked. Installs `tokenizers`
# from PyPI into a virtual environment under target/.
set -euo pipefail
cd "$(dirname "$0")/.."
SPEED_MB=${1:-64}
MEMORY_MB=${2:-2048}
VOCAB=${GPT2_VOCAB_DIR:-../shared/data/gpt2}
TEXT=${TEXT:-../shared/data/tinyshakespeare.txt}
THREADS=${THREADS:-$(nproc)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --release -p train --bin emergent >/dev/null
VENV=target/bench-tokenizers
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet tokenizers==0.22.1 numpy

repeat_to() { # repeat_to MB FILE
  local need=$(($1 * 1024 * 1024))
  : >"$2"
  while [ "$(stat -c %s "$2")" -lt "$need" ]; do cat "$TEXT" >>"$2"; printf '\n\n' >>"$2"; done
}
repeat_to "$SPEED_MB" "$WORK/speed.txt"

cat >"$WORK/hf.py" <<'PY'
# HF tokenizers on the documents emergent prepare makes: the text cut after every "\n\n", each
# document <|endoftext|> + its ids. Prints tokens/s and writes the ids for the comparison.
import sys, time, numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers, decoders
vocab, text_path, out = sys.argv[1:4]
tok = Tokenizer(models.BPE.from_file(f"{vocab}/vocab.json", f"{vocab}/merges.txt"))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
text = open(text_path, encoding="utf-8").read()
parts = text.split("\n\n")
docs = [p + "\n\n" for p in parts[:-1]] + [parts[-1]]
eot = tok.token_to_id("<|endoftext|>")
start = time.perf_counter()
encoded = tok.encode_batch(docs, add_special_tokens=False)
seconds = time.perf_counter() - start
ids = np.fromiter((i for e in encoded for i in [eot] + e.ids), dtype=np.uint16)
ids.tofile(out)
print(f"{len(ids)} {seconds:.3f}")
PY

echo "speed: ${SPEED_MB} MB of text, ${THREADS} threads, 3 alternating rounds"
printf '%-6s %14s %14s %8s\n' round emergent hf ratio
for round in 1 2 3; do
  rm -rf "$WORK/shards"
  printed=$(RAYON_NUM_THREADS=$THREADS target/release/emergent prepare "$WORK/speed.txt" --vocab "$VOCAB" \
    --out "$WORK/shards" --val-tokens 1000 --shard-tokens 1000000000)
  line=$(echo "$printed" | head -1)
  ours=$(echo "$line" | sed -n 's/.*(\([0-9]*\) tokens\/s).*/\1/p')
  read -r hf_tokens hf_seconds < <(RAYON_NUM_THREADS=$THREADS "$VENV/bin/python" "$WORK/hf.py" "$VOCAB" "$WORK/speed.txt" "$WORK/hf.ids")
  hf=$(python3 -c "print(round($hf_tokens / $hf_seconds))")
  printf '%-6s %14s %14s %8s\n' "$round" "$ours" "$hf" "$(python3 -c "print(f'{$ours / $hf:.2f}')")"
done
# The ids: the shards' tokens in shard-number order, concatenated, against HF's.
"$VENV/bin/python" - "$WORK" <<'PY'
import sys, glob, numpy as np
work = sys.argv[1]
ours = np.concatenate([np.fromfile(f, dtype=np.uint16, offset=1024) for f in sorted(glob.glob(f"{work}/shards/*.bin"), key=lambda f: f[-10:])])
hf = np.fromfile(f"{work}/hf.ids", dtype=np.uint16)
print(f"ids identical: {np.array_equal(ours, hf)} ({len(ours)} tokens)")
PY

if [ "$MEMORY_MB" -gt 0 ]; then
  repeat_to "$MEMORY_MB" "$WORK/memory.txt"
  rm -f "$WORK/speed.txt"
  /usr/bin/time -v target/release/emergent prepare "$WORK/memory.txt" --vocab "$VOCAB" --out "$WORK/big" \
    --val-tokens 1000000 2>"$WORK/time.log" >"$WORK/prepare.log"
  head -1 "$WORK/prepare.log"
  echo "memory: $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.log") kB max RSS on ${MEMORY_MB} MB of text"
fi
