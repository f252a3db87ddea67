"""PyTorch baseline for `emergent bench train`: the same presets, fp32, full training steps
(forward, backward, AdamW) on random tokens, median ms/step. Prints one JSON line per preset.

  .venv/bin/python benches/torch_train_bench.py --preset baby --steps 10 --threads 2
"""
import argparse
import json
import statistics
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

PRESETS = {
    # name: (vocab, n_positions, n_embd, n_layer, n_head, batch, time)
    "baby": (65, 256, 384, 6, 6, 8, 256),
    "gpt2-124m": (50257, 1024, 768, 12, 12, 4, 64),
}


def bench(preset: str, steps: int) -> dict:
    vocab, npos, embd, layers, heads, batch, t = PRESETS[preset]
    cfg = GPT2Config(vocab_size=vocab, n_positions=npos, n_embd=embd, n_layer=layers, n_head=heads,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    times = []
    for step in range(steps + 1):
        tokens = torch.randint(0, vocab, (batch, t + 1))
        x, y = tokens[:, :-1], tokens[:, 1:]
        start = time.perf_counter()
        logits = model(x).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step > 0:
            times.append((time.perf_counter() - start) * 1e3)
    median = statistics.median(times)
    return {"preset": preset, "framework": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(),
            "steps": steps, "ms_per_step_median": round(median, 1), "tokens_per_s": round(batch * t / (median / 1e3))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=sorted(PRESETS), action="append")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for preset in args.preset or ["baby", "gpt2-124m"]:
        print(json.dumps(bench(preset, args.steps)), flush=True)


if __name__ == "__main__":
    main()
