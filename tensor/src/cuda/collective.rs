//! NCCL collectives on flat f32 tensors that live on a GPU (see [`kernels::cuda::nccl`]): what
//! data-parallel training sums and gathers between the ranks' GPUs without a trip through host
//! memory.

use super::{cuda_error, CudaData};
use crate::{Error, Result, Storage, Tensor};
use kernels::cuda::cudarc::driver::CudaSlice;
pub use kernels::cuda::nccl::{nccl_available, unique_id as nccl_unique_id, NcclComm, NcclId};

/// This rank's end of the NCCL clique `id` on GPU `ordinal`, as `rank` of `world_size` (every
/// rank calls it; it returns once all have).
pub fn nccl_comm(ordinal: usize, rank: usize, world_size: usize, id: &NcclId) -> Result<NcclComm> {
    let gpu = super::gpu(ordinal)?;
    NcclComm::new(&gpu, rank, world_size, id).map_err(cuda_error("nccl_comm"))
}

/// Which collective: how long its result is for an input of `n` elements on `world` ranks.
#[derive(Clone, Copy)]
enum Collective {
    AllReduceSum,
    ReduceScatterSum,
    AllGather,
}

impl Collective {
    fn name(self) -> &'static str {
        match self {
            Collective::AllReduceSum => "nccl_all_reduce_sum",
            Collective::ReduceScatterSum => "nccl_reduce_scatter_sum",
            Collective::AllGather => "nccl_all_gather",
        }
    }

    fn output_len(self, n: usize, world: usize) -> Result<usize> {
        match self {
            Collective::AllReduceSum => Ok(n),
            Collective::ReduceScatterSum if n.is_multiple_of(world) => Ok(n / world),
            Collective::ReduceScatterSum => {
                Err(Error::invalid(self.name(), format!("{n} elements are not {world} equal blocks")))
            }
            Collective::AllGather => Ok(n * world),
        }
    }
}

impl Tensor {
    /// `Σ over ranks` of this 1-D f32 GPU tensor, as a new tensor on every rank.
    pub fn nccl_all_reduce_sum(&self, comm: &NcclComm) -> Result<Tensor> {
        self.nccl(comm, Collective::AllReduceSum)
    }

    /// Reduce-scatter: this 1-D tensor is `world_size` equal blocks; the result (on rank `r`) is
    /// the sum over ranks of their block `r`.
    pub fn nccl_reduce_scatter_sum(&self, comm: &NcclComm) -> Result<Tensor> {
        self.nccl(comm, Collective::ReduceScatterSum)
    }

    /// All-gather: every rank's 1-D tensor, one after another in rank order.
    pub fn nccl_all_gather(&self, comm: &NcclComm) -> Result<Tensor> {
        self.nccl(comm, Collective::AllGather)
    }

    fn nccl(&self, comm: &NcclComm, collective: Collective) -> Result<Tensor> {
        let op = collective.name();
        if self.rank() != 1 || self.elem_count() == 0 {
            return Err(Error::invalid(op, format!("takes a non-empty 1-D tensor, got shape {:?}", self.shape())));
        }
        // A dense buffer of exactly these elements (a view into a larger one is copied first).
        let dense = self.contiguous();
        let Storage::Cuda(storage) = dense.storage() else {
            return Err(Error::invalid(op, format!("takes a GPU tensor, got one on {:?}", self.device())));
        };
        let send: &CudaSlice<f32> = storage.f32s(op, self.shape())?;
        let n = collective.output_len(self.elem_count(), comm.world_size())?;
        let mut recv = storage.alloc_f32(op, n)?;
        let run = match collective {
            Collective::AllReduceSum => comm.all_reduce_sum(send, &mut recv),
            Collective::ReduceScatterSum => comm.reduce_scatter_sum(send, &mut recv),
            Collective::AllGather => comm.all_gather(send, &mut recv),
        };
        run.map_err(cuda_error(op))?;
        Ok(Tensor::from_storage(Storage::Cuda(storage.with(n, CudaData::F32(recv))), &[n]))
    }
}
