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

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn world_size(&self) -> usize {
        self.world.size() as usize
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        let send = buf.to_vec();
        self.world.all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        let send = buf.to_vec();
        self.world.all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
    fn all_gather_u64(&self, value: u64) -> Result<Vec<u64>> {
        let mut all = vec![0u64; self.world_size()];
        self.world.all_gather_into(&value, &mut all[..]);
        Ok(all)
    }
}
