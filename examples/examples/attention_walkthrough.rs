//! `cargo run --release -p examples --example attention_walkthrough`: attention (F1) with numbers.

fn main() -> Result<(), tensor::Error> {
    let (text, worst) = examples::attention_walkthrough::walkthrough()?;
    print!("{text}");
    println!("largest gap between backward() and finite differences: {worst:.1e}");
    Ok(())
}
