//! The graph as Graphviz DOT, for people learning backprop: `dot -Tpng graph.dot -o graph.png`.

use crate::backward::topological_order;
use crate::Var;
use std::fmt::Write;

impl Var {
    /// The graph behind `self` in DOT: ops as boxes (name and output shape), leaves as ellipses
    /// (parameters by name, in blue), edges from inputs to the op that used them.
    pub fn to_dot(&self) -> String {
        let mut dot = String::from("digraph autograd {\n  rankdir=BT;\n  node [fontname=\"Helvetica\"];\n");
        for var in topological_order(self) {
            let shape = var.shape();
            let _ = match (&var.0.op, var.name()) {
                (Some(op), _) => writeln!(dot, "  n{} [shape=box, label=\"{}\\n{:?}\"];", var.id(), op.name, shape),
                (None, Some(name)) => {
                    writeln!(dot, "  n{} [shape=ellipse, color=blue, label=\"{}\\n{:?}\"];", var.id(), name, shape)
                }
                (None, None) => writeln!(dot, "  n{} [shape=ellipse, label=\"leaf\\n{:?}\"];", var.id(), shape),
            };
            if let Some(op) = &var.0.op {
                for input in op.inputs.iter().filter(|v| v.requires_grad()) {
                    let _ = writeln!(dot, "  n{} -> n{};", input.id(), var.id());
                }
            }
        }
        dot.push_str("}\n");
        dot
    }
}
