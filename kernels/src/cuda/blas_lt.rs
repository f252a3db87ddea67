//! cuBLASLt: matrix products whose epilogue adds the bias, `D = op(A)·op(B) + bias`, so a linear
//! layer writes its output once (with plain cuBLAS, C first holds the bias rows and the product
//! reads them back with β = 1: two extra passes over the output), and, given a matrix C beside D,
//! adds it too (`D = op(A)·op(B) + bias + C`: a layer's output onto the residual stream).

use super::cost::{Cost, Math};
use super::{CudaError, Gpu};
use cudarc::cublaslt::result as lt;
use cudarc::cublaslt::sys;
use cudarc::driver::{CudaSlice, DevicePtr};
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Mutex;

/// A cuBLASLt handle, its workspace (32 MiB, NVIDIA's recommendation for Hopper), and the
/// algorithm its heuristic chose for each shape of product seen (asked once per shape).
pub struct BlasLt {
    handle: sys::cublasLtHandle_t,
    workspace: CudaSlice<u8>,
    algorithms: Mutex<HashMap<ProductShape, sys::cublasLtMatmulAlgo_t>>,
}

/// What the heuristic's choice depends on: each matrix's type, dims, leading dimension and batch
/// stride, the ops, the batch and the compute type.
type ProductShape = ([(u32, u64, u64, i64, i64); 3], (bool, bool), i32, u32);

// Safety: the handle is used on the device's one stream, from one call at a time per product.
unsafe impl Send for BlasLt {}
unsafe impl Sync for BlasLt {}

impl Drop for BlasLt {
    fn drop(&mut self) {
        // Safety: created by `lt::create_handle` and dropped once.
        let _ = unsafe { lt::destroy_handle(self.handle) };
    }
}

/// One operand or the result, in cuBLASLt's column-major terms: `rows × cols` (before `op`), its
/// leading dimension and batch stride, at device address `ptr`.
#[derive(Debug, Clone, Copy)]
pub struct LtMatrix {
    pub ptr: u64,
    pub dtype: sys::cudaDataType,
    pub rows: u64,
    pub cols: u64,
    pub ld: i64,
    pub batch_stride: i64,
}

/// A descriptor made by cuBLASLt, destroyed with it.
struct Owned<T: Copy>(T, unsafe fn(T) -> Result<(), lt::CublasError>);

impl<T: Copy> Drop for Owned<T> {
    fn drop(&mut self) {
        // Safety: each descriptor is destroyed once, by the function that matches its kind.
        let _ = unsafe { (self.1)(self.0) };
    }
}

fn failed(what: &str) -> impl FnOnce(lt::CublasError) -> CudaError + '_ {
    move |e| CudaError::Driver(format!("cuBLASLt {what}: {e:?}"))
}

/// Bytes of one element of `dtype` (f32 or bf16, the types products here take).
fn element_bytes(dtype: sys::cudaDataType) -> usize {
    match dtype {
        sys::cudaDataType::CUDA_R_16BF | sys::cudaDataType::CUDA_R_16F => 2,
        _ => 4,
    }
}

/// What `D = op(A)·op(B) + bias (+ C)` moves and computes: A, B, the bias (and C, `with_c`) read,
/// D written (`m×n`, `k` the inner dimension), 2·m·n·k operations per product, on tensor cores
/// when the operands are bf16 or the compute type rounds to bf16 or TF32.
fn product_cost(
    (a, transa): (LtMatrix, bool),
    b: &LtMatrix,
    (d, with_c): (&LtMatrix, bool),
    batch: i32,
    compute: sys::cublasComputeType_t,
) -> Cost {
    use sys::cublasComputeType_t as Compute;
    let (m, n) = (d.rows as usize, d.cols as usize);
    let k = if transa { a.rows } else { a.cols } as usize;
    let batch = batch.max(1) as usize;
    let math = match compute {
        Compute::CUBLAS_COMPUTE_32F_FAST_16BF => Math::Bf16TensorCores,
        Compute::CUBLAS_COMPUTE_32F_FAST_TF32 => Math::Tf32TensorCores,
        _ if element_bytes(a.dtype) == 2 => Math::Bf16TensorCores,
        _ => Math::CudaCores,
    };
    let c = if with_c { m * n * element_bytes(d.dtype) } else { 0 };
    let read = batch * (m * k * element_bytes(a.dtype) + k * n * element_bytes(b.dtype) + c) + 4 * m;
    Cost::bytes(read, batch * m * n * element_bytes(d.dtype)).with_flops(2 * batch * m * n * k, math)
}

impl Gpu {
    /// The cuBLASLt handle on this device (created on first use).
    pub fn blas_lt(&self) -> Result<&BlasLt, CudaError> {
        if let Some(blas) = self.blas_lt.get() {
            return Ok(blas);
        }
        // Safety: only tries to open the shared library.
        if !unsafe { sys::is_culib_present() } {
            return Err(CudaError::Driver("cuBLASLt (libcublasLt.so) not found".into()));
        }
        self.ctx.bind_to_thread().map_err(|e| CudaError::Driver(format!("{e:?}")))?;
        let handle = lt::create_handle().map_err(failed("starting"))?;
        let workspace = self.stream.alloc_zeros::<u8>(32 << 20).map_err(|e| CudaError::Driver(format!("{e:?}")))?;
        let _ = self.blas_lt.set(BlasLt { handle, workspace, algorithms: Mutex::default() });
        Ok(self.blas_lt.get().expect("set above"))
    }
}

impl BlasLt {
    /// `D[b] = op(A[b])·op(B[b]) + bias (+ C[b])` for `batch` products, f32 `D` (`m × n`,
    /// column-major), the f32 `bias` (`m` values) added to every column in the epilogue, and with
    /// `c` (the address of a matrix laid out as D, which it may be) that matrix too (β = 1); `op`
    /// transposes where `trans` says. f32 accumulation (`compute`).
    ///
    /// # Safety
    /// Every matrix lies in device memory as its [`LtMatrix`] says (C as D), and `bias` holds `m`
    /// floats.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn matmul_bias(
        &self,
        gpu: &Gpu,
        name: &str,
        (a, transa): (LtMatrix, bool),
        (b, transb): (LtMatrix, bool),
        d: LtMatrix,
        (bias, c): (u64, Option<u64>),
        batch: i32,
        compute: sys::cublasComputeType_t,
    ) -> Result<(), CudaError> {
        use sys::cublasLtMatmulDescAttributes_t as Desc;
        use sys::cublasLtMatrixLayoutAttribute_t as Layout;
        // cuBLASLt launches in the current context: this device's, whichever thread calls.
        gpu.ctx.bind_to_thread().map_err(|e| CudaError::Driver(format!("{e:?}")))?;
        let layout = |m: &LtMatrix| -> Result<Owned<sys::cublasLtMatrixLayout_t>, CudaError> {
            let l = Owned(lt::create_matrix_layout(m.dtype, m.rows, m.cols, m.ld).map_err(failed("layout"))?, {
                lt::destroy_matrix_layout
            });
            // Safety: a live layout; the values are as large as the attributes say.
            unsafe {
                let set = |attribute, value: *const c_void, size| {
                    lt::set_matrix_layout_attribute(l.0, attribute, value, size)
                };
                set(Layout::CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, (&batch as *const i32).cast(), 4)
                    .map_err(failed("batch"))?;
                let stride = &m.batch_stride as *const i64;
                set(Layout::CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, stride.cast(), 8).map_err(failed("batch"))?;
            }
            Ok(l)
        };
        let (la, lb, ld) = (layout(&a)?, layout(&b)?, layout(&d)?);
        let f32_ = sys::cudaDataType::CUDA_R_32F;
        let desc =
            Owned(lt::create_matmul_desc(compute, f32_).map_err(failed("description"))?, lt::destroy_matmul_desc);
        let (ta, tb) = (i32::from(transa), i32::from(transb));
        let epilogue = sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_BIAS;
        let set = |attribute, value: *const c_void, size| lt::set_matmul_desc_attribute(desc.0, attribute, value, size);
        set(Desc::CUBLASLT_MATMUL_DESC_TRANSA, (&ta as *const i32).cast(), 4).map_err(failed("transa"))?;
        set(Desc::CUBLASLT_MATMUL_DESC_TRANSB, (&tb as *const i32).cast(), 4).map_err(failed("transb"))?;
        set(Desc::CUBLASLT_MATMUL_DESC_EPILOGUE, (&epilogue as *const sys::cublasLtEpilogue_t).cast(), 4)
            .map_err(failed("epilogue"))?;
        set(Desc::CUBLASLT_MATMUL_DESC_BIAS_POINTER, (&bias as *const u64).cast(), 8).map_err(failed("bias"))?;
        let pref = Owned(lt::create_matmul_pref().map_err(failed("preference"))?, lt::destroy_matmul_pref);
        let size = self.workspace.len();
        let limit = sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES;
        lt::set_matmul_pref_attribute(pref.0, limit, (&size as *const usize).cast(), 8).map_err(failed("workspace"))?;
        let key = |m: &LtMatrix| (m.dtype as u32, m.rows, m.cols, m.ld, m.batch_stride);
        let shape: ProductShape = ([key(&a), key(&b), key(&d)], (transa, transb), batch, compute as u32);
        let known = self.algorithms.lock().unwrap_or_else(|e| e.into_inner()).get(&shape).copied();
        let algorithm = match known {
            Some(algorithm) => algorithm,
            None => {
                let chosen = lt::get_matmul_algo_heuristic(self.handle, desc.0, la.0, lb.0, ld.0, ld.0, pref.0)
                    .map_err(failed("choosing an algorithm"))?
                    .algo;
                self.algorithms.lock().unwrap_or_else(|e| e.into_inner()).insert(shape, chosen);
                chosen
            }
        };
        let (alpha, beta) = (1.0f32, if c.is_some() { 1.0f32 } else { 0.0 });
        let (workspace, _w) = self.workspace.device_ptr(&gpu.stream);
        gpu.launch(name, product_cost((a, transa), &b, (&d, c.is_some()), batch, compute), || {
            lt::matmul(
                self.handle,
                desc.0,
                (&alpha as *const f32).cast(),
                (&beta as *const f32).cast(),
                a.ptr as *const c_void,
                la.0,
                b.ptr as *const c_void,
                lb.0,
                c.unwrap_or(d.ptr) as *const c_void,
                ld.0,
                d.ptr as *mut c_void,
                ld.0,
                &algorithm,
                workspace as *mut c_void,
                size,
                gpu.stream.cu_stream() as sys::cudaStream_t,
            )
            .map_err(failed("matmul"))
        })
    }
}
