//! Compiling a kernel source to PTX with NVRTC, loaded dynamically: a machine without the library
//! gets an error that says so, never a panic.

use super::KernelSource;

/// What can go wrong on the way to a GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CudaError {
    /// The NVRTC library could not be loaded.
    NoNvrtc,
    /// The CUDA driver library could not be loaded (no NVIDIA driver on this machine).
    NoDriver,
    /// The driver is there, but not the device asked for.
    NoDevice { ordinal: usize, count: usize },
    /// A driver call failed: what was being done, and the driver's error.
    Driver(String),
    /// NVRTC rejected a source: its name and the compiler's log.
    Compile { source: String, log: String },
}

impl std::fmt::Display for CudaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CudaError::NoNvrtc => write!(
                f,
                "NVRTC (libnvrtc.so) not found: install the CUDA toolkit or the nvidia-cuda-nvrtc wheel and put \
                 its lib folder on LD_LIBRARY_PATH"
            ),
            CudaError::NoDriver => write!(f, "no CUDA device: the NVIDIA driver library (libcuda.so) is not installed"),
            CudaError::NoDevice { ordinal, count } => {
                write!(f, "no CUDA device {ordinal}: this machine has {count} CUDA device(s)")
            }
            CudaError::Driver(what) => write!(f, "CUDA driver error {what}"),
            CudaError::Compile { source, log } => write!(f, "NVRTC could not compile {source}:\n{log}"),
        }
    }
}

impl std::error::Error for CudaError {}

/// Whether the NVRTC library can be loaded (checked before any call into it).
pub fn nvrtc_available() -> bool {
    #[cfg(feature = "emulator")]
    super::emulated::install_if_requested();
    // Safety: only tries to open the shared library; nothing is called through it.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// PTX of `kernel` for the GPU architecture `arch` (e.g. `"sm_90"`), with `include_paths` searched
/// for CUDA headers (`cuda_bf16.h`, `mma.h`). Compiled at `-O3` (NVRTC's default), C++17.
pub fn compile(kernel: &KernelSource, arch: &'static str, include_paths: &[String]) -> Result<String, CudaError> {
    if !nvrtc_available() {
        return Err(CudaError::NoNvrtc);
    }
    let opts = cudarc::nvrtc::CompileOptions {
        arch: Some(arch),
        include_paths: include_paths.to_vec(),
        options: vec!["--std=c++17".into()],
        name: Some(kernel.name.to_string()),
        ..Default::default()
    };
    match cudarc::nvrtc::compile_ptx_with_opts(kernel.source, opts) {
        Ok(ptx) => Ok(ptx.to_src()),
        Err(e) => Err(CudaError::Compile { source: kernel.name.to_string(), log: format!("{e:?}") }),
    }
}

/// `ptxas -v`'s report for `ptx` assembled for `arch`: per kernel, registers, barriers and shared
/// memory. An error if `ptxas` cannot run or rejects the PTX.
pub fn ptxas_report(ptx: &str, name: &str, arch: &str, ptxas: &std::path::Path) -> Result<String, CudaError> {
    let dir = std::env::temp_dir().join(format!("emergent-ptx-{}", std::process::id()));
    let failed = |log: String| CudaError::Compile { source: name.to_string(), log };
    std::fs::create_dir_all(&dir).map_err(|e| failed(e.to_string()))?;
    let (input, output) = (dir.join(format!("{name}.ptx")), dir.join(format!("{name}.cubin")));
    std::fs::write(&input, ptx).map_err(|e| failed(e.to_string()))?;
    let run = std::process::Command::new(ptxas)
        .arg(format!("-arch={arch}"))
        .args(["-v", "-o"])
        .arg(&output)
        .arg(&input)
        .output()
        .map_err(|e| failed(format!("cannot run {}: {e}", ptxas.display())))?;
    let report = String::from_utf8_lossy(&run.stderr).to_string();
    if !run.status.success() {
        return Err(failed(report));
    }
    // One line per kernel: "kernel: Used N registers, … bytes smem", and its spills if any; then a
    // "warning:" line for each performance loss ptxas points out (wgmma serialized, say).
    let (mut lines, mut warnings) = (Vec::new(), Vec::new());
    let (mut current, mut spills) = (String::new(), String::new());
    for line in report.lines() {
        if let Some(loss) = line.split("Potential Performance Loss: ").nth(1) {
            warnings.push(format!("warning: {loss}"));
        } else if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            current = rest.split('\'').next().unwrap_or_default().to_string();
            spills.clear();
        } else if line.contains("spill stores") && !line.contains(" 0 bytes spill stores, 0 bytes spill loads") {
            spills = format!(" ({})", line.trim());
        } else if line.contains(": Used ") && line.contains(" registers") {
            lines.push(format!("{current}: {}{spills}", line.split(": ").last().unwrap_or(line).trim()));
        }
    }
    lines.extend(warnings);
    Ok(lines.join("\n"))
}
