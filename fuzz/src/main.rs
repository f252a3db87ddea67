//! `fuzz_target TARGET`: AFL++ runs this binary (built by `cargo afl build`) with inputs for one
//! target on stdin, many per process (persistent mode). `fuzz_target seeds TARGET DIR` writes the
//! target's starting corpus of valid files.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [seeds, target, dir] if seeds == "seeds" => {
            emergent_fuzz::write_seeds(target, std::path::Path::new(dir)).expect("seeds written");
        }
        [target] if emergent_fuzz::TARGETS.contains(&target.as_str()) => {
            let target = target.clone();
            afl::fuzz!(|data: &[u8]| emergent_fuzz::run(&target, data));
        }
        _ => {
            eprintln!(
                "usage: fuzz_target TARGET | fuzz_target seeds TARGET DIR; targets: {}",
                emergent_fuzz::TARGETS.join(" ")
            );
            std::process::exit(2);
        }
    }
}
