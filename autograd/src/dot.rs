//! The graph as Graphviz DOT, for people learning backprop: `dot -Tpng graph.dot -o graph.png`.

use crate::backward::topological_order;
use crate::Var;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use tensor::{Result, Tensor};

/// Values shown in full up to this many elements; larger tensors show their first few.
const SHOWN: usize = 6;

impl Var {
    /// The graph behind `self` in DOT: ops as boxes (name and output shape), leaves as ellipses
    /// (parameters by name, in blue), edges from inputs to the op that used them.
    pub fn to_dot(&self) -> String {
        write_dot(self, None)
    }

    /// The graph as [`Var::to_dot`] draws it, every node labelled with its value and its gradient
    /// `dL/dv` for `L = self` (a one-element output), as micrograd's `draw_dot` shows them; the
    /// constant inputs (data, targets) appear too, in grey, with their values. Computing the
    /// gradients here leaves every parameter's `grad()` as it was.
    pub fn to_dot_with_values(&self) -> Result<String> {
        let grads = self.gradients_of_every_node(&self.value().ones_like())?;
        Ok(write_dot(self, Some(&grads)))
    }
}

/// `[a, b, …]` of a tensor's values, 4 significant digits, the first [`SHOWN`] of a large one.
fn values(t: &Tensor) -> String {
    let v = t.to_f64_vec();
    let shown: Vec<String> = v.iter().take(SHOWN).map(|x| format!("{x:.4}")).collect();
    let more = if v.len() > SHOWN { ", …" } else { "" };
    format!("[{}{more}]", shown.join(", "))
}

fn write_dot(root: &Var, grads: Option<&HashMap<usize, Tensor>>) -> String {
    let mut dot = String::from("digraph autograd {\n  rankdir=BT;\n  node [fontname=\"Helvetica\"];\n");
    let detail = |var: &Var| match grads {
        None => String::new(),
        Some(g) => {
            let grad = g.get(&var.id()).map_or("—".to_string(), values);
            format!("\\nvalue {}\\ngrad {grad}", values(&var.value()))
        }
    };
    let mut constants = HashSet::new();
    for var in topological_order(root) {
        let (shape, more) = (var.shape(), detail(&var));
        let _ = match (&var.0.op, var.name()) {
            (Some(op), _) => writeln!(dot, "  n{} [shape=box, label=\"{}\\n{shape:?}{more}\"];", var.id(), op.name),
            (None, Some(name)) => {
                writeln!(dot, "  n{} [shape=ellipse, color=blue, label=\"{name}\\n{shape:?}{more}\"];", var.id())
            }
            (None, None) => writeln!(dot, "  n{} [shape=ellipse, label=\"leaf\\n{shape:?}{more}\"];", var.id()),
        };
        for input in var.0.op.iter().flat_map(|op| &op.inputs) {
            if input.requires_grad() {
                let _ = writeln!(dot, "  n{} -> n{};", input.id(), var.id());
            } else if grads.is_some() {
                if constants.insert(input.id()) {
                    let label = format!("constant\\n{:?}\\nvalue {}", input.shape(), values(&input.value()));
                    let _ = writeln!(
                        dot,
                        "  n{} [shape=ellipse, color=gray, fontcolor=gray40, label=\"{label}\"];",
                        input.id()
                    );
                }
                let _ = writeln!(dot, "  n{} -> n{} [color=gray];", input.id(), var.id());
            }
        }
    }
    dot.push_str("}\n");
    dot
}

#[cfg(test)]
mod tests {
    use crate::Var;
    use tensor::{DType, Tensor};

    #[test]
    fn values_gradients_and_constants_are_labelled_and_grads_left_alone() {
        // L = sum(w · x), x constant: dL/dw = x, dL/d(w·x) = 1.
        let w = Var::parameter(Tensor::from_f64s(&[2.0, -3.0], &[2], DType::F64).unwrap(), "w");
        let x = Var::constant(Tensor::from_f64s(&[0.5, 4.0], &[2], DType::F64).unwrap());
        let l = w.mul(&x).unwrap().sum_all().unwrap();
        let dot = l.to_dot_with_values().unwrap();
        assert!(dot.contains("w\\n[2]\\nvalue [2.0000, -3.0000]\\ngrad [0.5000, 4.0000]"), "{dot}");
        assert!(dot.contains("value [1.0000, -12.0000]\\ngrad [1.0000, 1.0000]"), "{dot}");
        assert!(dot.contains("constant\\n[2]\\nvalue [0.5000, 4.0000]"), "{dot}");
        assert!(dot.contains("value [-11.0000]\\ngrad [1.0000]"), "{dot}");
        assert!(w.grad().is_none(), "showing gradients must not accumulate them");
        assert!(!l.to_dot().contains("constant"), "the plain graph keeps to what needs a gradient");
    }
}
