//! Data-parallel training across processes: every rank holds the whole model, trains on its own
//! micro-batches, and the ranks sum their gradients before each (identical) optimizer step. The
//! processes and the collectives are MPI's (`mpirun -np N emergent train …`, or Slurm's `srun`),
//! behind the cargo feature `mpi`; without it a run is one process.
//!
//! Rank `r` of `W`, with `A` accumulation steps, takes micro-batches `r·A … r·A + A − 1` of each
//! step, and each micro-batch's loss counts `1/(A·W)`: the same batches, dropout masks and mean as
//! one process with `W·A` accumulation steps. With two ranks the sum of their gradients is the sum
//! that process forms (floating-point addition of two values is commutative), so the runs are
//! bit-identical; with more, MPI may add in another order.

mod buffers;
#[cfg(feature = "mpi")]
mod mpi_world;
#[cfg(feature = "nccl")]
mod nccl_world;
mod replicated;
mod zero;

pub use replicated::{all_reduce_gradients, BUCKET_ELEMENTS};
pub use zero::ZeroShards;

use crate::error::{Result, TrainError};
use buffers::through_host;
use std::rc::Rc;
use tensor::{Device, Tensor};

/// The collective operations data-parallel training needs, over flat host buffers.
pub trait Collective {
    /// This process's index, `0..world_size`; rank 0 writes the run folder.
    fn rank(&self) -> usize;
    fn world_size(&self) -> usize;
    /// `buf ← Σ over ranks of buf`, elementwise; every rank gets the sum.
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()>;
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()>;
    /// Every rank's `value`, in rank order.
    fn all_gather_u64(&self, value: u64) -> Result<Vec<u64>>;
    /// Reduce-scatter: `send` is `world_size` equal blocks; rank `r` gets in `recv` the sum over
    /// ranks of their block `r` (`send.len() = world_size · recv.len()`).
    fn reduce_scatter_sum_f32(&self, send: &[f32], recv: &mut [f32]) -> Result<()>;
    /// All-gather: `recv` becomes every rank's `send`, in rank order (`recv.len() = world_size ·
    /// send.len()`).
    fn all_gather_f32(&self, send: &[f32], recv: &mut [f32]) -> Result<()>;
    /// Every rank's `buf` becomes rank `root`'s.
    fn broadcast_bytes(&self, buf: &mut [u8], root: usize) -> Result<()>;

    /// [`Collective::all_reduce_sum_f32`] of a flat f32 tensor, wherever it lives: through host
    /// memory here; NCCL's world sums GPU tensors on the GPUs.
    fn all_reduce_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        through_host(t, |mut values| {
            self.all_reduce_sum_f32(&mut values)?;
            Ok(values)
        })
    }
    /// [`Collective::reduce_scatter_sum_f32`] of a flat f32 tensor, wherever it lives.
    fn reduce_scatter_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        through_host(t, |send| {
            let mut mine = vec![0f32; send.len() / self.world_size()];
            self.reduce_scatter_sum_f32(&send, &mut mine)?;
            Ok(mine)
        })
    }
    /// [`Collective::all_gather_f32`] of a flat f32 tensor, wherever it lives.
    fn all_gather_tensor(&self, t: &Tensor) -> Result<Tensor> {
        through_host(t, |mine| {
            let mut all = vec![0f32; mine.len() * self.world_size()];
            self.all_gather_f32(&mine, &mut all)?;
            Ok(all)
        })
    }
    /// Ends every rank's process with `code`: what a rank that fails does, so that the others,
    /// waiting in a collective for it, do not wait forever.
    fn abort(&self, code: i32) -> !;
}

/// One process: every collective is the identity.
#[derive(Debug, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn all_reduce_sum_f32(&self, _: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn all_reduce_sum_f64(&self, _: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn all_gather_u64(&self, value: u64) -> Result<Vec<u64>> {
        Ok(vec![value])
    }
    fn reduce_scatter_sum_f32(&self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        recv.copy_from_slice(send);
        Ok(())
    }
    fn all_gather_f32(&self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        recv.copy_from_slice(send);
        Ok(())
    }
    fn broadcast_bytes(&self, _: &mut [u8], _: usize) -> Result<()> {
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// The processes this one was started among: MPI's world when a launcher (`mpirun`, `srun`)
/// started more than one, else a single process. Ranks training on GPUs (`device` a GPU) sum on
/// them through NCCL when built with the `nccl` feature (each rank on GPU [`local_rank`]), and
/// through host memory over MPI otherwise. Started by a launcher without the `mpi` feature, it is
/// an error (N processes each training alone would be N copies of one run).
pub fn world(device: Device) -> Result<Rc<dyn Collective>> {
    match launched_size() {
        Some(n) if n > 1 => open_world(n, device),
        _ => Ok(Rc::new(SingleProcess)),
    }
}

#[cfg(feature = "nccl")]
fn open_world(_: usize, device: Device) -> Result<Rc<dyn Collective>> {
    match device {
        Device::Cuda(_) => Ok(Rc::new(nccl_world::NcclWorld::init(local_rank())?)),
        Device::Cpu => Ok(Rc::new(mpi_world::MpiWorld::init()?)),
    }
}

#[cfg(all(feature = "mpi", not(feature = "nccl")))]
fn open_world(_: usize, _: Device) -> Result<Rc<dyn Collective>> {
    Ok(Rc::new(mpi_world::MpiWorld::init()?))
}

#[cfg(not(feature = "mpi"))]
fn open_world(n: usize, _: Device) -> Result<Rc<dyn Collective>> {
    Err(TrainError::Invalid(format!(
        "started as one of {n} processes (mpirun or srun), but this emergent was built without MPI; \
         build it with `cargo build --release -p train --features mpi`"
    )))
}

/// The number of processes a launcher started, from the variables Open MPI (`mpirun`), MPICH
/// (PMI) and Slurm (`srun`, per job step) set in each process's environment.
pub fn launched_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
}

/// This process's index among those on its machine (the GPU it takes), as the launcher set it.
pub fn local_rank() -> usize {
    ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
        .unwrap_or(0)
}

/// Checks that every rank runs the same settings on the same data: `fingerprint` (a hash of the
/// resolved config, the data fingerprint included) gathered from all ranks must agree.
pub fn check_same_run(world: &dyn Collective, fingerprint: u64) -> Result<()> {
    let all = world.all_gather_u64(fingerprint)?;
    match all.iter().position(|&f| f != all[0]) {
        None => Ok(()),
        Some(rank) => Err(TrainError::Invalid(format!(
            "rank {rank} was started with other settings or data than rank 0 (config fingerprints \
             {:016x} and {:016x}): every rank must get the same flags and see the same data",
            all[rank], all[0]
        ))),
    }
}

#[cfg(test)]
mod tests;
