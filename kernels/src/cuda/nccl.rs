//! NCCL: sums and gathers between the GPUs of data-parallel ranks, one process per GPU, on a
//! stream of their own. The library (libnccl.so, e.g. from the `nvidia-nccl-cu12` wheel) is
//! loaded at run time, as the other CUDA libraries are; the ranks agree on one [`NcclId`] made by
//! rank 0 and passed to the others (over MPI) before they open their communicators.

use super::{CudaError, Gpu};
use cudarc::driver::{CudaSlice, CudaStream};
use cudarc::nccl::{Comm, Id, ReduceOp};
use std::sync::Arc;

/// What identifies one NCCL clique: 128 bytes rank 0 makes and every rank must get.
pub type NcclId = [u8; 128];

/// Whether libnccl.so can be loaded.
pub fn nccl_available() -> bool {
    // Safety: only tries to open the shared library.
    super::driver_available() && unsafe { cudarc::nccl::sys::is_culib_present() }
}

fn nccl_error(what: &str, e: impl std::fmt::Debug) -> CudaError {
    CudaError::Driver(format!("NCCL {what}: {e:?}"))
}

/// A new clique's id (rank 0 makes it; see [`NcclComm::new`]).
pub fn unique_id() -> Result<NcclId, CudaError> {
    if !nccl_available() {
        return Err(CudaError::Driver("NCCL (libnccl.so) not found: install it or the nvidia-nccl wheel and put its lib folder on LD_LIBRARY_PATH".into()));
    }
    let id = Id::new().map_err(|e| nccl_error("making a unique id", e))?;
    Ok(id.internal().map(|c| c as u8))
}

/// This rank's end of an NCCL clique on `gpu`, with its own stream: each collective waits for the
/// work queued on the GPU's compute stream before it, and the compute stream waits for the
/// collective after it.
pub struct NcclComm {
    comm: Comm,
    compute: Arc<CudaStream>,
}

impl NcclComm {
    /// Joins the clique `id` as `rank` of `world_size` (every rank must call this; it returns
    /// once all have).
    pub fn new(gpu: &Gpu, rank: usize, world_size: usize, id: &NcclId) -> Result<Self, CudaError> {
        if !nccl_available() {
            return Err(CudaError::Driver("NCCL (libnccl.so) not found".into()));
        }
        let stream = gpu.ctx.new_stream().map_err(|e| nccl_error("creating its stream", e))?;
        let id = Id::uninit(id.map(|b| b as core::ffi::c_char));
        let comm = Comm::from_rank(stream, rank, world_size, id).map_err(|e| nccl_error("joining the clique", e))?;
        Ok(Self { comm, compute: gpu.stream.clone() })
    }

    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    pub fn world_size(&self) -> usize {
        self.comm.world_size()
    }

    /// All-reduce: `recv` becomes `Σ over ranks of send`, elementwise.
    pub fn all_reduce_sum(&self, send: &CudaSlice<f32>, recv: &mut CudaSlice<f32>) -> Result<(), CudaError> {
        self.check_blocks("all-reduce", send.len() * self.world_size(), recv.len())?;
        self.on_own_stream("all-reduce", || self.comm.all_reduce(send, recv, &ReduceOp::Sum).map(drop))
    }

    /// Reduce-scatter: `send` holds `world_size` blocks of `recv.len()`; `recv` becomes the sum
    /// over ranks of their block `rank`.
    pub fn reduce_scatter_sum(&self, send: &CudaSlice<f32>, recv: &mut CudaSlice<f32>) -> Result<(), CudaError> {
        self.check_blocks("reduce-scatter", send.len(), recv.len())?;
        self.on_own_stream("reduce-scatter", || self.comm.reduce_scatter(send, recv, &ReduceOp::Sum).map(drop))
    }

    /// All-gather: `recv` becomes every rank's `send`, in rank order.
    pub fn all_gather(&self, send: &CudaSlice<f32>, recv: &mut CudaSlice<f32>) -> Result<(), CudaError> {
        self.check_blocks("all-gather", recv.len(), send.len())?;
        self.on_own_stream("all-gather", || self.comm.all_gather(send, recv).map(drop))
    }

    fn check_blocks(&self, what: &str, whole: usize, block: usize) -> Result<(), CudaError> {
        if whole != block * self.world_size() {
            return Err(CudaError::Driver(format!(
                "NCCL {what}: {whole} elements are not {} blocks of {block}",
                self.world_size()
            )));
        }
        Ok(())
    }

    fn on_own_stream<E: std::fmt::Debug>(
        &self,
        what: &str,
        run: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), CudaError> {
        let own = self.comm.stream();
        own.join(&self.compute).map_err(|e| nccl_error(&format!("ordering the {what} after the compute stream"), e))?;
        run().map_err(|e| nccl_error(what, e))?;
        self.compute.join(&own).map_err(|e| nccl_error(&format!("ordering the compute stream after the {what}"), e))
    }
}
