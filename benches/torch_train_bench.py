"""PyTorch baselines for `emergent bench train`: the same presets, full training steps (forward,
backward, AdamW) on random tokens, median ms/step. Prints one JSON line per preset.

Two models of the same shapes and parameters:
- `hf`: Hugging Face `GPT2LMHeadModel` (separate mask and softmax in eager attention);
- `nanogpt`: a nanoGPT-style model (one fused qkv projection, `F.scaled_dot_product_attention`
  with `is_causal`, tanh GELU, tied embedding), the leaner PyTorch one writes by hand.
`--precision bf16` runs the forward and the loss under `torch.autocast("cpu", torch.bfloat16)`
(bf16 matrix products with f32 master weights), PyTorch's CPU mixed precision.

  .venv/bin/python benches/torch_train_bench.py --preset baby --model nanogpt --steps 10 --threads 2
"""
import argparse
import contextlib
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

PRESETS = {
    # name: (vocab, n_positions, n_embd, n_layer, n_head, batch, time)
    "baby": (65, 256, 384, 6, 6, 8, 256),
    "gpt2-124m": (50257, 1024, 768, 12, 12, 4, 64),
}


class SelfAttention(nn.Module):
    def __init__(self, embd: int, heads: int):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(embd, 3 * embd)
        self.c_proj = nn.Linear(embd, embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class Block(nn.Module):
    def __init__(self, embd: int, heads: int):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(embd), nn.LayerNorm(embd)
        self.attn = SelfAttention(embd, heads)
        self.mlp = nn.Sequential(nn.Linear(embd, 4 * embd), nn.GELU(approximate="tanh"), nn.Linear(4 * embd, embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGpt(nn.Module):
    def __init__(self, vocab: int, npos: int, embd: int, layers: int, heads: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, embd), nn.Embedding(npos, embd)
        self.blocks = nn.ModuleList(Block(embd, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(embd)
        self.lm_head = nn.Linear(embd, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))
            elif p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def make_model(name: str, vocab: int, npos: int, embd: int, layers: int, heads: int) -> nn.Module:
    if name == "nanogpt":
        return NanoGpt(vocab, npos, embd, layers, heads)
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=vocab, n_positions=npos, n_embd=embd, n_layer=layers, n_head=heads,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    hf = GPT2LMHeadModel(cfg)
    return _Logits(hf)


class _Logits(nn.Module):
    """HF's model returning its logits, as NanoGpt does."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx).logits


def bench(preset: str, model_name: str, precision: str, steps: int) -> dict:
    vocab, npos, embd, layers, heads, batch, t = PRESETS[preset]
    torch.manual_seed(0)
    model = make_model(model_name, vocab, npos, embd, layers, heads).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    autocast = (torch.autocast(device_type="cpu", dtype=torch.bfloat16) if precision == "bf16"
                else contextlib.nullcontext())
    times = []
    for step in range(steps + 1):
        tokens = torch.randint(0, vocab, (batch, t + 1))
        x, y = tokens[:, :-1], tokens[:, 1:]
        start = time.perf_counter()
        with autocast:
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, vocab).float(), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step > 0:
            times.append((time.perf_counter() - start) * 1e3)
    median = statistics.median(times)
    return {"preset": preset, "framework": f"pytorch {torch.__version__} {model_name}", "precision": precision,
            "threads": torch.get_num_threads(), "steps": steps, "ms_per_step_median": round(median, 1),
            "tokens_per_s": round(batch * t / (median / 1e3))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=sorted(PRESETS), action="append")
    ap.add_argument("--model", choices=["hf", "nanogpt"], default="hf")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for preset in args.preset or ["baby", "gpt2-124m"]:
        print(json.dumps(bench(preset, args.model, args.precision, args.steps)), flush=True)


if __name__ == "__main__":
    main()
