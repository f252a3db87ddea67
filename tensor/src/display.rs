//! Readable printing: nested brackets like numpy, long dims elided with `…`.

use crate::{DType, Tensor};
use std::fmt;

/// Dims longer than this show their first and last `EDGE` entries only.
const MAX_FULL: usize = 8;
const EDGE: usize = 3;

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.to_f64_vec();
        let float = self.dtype().is_float();
        let fmt_one = |v: f64| if float { format!("{v:.4}") } else { format!("{v}") };
        let strides = crate::shape::contiguous_strides(self.shape());
        let mut out = String::new();
        write_nested(&mut out, &values, self.shape(), &strides, 0, 0, &fmt_one);
        let dtype = match self.dtype() {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::BF16 => "bf16",
            DType::F16 => "f16",
            DType::U32 => "u32",
            DType::I64 => "i64",
        };
        write!(f, "{out}\nTensor[{:?}, {dtype}, {}]", self.shape(), self.device())
    }
}

fn write_nested(
    out: &mut String,
    values: &[f64],
    shape: &[usize],
    strides: &[usize],
    depth: usize,
    base: usize,
    fmt_one: &dyn Fn(f64) -> String,
) {
    if depth == shape.len() {
        out.push_str(&fmt_one(values[base]));
        return;
    }
    let n = shape[depth];
    let shown: Vec<Option<usize>> = if n > MAX_FULL {
        (0..EDGE).map(Some).chain([None]).chain((n - EDGE..n).map(Some)).collect()
    } else {
        (0..n).map(Some).collect()
    };
    out.push('[');
    for (k, i) in shown.iter().enumerate() {
        if k > 0 {
            out.push(',');
            if depth + 1 < shape.len() {
                out.push('\n');
                out.push_str(&" ".repeat(depth + 1));
            } else {
                out.push(' ');
            }
        }
        match i {
            Some(i) => write_nested(out, values, shape, strides, depth + 1, base + i * strides[depth], fmt_one),
            None => out.push('…'),
        }
    }
    out.push(']');
}
