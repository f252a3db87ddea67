#!/usr/bin/env python3
"""What the H100 would run, read without a GPU: per kernel of a cubin, its SASS instruction count,
and each loop's (a backward branch's) static instruction count with its tensor-core (HMMA)
instructions; with --span START END (hex addresses), the number of instructions laid out from START
up to END, to count one path through a loop (a step's span less a branch's other side). Usage, after `cargo test --release -p kernels --test nvrtc -- --ignored` (which leaves
the cubins in $TMPDIR/emergent-ptx-<pid>/) and `pip install nvidia-cuda-cuobjdump`:

    python3 benches/sass_report.py CUOBJDUMP CUBIN KERNEL [KERNEL…]
    python3 benches/sass_report.py CUOBJDUMP CUBIN KERNEL --span 0x42e0 0x9830

See DEVELOPERS.md ("Reading the machine code")."""
import re
import subprocess
import sys


def instructions(cuobjdump, cubin, kernel):
    """(address, text) of each instruction of `kernel`, in order."""
    sass = subprocess.run([cuobjdump, "-sass", "-fun", kernel, cubin], capture_output=True, text=True, check=True)
    found = []
    for line in sass.stdout.splitlines():
        m = re.match(r"\s*/\*([0-9a-f]{4,6})\*/\s+(.*?)\s*;", line)
        if m:
            found.append((int(m.group(1), 16), m.group(2)))
    return found


def loops(code):
    """(start, end, instructions, HMMA) of every backward branch: a loop's body, as laid out. (A
    branch back from the cold code after the kernel's exits, the divergent path of a shuffle, is
    not a loop: its span holds an EXIT.)"""
    for address, text in code:
        m = re.search(r"\bBRA(?:\.\S+)?\s+(?:\S+,\s*)?0x([0-9a-f]+)", text)
        if m and int(m.group(1), 16) < address:
            start = int(m.group(1), 16)
            body = [t for a, t in code if start <= a <= address]
            if not any(t.split()[-1] == "EXIT" or t.endswith("EXIT") for t in body):
                yield start, address, len(body), sum("HMMA" in t for t in body)


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    cuobjdump, cubin, kernels = argv[1], argv[2], argv[3:]
    if "--span" in kernels:
        at = kernels.index("--span")
        start, end = (int(x, 16) for x in kernels[at + 1:at + 3])
        for kernel in kernels[:at]:
            code = instructions(cuobjdump, cubin, kernel)
            print(f"{kernel}: {sum(start <= a < end for a, _ in code)} instructions in {start:#x}..{end:#x}")
        return
    for kernel in kernels:
        code = instructions(cuobjdump, cubin, kernel)
        if not code:
            sys.exit(f"{kernel}: not in {cubin}")
        branches = sum(" BRA" in f" {t}" for _, t in code)
        print(f"{kernel}: {len(code)} instructions, {branches} branches, "
              f"{sum('BSSY' in t for _, t in code)} reconvergence points (BSSY)")
        for start, end, count, hmma in loops(code):
            print(f"  loop {start:#x}..{end:#x}: {count} instructions, {hmma} HMMA")


if __name__ == "__main__":
    main(sys.argv)
