//! Plain data parallelism: every rank keeps the whole optimizer state, and the gradients are summed
//! over the ranks by all-reduces of flat buckets.

use super::buffers::{check_f32, cut, join};
use super::Collective;
use crate::error::Result;
use autograd::{Params, Var};
use tensor::Tensor;

/// Elements per all-reduce: 2²² f32 = 16 MiB, the most memory a step adds for the gradients'
/// flat copies beyond the largest single gradient (PyTorch's DDP takes 25 MB buckets).
pub const BUCKET_ELEMENTS: usize = 1 << 22;

/// Sums every parameter's gradient over the ranks, in place. The gradients, in the parameters'
/// order (which every rank shares), are cut into buckets of whole gradients of at most
/// `bucket_elements` (a larger gradient is a bucket alone), each summed by one all-reduce.
pub fn all_reduce_gradients(world: &dyn Collective, params: &Params, bucket_elements: usize) -> Result<()> {
    if world.world_size() == 1 {
        return Ok(());
    }
    let mut bucket: Vec<(&Var, Tensor)> = Vec::new();
    let mut filled = 0;
    for (name, var) in params.iter() {
        let Some(g) = var.grad() else { continue };
        check_f32(name, "the gradient", &g)?;
        if filled > 0 && filled + g.elem_count() > bucket_elements {
            all_reduce_bucket(world, std::mem::take(&mut bucket))?;
            filled = 0;
        }
        filled += g.elem_count();
        bucket.push((var, g));
    }
    all_reduce_bucket(world, bucket)
}

fn all_reduce_bucket(world: &dyn Collective, bucket: Vec<(&Var, Tensor)>) -> Result<()> {
    let Some((_, first)) = bucket.first() else { return Ok(()) };
    let grads: Vec<Tensor> = bucket.iter().map(|(_, g)| g.clone()).collect();
    let len = grads.iter().map(Tensor::elem_count).sum();
    let summed = world.all_reduce_sum_tensor(&join(&grads, len, first.device())?)?;
    let mut offset = 0;
    for (var, g) in bucket {
        var.set_grad(Some(cut(&summed, offset, g.shape())?))?;
        offset += g.elem_count();
    }
    Ok(())
}
