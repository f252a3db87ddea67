//! `cargo run --release -p examples --example backprop_walkthrough [OUT_DIR]`: backpropagation by hand
//! next to autograd; writes the graph as `backprop.dot` (and `backprop.png` when Graphviz's `dot` is
//! installed) into OUT_DIR (default: the current folder).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (text, dot, _) = examples::backprop_walkthrough::walkthrough()?;
    print!("{text}");
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let dot_path = dir.join("backprop.dot");
    std::fs::write(&dot_path, dot)?;
    println!("\nthe graph: {}", dot_path.display());
    let png = dir.join("backprop.png");
    match std::process::Command::new("dot").arg("-Tpng").arg(&dot_path).arg("-o").arg(&png).status() {
        Ok(status) if status.success() => println!("rendered: {}", png.display()),
        _ => println!("(install Graphviz to render it: dot -Tpng {} -o {})", dot_path.display(), png.display()),
    }
    Ok(())
}
