//! The MPI world (rsmpi over the system's MPI library): the processes `mpirun`/`srun` started.

use super::Collective;
use crate::error::{Result, TrainError};
use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

/// MPI, initialised for the life of this value (finalised when it is dropped).
pub struct MpiWorld {
    _universe: mpi::environment::Universe,
    world: SimpleCommunicator,
}

impl MpiWorld {
    pub fn init() -> Result<Self> {
        let universe = mpi::initialize()
            .ok_or_else(|| TrainError::Invalid("MPI was already initialised in this process".into()))?;
        let world = universe.world();
        Ok(Self { _universe: universe, world })
    }
}

/// MPI counts elements in a C `int`: a larger buffer is refused rather than truncated.
fn fits_mpi_count(what: &str, len: usize) -> Result<()> {
    if len > i32::MAX as usize {
        return Err(TrainError::Invalid(format!(
            "{what} of {len} elements is more than one MPI call can carry ({})",
            i32::MAX
        )));
    }
    Ok(())
}

/// `send.len() = world · recv.len()`, as the block collectives require.
fn check_blocks(what: &str, whole: usize, block: usize, world: usize) -> Result<()> {
    fits_mpi_count(what, whole)?;
    if whole != block * world {
        return Err(TrainError::Invalid(format!("{what}: {whole} elements are not {world} blocks of {block}")));
    }
    Ok(())
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn world_size(&self) -> usize {
        self.world.size() as usize
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        fits_mpi_count("an all-reduce", buf.len())?;
        let send = buf.to_vec();
        self.world.all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        fits_mpi_count("an all-reduce", buf.len())?;
        let send = buf.to_vec();
        self.world.all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }
    fn all_gather_u64(&self, value: u64) -> Result<Vec<u64>> {
        let mut all = vec![0u64; self.world_size()];
        self.world.all_gather_into(&value, &mut all[..]);
        Ok(all)
    }
    fn reduce_scatter_sum_f32(&self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        check_blocks("a reduce-scatter", send.len(), recv.len(), self.world_size())?;
        self.world.reduce_scatter_block_into(send, recv, SystemOperation::sum());
        Ok(())
    }
    fn all_gather_f32(&self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        check_blocks("an all-gather", recv.len(), send.len(), self.world_size())?;
        self.world.all_gather_into(send, recv);
        Ok(())
    }
    fn broadcast_bytes(&self, buf: &mut [u8], root: usize) -> Result<()> {
        fits_mpi_count("a broadcast", buf.len())?;
        self.world.process_at_rank(root as i32).broadcast_into(buf);
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
