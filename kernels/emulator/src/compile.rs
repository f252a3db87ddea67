//! A kernel source as C++ for the host compiler, and its build into a shared library.

use crate::Source;
use std::path::{Path, PathBuf};

const HEADERS: [(&str, &str); 4] = [
    ("cuda_emulator.hpp", include_str!("../cpp/cuda_emulator.hpp")),
    ("cuda_bf16.h", include_str!("../cpp/cuda_bf16.h")),
    ("mma.h", include_str!("../cpp/mma.h")),
    ("tensor_map.h", include_str!("../cpp/tensor_map.h")),
];

/// The version of the way a library is built (see `compile`).
const BUILD: u32 = 4;

/// The source as a C++ file: the emulator's header, the kernels (dynamic shared memory rewritten
/// to the emulator's buffer) `emu_launch`, which finds a kernel by name, and `emu_fault`, the
/// message of a broken contract.
pub(crate) fn translation_unit(source: &Source) -> String {
    let mut out = String::from("#include \"cuda_emulator.hpp\"\n");
    for line in source.text.lines() {
        out.push_str(&dynamic_shared(line).unwrap_or_else(|| line.to_string()));
        out.push('\n');
    }
    out.push_str(
        "EMU_EXPORT int emu_launch(const char* kernel, const unsigned* grid, const unsigned* block, size_t shared, \
         unsigned cluster, void** params, size_t count) {\n",
    );
    for kernel in source.kernels {
        out.push_str(&format!(
            "    if (strcmp(kernel, \"{kernel}\") == 0) return emu::launch({kernel}, grid, block, shared, cluster, params, count);\n"
        ));
    }
    out.push_str("    return -1;\n}\n");
    out.push_str("EMU_EXPORT const char* emu_fault() { return emu::fault_message; }\n");
    out
}

/// `extern __shared__ [__align__(n)] T name[];` → `T* name = (T*)emu::dynamic_shared();` (aligned to
/// 128 bytes, the most a kernel asks for), else `None`.
fn dynamic_shared(line: &str) -> Option<String> {
    let declaration = line.trim().strip_prefix("extern __shared__ ")?.strip_suffix("[];")?;
    let declaration = match declaration.strip_prefix("__align__(") {
        Some(rest) => rest.split_once(") ")?.1,
        None => declaration,
    };
    let (ty, name) = declaration.rsplit_once(' ')?;
    let indent = &line[..line.len() - line.trim_start().len()];
    Some(format!("{indent}{ty}* {name} = static_cast<{ty}*>(emu::dynamic_shared());"))
}

/// `program` (with the emulator's headers beside it) compiled into a shared library
/// `<stem>.so` in a cache folder named by `label` and a hash of everything that goes in, and that
/// library's path; built unless it is there already.
pub(crate) fn build_library(label: &str, stem: &str, program: &str, flags: &[&str]) -> Result<PathBuf, String> {
    let compiler = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    let flags: Vec<&str> = ["-std=c++17", "-g", "-fPIC", "-shared", "-w"].iter().chain(flags).copied().collect();
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        // BUILD changes when `compile` does, so libraries built the old way are not reused.
        (BUILD, program, HEADERS, &compiler, &flags).hash(&mut h);
        h.finish()
    };
    let dir = std::env::temp_dir().join("emergent-emulator").join(format!("{label}-{key:016x}"));
    let library = dir.join(format!("{stem}.so"));
    if !library.exists() {
        compile(&dir, stem, program, &compiler, &flags, &library)?;
    }
    Ok(library)
}

/// Writes the headers and the program into `dir` and compiles them into `library` (through
/// temporary names, so a concurrent build never sees half a library). The program stays beside
/// it as `<stem>.cpp`, where the debugger looks for it.
fn compile(
    dir: &Path,
    stem: &str,
    program: &str,
    compiler: &str,
    flags: &[&str],
    library: &Path,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in HEADERS {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))?;
    }
    let unique = format!("{}-{:?}", std::process::id(), std::thread::current().id());
    let cpp = dir.join(format!("{stem}-{unique}.cpp"));
    let partial: PathBuf = dir.join(format!("{stem}-{unique}.so.partial"));
    std::fs::write(&cpp, program).map_err(|e| format!("{}: {e}", cpp.display()))?;
    let source = dir.join(format!("{stem}.cpp"));
    let output = std::process::Command::new(compiler)
        .args(flags)
        .arg(format!("-fdebug-prefix-map={}={}", cpp.display(), source.display()))
        .arg("-I")
        .arg(dir)
        .arg("-o")
        .arg(&partial)
        .arg(&cpp)
        .output()
        .map_err(|e| format!("running {compiler} (a C++17 compiler; set CXX to choose another): {e}"))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&cpp);
        return Err(format!("{compiler} failed:\n{}", String::from_utf8_lossy(&output.stderr)));
    }
    std::fs::rename(&cpp, &source).map_err(|e| format!("{}: {e}", source.display()))?;
    std::fs::rename(&partial, library).map_err(|e| format!("{}: {e}", library.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_shared_memory_becomes_the_emulators_buffer() {
        assert_eq!(
            dynamic_shared("    extern __shared__ float partials[];").as_deref(),
            Some("    float* partials = static_cast<float*>(emu::dynamic_shared());")
        );
        assert_eq!(
            dynamic_shared("  extern __shared__ __align__(128) __nv_bfloat16 stages[];").as_deref(),
            Some("  __nv_bfloat16* stages = static_cast<__nv_bfloat16*>(emu::dynamic_shared());")
        );
        assert_eq!(dynamic_shared("    __shared__ float tile[32];"), None);
    }

    #[test]
    fn the_launcher_knows_every_kernel_of_the_source() {
        let source = Source {
            name: "two.cu",
            text: "extern \"C\" __global__ void first(float* x) {}\nextern \"C\" __global__ void second() {}\n",
            kernels: &["first", "second"],
        };
        let unit = translation_unit(&source);
        assert!(unit.starts_with("#include \"cuda_emulator.hpp\""));
        assert!(unit.contains("void first(float* x) {}"));
        for kernel in source.kernels {
            assert!(unit.contains(&format!("emu::launch({kernel},")), "{kernel}");
        }
    }
}
