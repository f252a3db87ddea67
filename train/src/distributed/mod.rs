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

#[cfg(feature = "mpi")]
mod mpi_world;

use crate::error::{Result, TrainError};
use autograd::Params;
use std::rc::Rc;
use tensor::{DType, Tensor};

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
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// The processes this one was started among: MPI's world when a launcher (`mpirun`, `srun`)
/// started more than one, else a single process. Started by a launcher without the `mpi` feature,
/// it is an error (N processes each training alone would be N copies of one run).
pub fn world() -> Result<Rc<dyn Collective>> {
    match launched_size() {
        Some(n) if n > 1 => open_mpi_world(n),
        _ => Ok(Rc::new(SingleProcess)),
    }
}

#[cfg(feature = "mpi")]
fn open_mpi_world(_: usize) -> Result<Rc<dyn Collective>> {
    Ok(Rc::new(mpi_world::MpiWorld::init()?))
}

#[cfg(not(feature = "mpi"))]
fn open_mpi_world(n: usize) -> Result<Rc<dyn Collective>> {
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

/// Sums every parameter's gradient over the ranks, in place (all in one flat buffer, in the
/// parameters' order, which every rank shares).
pub fn all_reduce_gradients(world: &dyn Collective, params: &Params) -> Result<()> {
    if world.world_size() == 1 {
        return Ok(());
    }
    let mut grads = Vec::new();
    for (name, var) in params.iter() {
        let Some(g) = var.grad() else { continue };
        if g.dtype() != DType::F32 {
            return Err(TrainError::Invalid(format!(
                "data-parallel training sums f32 gradients; {name}'s is {:?}",
                g.dtype()
            )));
        }
        grads.push((var, g));
    }
    let mut flat: Vec<f32> = Vec::with_capacity(grads.iter().map(|(_, g)| g.elem_count()).sum());
    for (_, g) in &grads {
        flat.extend(g.to_vec::<f32>()?);
    }
    world.all_reduce_sum_f32(&mut flat)?;
    let mut offset = 0;
    for (var, g) in grads {
        let n = g.elem_count();
        let summed = Tensor::from_vec(flat[offset..offset + n].to_vec(), g.shape())?.to_device(g.device())?;
        var.set_grad(Some(summed))?;
        offset += n;
    }
    Ok(())
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
mod tests {
    use super::*;

    /// A world of two ranks in one process, for the logic above: rank 0 of a pair whose other rank
    /// holds `other`.
    struct PairRank0 {
        other_f32: Vec<f32>,
        other_u64: u64,
    }

    impl Collective for PairRank0 {
        fn rank(&self) -> usize {
            0
        }
        fn world_size(&self) -> usize {
            2
        }
        fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
            buf.iter_mut().zip(&self.other_f32).for_each(|(b, o)| *b += o);
            Ok(())
        }
        fn all_reduce_sum_f64(&self, _: &mut [f64]) -> Result<()> {
            unreachable!("not used here")
        }
        fn all_gather_u64(&self, value: u64) -> Result<Vec<u64>> {
            Ok(vec![value, self.other_u64])
        }
        fn abort(&self, _: i32) -> ! {
            unreachable!("not used here")
        }
    }

    #[test]
    fn gradients_are_summed_in_parameter_order_and_unset_ones_skipped() {
        let mut params = Params::new();
        let a = params.add("a", Tensor::from_vec(vec![0f32; 2], &[2]).unwrap()).unwrap();
        let _b = params.add("b", Tensor::from_vec(vec![0f32; 3], &[3]).unwrap()).unwrap();
        let c = params.add("c", Tensor::from_vec(vec![0f32; 4], &[2, 2]).unwrap()).unwrap();
        a.set_grad(Some(Tensor::from_vec(vec![1f32, 2.0], &[2]).unwrap())).unwrap();
        c.set_grad(Some(Tensor::from_vec(vec![3f32, 4.0, 5.0, 6.0], &[2, 2]).unwrap())).unwrap();
        let world = PairRank0 { other_f32: vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0], other_u64: 0 };
        all_reduce_gradients(&world, &params).unwrap();
        assert_eq!(a.grad().unwrap().to_vec::<f32>().unwrap(), [11.0, 22.0]);
        assert_eq!(c.grad().unwrap().to_vec::<f32>().unwrap(), [33.0, 44.0, 55.0, 66.0]);
        assert_eq!(c.grad().unwrap().shape(), [2, 2]);
        assert!(params.iter().nth(1).unwrap().1.grad().is_none());
    }

    #[test]
    fn a_rank_with_other_settings_is_named() {
        let world = PairRank0 { other_f32: vec![], other_u64: 7 };
        let e = check_same_run(&world, 8).unwrap_err().to_string();
        assert!(e.contains("rank 1 was started with other settings"), "{e}");
        check_same_run(&PairRank0 { other_f32: vec![], other_u64: 8 }, 8).unwrap();
    }
}
