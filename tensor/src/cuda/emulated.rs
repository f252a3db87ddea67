//! The tensor layer's own kernels (elementwise with layouts and broadcasts, reductions, indexing,
//! AdamW, conversions) run on the CPU emulator (`kernels::cuda::emulator`) with the op
//! codes, layouts and launch shapes this layer gives them, against the CPU storage's ops. The
//! GPU tests (`autograd/tests/cuda_ops.rs`) make the same comparison on a GPU.

use super::elementwise::{binary_code, cmp_code, unary_code};
use super::nn::adamw_constants;
use super::reduce::ColumnSumPlan;
use super::{over, KernelLayout};
use crate::cpu::{split_at_dim, CpuStorage, IntoStorage};
use crate::op::{BinaryOp, CmpOp, GeluApproximation, ReduceOp, UnaryOp};
use crate::{AdamWConfig, Layout};
use kernels::cuda::cudarc::driver::LaunchConfig;
use kernels::cuda::emulator::{emulator, Args};
use kernels::cuda::launch::grid;
use kernels::cuda::source;

fn run(file: &'static str, kernel: &str, cfg: LaunchConfig, args: &mut Args<'_>) {
    let emu = emulator(source(file)).unwrap_or_else(|e| panic!("{e}"));
    // Safety: each test passes the kernel's arguments in the order of its signature (the same
    // order as the tensor layer's launch), with buffers as large as the launch reads and writes.
    unsafe { emu.launch(kernel, cfg, args) }.unwrap_or_else(|e| panic!("{e}"));
}

fn floats(s: &CpuStorage) -> Vec<f32> {
    <f32 as IntoStorage>::slice(s).expect("f32 storage").to_vec()
}

/// Values in [0.25, 2.25): positive, so log, sqrt and pow are defined.
fn positive(n: usize, seed: usize) -> CpuStorage {
    IntoStorage::into_storage((0..n).map(|i| 0.25 + ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0).collect())
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{what}: element {i}: {g} vs {w}");
    }
}

/// A (3, 4, 5) view read through a permutation, and a (4, 1) column broadcast against it.
fn views() -> (Layout, Layout) {
    let x = Layout::contiguous(&[4, 5, 3]).permute(&[2, 0, 1]).unwrap();
    let y = Layout::contiguous(&[4, 1]).broadcast_to(&[3, 4, 5]).unwrap();
    (x, y)
}

#[test]
fn unary_and_binary_ops_read_strided_and_broadcast_operands() {
    let (lx, ly) = views();
    let (x, y) = (positive(60, 1), positive(4, 2));
    let n = lx.elem_count();
    let unary = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::Abs,
        UnaryOp::Gelu(GeluApproximation::Erf),
        UnaryOp::Gelu(GeluApproximation::Tanh),
        UnaryOp::AddScalar(0.5),
        UnaryOp::MulScalar(-3.0),
        UnaryOp::PowScalar(1.5),
        UnaryOp::DivScalar(4.0),
    ];
    for op in unary {
        let ((code, s), count, kx) = (unary_code(op), n as i64, KernelLayout::new("test", &lx).unwrap());
        let (xs, mut out) = (floats(&x), vec![0.0f32; n]);
        let mut args = Args::new();
        args.value(code).value(s).value(count).slice(&xs).value(kx).slice_mut(&mut out);
        run("elementwise.cu", "unary_f32", over(n), &mut args);
        drop(args);
        assert_close(&out, &floats(&x.unary(&lx, op).unwrap()), op.name());
    }
    let binary = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Maximum];
    for op in binary.into_iter().chain([BinaryOp::Minimum]) {
        let (ka, kb) = (KernelLayout::new("test", &lx).unwrap(), KernelLayout::new("test", &ly).unwrap());
        let (xs, ys, mut out) = (floats(&x), floats(&y), vec![0.0f32; n]);
        let mut args = Args::new();
        args.value(binary_code(op)).value(n as i64).slice(&xs).value(ka).slice(&ys).value(kb).slice_mut(&mut out);
        run("elementwise.cu", "binary_f32", over(n), &mut args);
        drop(args);
        assert_close(&out, &floats(&x.binary(&lx, &y, &ly, op).unwrap()), op.name());
    }
}

#[test]
fn comparisons_where_and_in_place_ops_follow_the_cpu() {
    let (lx, ly) = views();
    let (x, y) = (positive(60, 3), positive(4, 4));
    let n = lx.elem_count();
    let (ka, kb) = (KernelLayout::new("test", &lx).unwrap(), KernelLayout::new("test", &ly).unwrap());
    let (xs, ys) = (floats(&x), floats(&y));
    for op in [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge] {
        let mut mask = vec![7u32; n];
        let mut args = Args::new();
        args.value(cmp_code(op)).value(n as i64).slice(&xs).value(ka).slice(&ys).value(kb).slice_mut(&mut mask);
        run("elementwise.cu", "cmp_f32", over(n), &mut args);
        drop(args);
        let want = x.cmp(&lx, &y, &ly, op).unwrap();
        assert_eq!(mask, <u32 as IntoStorage>::slice(&want).unwrap(), "{}", op.name());
        // where(mask, x, y) with the mask dense.
        let km = KernelLayout::new("test", &Layout::contiguous(&[3, 4, 5])).unwrap();
        let mut out = vec![0.0f32; n];
        let mut args = Args::new();
        args.value(n as i64).slice(&mask).value(km).slice(&xs).value(ka).slice(&ys).value(kb).slice_mut(&mut out);
        run("elementwise.cu", "where_f32", over(n), &mut args);
        drop(args);
        let chosen = want.where_cond(&Layout::contiguous(&[3, 4, 5]), &x, &lx, &y, &ly).unwrap();
        assert_close(&out, &floats(&chosen), "where");
    }
    // dst += y (broadcast), in place.
    let mut dst = floats(&x.contiguous(&lx));
    let mut want = x.contiguous(&lx);
    want.add_assign(&y, &ly).unwrap();
    let mut args = Args::new();
    args.value(n as i64).slice_mut(&mut dst).slice(&ys).value(kb);
    run("elementwise.cu", "add_assign_f32", over(n), &mut args);
    drop(args);
    assert_close(&dst, &floats(&want), "add_assign");
    // fill, and a dense (4, 5) block copied into columns 2..7 of a (4, 9) output (cat's slab).
    let mut out = vec![0.0f32; 36];
    let mut args = Args::new();
    args.value(36i64).value(-1.5f32).slice_mut(&mut out);
    run("elementwise.cu", "fill_f32", over(36), &mut args);
    drop(args);
    let slab = KernelLayout::new("test", &Layout::from_parts(&[4, 5], &[9, 1], 2)).unwrap();
    let block: Vec<f32> = (0..20).map(|i| i as f32).collect();
    let mut args = Args::new();
    args.value(20i64).slice(&block).slice_mut(&mut out).value(slab);
    run("elementwise.cu", "copy_into_f32", over(20), &mut args);
    drop(args);
    for (i, v) in out.iter().enumerate() {
        let (r, c) = (i / 9, i % 9);
        let want = if (2..7).contains(&c) { (r * 5 + c - 2) as f32 } else { -1.5 };
        assert_eq!(*v, want, "copy_into at ({r}, {c})");
    }
}

#[test]
fn reductions_follow_the_cpu() {
    // Rows of a dense (rows, cols) block, as `reduce` hands them to the kernels.
    let (rows, cols) = (7, 300);
    let x = positive(rows * cols, 5);
    let layout = Layout::contiguous(&[rows, cols]);
    let xs = floats(&x);
    for (code, op) in [(0i32, ReduceOp::Sum), (1, ReduceOp::Max), (2, ReduceOp::Min)] {
        let mut out = vec![0.0f32; rows];
        let mut args = Args::new();
        args.value(code).value(rows as i32).value(cols as i64).slice(&xs).slice_mut(&mut out);
        run("reduce.cu", "reduce_rows_f32", grid(rows, 256), &mut args);
        drop(args);
        assert_close(&out, &floats(&x.reduce(&layout, &[1], op).unwrap()), op.name());
    }
    for (is_min, op) in [(0i32, ReduceOp::ArgMax), (1, ReduceOp::ArgMin)] {
        let mut out = vec![-1i64; rows];
        let mut args = Args::new();
        args.value(is_min).value(rows as i32).value(cols as i64).slice(&xs).slice_mut(&mut out);
        run("reduce.cu", "argreduce_rows_f32", grid(rows.div_ceil(128), 128), &mut args);
        drop(args);
        let want = x.reduce(&layout, &[1], op).unwrap();
        assert_eq!(out, <i64 as IntoStorage>::slice(&want).unwrap(), "{}", op.name());
    }
    // Column sums (bias gradients) in chunks of rows: enough rows for several chunks.
    let (rows, cols) = (200, 30);
    let x = positive(rows * cols, 6);
    let plan = ColumnSumPlan::new(rows, cols);
    assert!(plan.chunks > 1);
    let (xs, mut partial, mut out) = (floats(&x), vec![0.0f64; plan.chunks * cols], vec![0.0f32; cols]);
    let mut args = Args::new();
    args.value(rows as i64).value(cols as i32).value(plan.chunk as i64).slice(&xs).slice_mut(&mut partial);
    run("reduce.cu", "column_sums_partial", plan.cfg, &mut args);
    let mut args = Args::new();
    args.value(plan.chunks as i32).value(cols as i32).slice(&partial).slice_mut(&mut out);
    run("reduce.cu", "column_sums_finish", grid(cols.div_ceil(256), 256), &mut args);
    drop(args);
    let want = x.reduce(&Layout::contiguous(&[rows, cols]), &[0], ReduceOp::Sum).unwrap();
    assert_close(&out, &floats(&want), "column sums");
}

#[test]
fn index_kernels_follow_the_cpu() {
    // x (3, 4, 5) indexed on dim 1: `(outer, size, inner) = (3, 4, 5)`.
    let shape = [3, 4, 5];
    let layout = Layout::contiguous(&shape);
    let x = positive(60, 7);
    let xs = floats(&x);
    let (outer, size, inner) = split_at_dim(&shape, 1);
    let index_call = |kernel: &str, n: usize, ids: &[usize], input: &[f32], out: &mut [f32], work: usize| {
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let mut args = Args::new();
        args.value(outer as i64).value(size as i64).value(inner as i64).value(n as i64);
        args.slice(&ids).slice(input).slice_mut(out);
        run("index.cu", kernel, over(work), &mut args);
    };
    // index_select of ids [3, 0, 3] and its adjoint, index_add (the repeated id accumulates).
    let ids = [3, 0, 3];
    let picked = outer * ids.len() * inner;
    let mut selected = vec![0.0f32; picked];
    index_call("index_select_f32", ids.len(), &ids, &xs, &mut selected, picked);
    assert_close(&selected, &floats(&x.index_select(&layout, 1, &ids)), "index_select");
    let dy = positive(selected.len(), 8);
    let mut added = vec![0.0f32; 60];
    index_call("index_add_f32", ids.len(), &ids, &floats(&dy), &mut added, picked);
    let want = dy.index_add(&Layout::contiguous(&[3, 3, 5]), 1, &ids, size).unwrap();
    assert_close(&added, &floats(&want), "index_add");
    // gather along dim 1 with an index of shape (3, 2, 5), and scatter_add back.
    let index: Vec<usize> = (0..30).map(|i| (i * 7 + 1) % size).collect();
    let mut gathered = vec![0.0f32; 30];
    index_call("gather_f32", 2, &index, &xs, &mut gathered, 30);
    assert_close(&gathered, &floats(&x.gather(&layout, 1, &index, &[3, 2, 5])), "gather");
    let src = positive(30, 9);
    let mut scattered = vec![0.0f32; 60];
    index_call("scatter_add_f32", 2, &index, &floats(&src), &mut scattered, 30);
    let want = src.scatter_add(&Layout::contiguous(&[3, 2, 5]), 1, &index, &shape).unwrap();
    assert_close(&scattered, &floats(&want), "scatter_add");
}

#[test]
fn adamw_and_the_conversions_follow_the_cpu() {
    let n = 1000;
    let cfg = AdamWConfig { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 };
    let (mut p, g, mut m, mut v) = (positive(n, 10), positive(n, 11), positive(n, 12), positive(n, 13));
    let (mut pd, gd, mut md, mut vd) = (floats(&p), floats(&g), floats(&m), floats(&v));
    let layout = Layout::contiguous(&[n]);
    for t in 1..=3 {
        p.adamw_step((&g, &layout), &mut m, &mut v, &cfg, t).unwrap();
        let c = adamw_constants(&cfg, t);
        let mut args = Args::new();
        args.value(n as i64).slice_mut(&mut pd).slice(&gd).slice_mut(&mut md).slice_mut(&mut vd);
        for k in c {
            args.value(k);
        }
        run("adamw.cu", "adamw_step", over(n), &mut args);
    }
    assert_close(&pd, &floats(&p), "parameter");
    assert_close(&md, &floats(&m), "first moment");
    assert_close(&vd, &floats(&v), "second moment");
    // f32 → bf16 through a transposed view, rounded to nearest even as half::bf16 rounds.
    let view = Layout::contiguous(&[8, 5]).permute(&[1, 0]).unwrap();
    let x: Vec<f32> = (0..40).map(|i| 1.0 + i as f32 / 3.0 + 1e-3).collect();
    let mut out = vec![half::bf16::ZERO; 40];
    let mut args = Args::new();
    args.value(40i64).slice(&x).value(KernelLayout::new("test", &view).unwrap()).slice_mut(&mut out);
    run("convert.cu", "f32_to_bf16", over(40), &mut args);
    drop(args);
    let want: Vec<half::bf16> = view.offsets().map(|o| half::bf16::from_f32(x[o])).collect();
    assert_eq!(out, want);
    // Masks and ids through the same view: to f32 (as Rust's `as`), and copied as they are.
    let layout = KernelLayout::new("test", &view).unwrap();
    let mask: Vec<u32> = (0..40).map(|i| (i % 3 == 0) as u32).collect();
    let ids: Vec<i64> = (0..40).map(|i| (i - 20) * (1 << 30) + 1).collect();
    let (mut mask_f32, mut ids_f32) = (vec![0.0f32; 40], vec![0.0f32; 40]);
    let (mut mask_copy, mut ids_copy) = (vec![0u32; 40], vec![0i64; 40]);
    let mut args = Args::new();
    args.value(40i64).slice(&mask).value(layout).slice_mut(&mut mask_f32);
    run("convert.cu", "u32_to_f32", over(40), &mut args);
    let mut args = Args::new();
    args.value(40i64).slice(&ids).value(layout).slice_mut(&mut ids_f32);
    run("convert.cu", "i64_to_f32", over(40), &mut args);
    let mut args = Args::new();
    args.value(40i64).slice(&mask).value(layout).slice_mut(&mut mask_copy);
    run("convert.cu", "copy_u32", over(40), &mut args);
    let mut args = Args::new();
    args.value(40i64).slice(&ids).value(layout).slice_mut(&mut ids_copy);
    run("convert.cu", "copy_i64", over(40), &mut args);
    drop(args);
    assert_eq!(mask_f32, view.offsets().map(|o| mask[o] as f32).collect::<Vec<_>>());
    assert_eq!(ids_f32, view.offsets().map(|o| ids[o] as f32).collect::<Vec<_>>());
    assert_eq!(mask_copy, view.offsets().map(|o| mask[o]).collect::<Vec<_>>());
    assert_eq!(ids_copy, view.offsets().map(|o| ids[o]).collect::<Vec<_>>());
}
