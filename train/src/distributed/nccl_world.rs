//! Ranks on GPUs: MPI starts the processes and carries the small host values (losses, settings'
//! fingerprints, the NCCL id); NCCL sums and gathers the gradients, weights and optimizer state
//! on the GPUs, on a stream of its own.

use super::mpi_world::MpiWorld;
use super::Collective;
use crate::error::{Result, TrainError};
use tensor::cuda::{nccl_comm, nccl_unique_id, NcclComm, NcclId};
use tensor::{Device, Tensor};

pub struct NcclWorld {
    host: MpiWorld,
    comm: NcclComm,
}

impl NcclWorld {
    /// MPI's world, and NCCL's clique of its ranks on GPU `ordinal` of each machine. Rank 0 makes
    /// the clique's id and broadcasts it (with a flag: whether it could), so that a rank 0 without
    /// NCCL fails every rank rather than leaving them waiting.
    pub fn init(ordinal: usize) -> Result<Self> {
        let host = MpiWorld::init()?;
        let mut message = [0u8; 1 + std::mem::size_of::<NcclId>()];
        let made = (host.rank() == 0).then(nccl_unique_id);
        if let Some(Ok(id)) = &made {
            message[0] = 1;
            message[1..].copy_from_slice(id);
        }
        host.broadcast_bytes(&mut message, 0)?;
        if message[0] == 0 {
            return Err(match made {
                Some(Err(e)) => TrainError::Invalid(format!("rank 0 could not start NCCL: {e}")),
                _ => TrainError::Invalid("rank 0 could not start NCCL (its error is in its output)".into()),
            });
        }
        let id: NcclId = message[1..].try_into().expect("the id's length");
        match nccl_comm(ordinal, host.rank(), host.world_size(), &id) {
            Ok(comm) => Ok(Self { host, comm }),
            // The other ranks wait inside NCCL's start for this one: end them all.
            Err(e) => {
                eprintln!("error on rank {} of {}: NCCL: {e}", host.rank(), host.world_size());
                host.abort(1)
            }
        }
    }

    fn on_gpu(t: &Tensor) -> bool {
        matches!(t.device(), Device::Cuda(_))
    }
}

impl Collective for NcclWorld {
    fn rank(&self) -> usize {
        self.host.rank()
    }
    fn world_size(&self) -> usize {
        self.host.world_size()
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.host.all_reduce_sum_f32(buf)
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        self.host.all_reduce_sum_f64(buf)
    }
    fn all_gather_u64(&self, value: u64) -> Result<Vec<u64>> {
        self.host.all_gather_u64(value)
    }
    fn reduce_scatter_sum_f32(&self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        self.host.reduce_scatter_sum_f32(send, recv)
    }
    fn all_gather_f32(&self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        self.host.all_gather_f32(send, recv)
    }
    fn broadcast_bytes(&self, buf: &mut [u8], root: usize) -> Result<()> {
        self.host.broadcast_bytes(buf, root)
    }
    fn all_reduce_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        match Self::on_gpu(t) {
            true => Ok(t.nccl_all_reduce_sum(&self.comm)?),
            false => self.host.all_reduce_sum_tensor(t),
        }
    }
    fn reduce_scatter_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        match Self::on_gpu(t) {
            true => Ok(t.nccl_reduce_scatter_sum(&self.comm)?),
            false => self.host.reduce_scatter_sum_tensor(t),
        }
    }
    fn all_gather_tensor(&self, t: &Tensor) -> Result<Tensor> {
        match Self::on_gpu(t) {
            true => Ok(t.nccl_all_gather(&self.comm)?),
            false => self.host.all_gather_tensor(t),
        }
    }
    fn abort(&self, code: i32) -> ! {
        self.host.abort(code)
    }
}
