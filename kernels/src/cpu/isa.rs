//! Which x86 instruction sets the CPU kernels use: what this CPU has (detected at run time), capped
//! by the environment variable `EMERGENT_CPU_ISA` — `avx2` (no AVX-512, as on the many laptops
//! without it) or `portable` (nothing beyond baseline x86-64) — so that the paths other machines
//! take can be tested and timed here. Read once per process; an unknown value is reported on
//! stderr and ignored.

use std::sync::OnceLock;

/// The variable that caps the instruction sets.
pub const ENV: &str = "EMERGENT_CPU_ISA";

/// The instruction sets the kernels are written for, from the narrowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Baseline x86-64 (SSE2), or any other architecture.
    Portable,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512 (F; BF16 where [`avx512_bf16`] says so).
    Avx512,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

/// The widest instruction set the kernels may use: this CPU's, capped by [`ENV`].
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let cap = match std::env::var(ENV) {
            Ok(value) => match value.as_str() {
                "avx512" => Isa::Avx512,
                "avx2" => Isa::Avx2,
                "portable" => Isa::Portable,
                other => {
                    eprintln!("{ENV}={other}: not one of avx512, avx2, portable; ignored");
                    Isa::Avx512
                }
            },
            Err(_) => Isa::Avx512,
        };
        detected().min(cap)
    })
}

/// Whether the kernels may use AVX512_BF16 (`vdpbf16ps`, `vcvtne2ps2bf16`, with AVX512BW).
pub fn avx512_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        isa() == Isa::Avx512
            && std::arch::is_x86_feature_detected!("avx512bf16")
            && std::arch::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// What this CPU has.
fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}
