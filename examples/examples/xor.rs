//! `cargo run --release -p examples --example xor`: a 2-8-1 perceptron learns XOR by gradient descent.

fn main() -> Result<(), tensor::Error> {
    let run = examples::xor::train_xor(8, 1000, 0.5, 0)?;
    for (step, loss) in run.losses.iter().enumerate().filter(|(s, _)| s % 100 == 0 || *s + 1 == run.losses.len()) {
        println!("step {step:>4}  loss {loss:.4}");
    }
    println!("\n x1 x2 | P(x1 xor x2)");
    for (i, p) in run.probabilities.iter().enumerate() {
        println!("  {}  {} | {p:.3}", i / 2, i % 2);
    }
    Ok(())
}
