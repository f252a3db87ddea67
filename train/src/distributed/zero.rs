//! ZeRO stage 1 (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
//! Parameter Models"; `--zero 1`, as llm.c's): each rank keeps the optimizer state of one shard of
//! the parameters only. A step on `W` ranks:
//!
//! 1. reduce-scatter the gradients: rank `r` receives `Σ over ranks` of the gradients of its shard;
//! 2. clip by the global norm `√(Σ over all parameters of Σ g²)`, each rank adding up its shard's
//!    sums of squares and sharing them;
//! 3. the optimizer updates the shard (its state — AdamW's `m` and `v` — exists for the shard only);
//! 4. all-gather the weights: every rank again holds the whole updated model.
//!
//! A shard is a run of whole parameters, in the order every rank shares (as PyTorch's
//! `ZeroRedundancyOptimizer`; llm.c cuts one flat buffer evenly instead). So the optimizer sees
//! whole tensors, its state has one process's names and shapes, and the norm is added per
//! parameter in one process's order: two ranks with `--zero 1` are bit-identical to one process.
//! The price is balance: a shard is as even as the parameters allow (GPT-2 124M's token embedding,
//! 31% of the parameters, is one shard's alone).

use super::buffers::{check_f32, cut, join};
use super::Collective;
use crate::error::{Result, TrainError};
use crate::optim::{clip_coefficient, Slots};
use autograd::Params;
use std::collections::BTreeMap;
use tensor::{Device, Tensor};

/// Which rank updates each parameter, and where the parameter sits in that rank's block of the
/// collectives' flat buffers.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroShards {
    rank: usize,
    world_size: usize,
    /// Per parameter, in `Params` order: (owner rank, offset in the owner's block, elements).
    places: Vec<(usize, usize, usize)>,
    /// Elements of the largest shard; every rank's block is padded to it (the collectives move
    /// equal blocks).
    block: usize,
}

impl ZeroShards {
    /// Splits `params` into `world_size` runs of whole parameters of about equal size: a parameter
    /// goes to the rank whose even share of all elements holds its middle element.
    pub fn new(params: &Params, world_size: usize, rank: usize) -> Self {
        let sizes: Vec<usize> = params.iter().map(|(_, v)| v.shape().iter().product()).collect();
        let total = sizes.iter().sum::<usize>().max(1);
        let mut filled = vec![0; world_size];
        let mut start = 0;
        let places = sizes
            .iter()
            .map(|&n| {
                let middle = 2 * start + n; // twice the middle element's index
                let owner = (middle as u128 * world_size as u128 / (2 * total) as u128) as usize;
                let owner = owner.min(world_size - 1);
                start += n;
                filled[owner] += n;
                (owner, filled[owner] - n, n)
            })
            .collect();
        let block = filled.into_iter().max().unwrap_or(0);
        Self { rank, world_size, places, block }
    }

    /// Whether this rank updates parameter `index` (in `Params` order).
    pub fn owns(&self, index: usize) -> bool {
        self.places[index].0 == self.rank
    }

    /// The elements of each rank's shard, in rank order.
    pub fn shard_sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.world_size];
        for &(owner, _, n) in &self.places {
            sizes[owner] += n;
        }
        sizes
    }

    /// The flat buffer of every rank's block, one after another: `part(index)` for each parameter
    /// (none: zeros), each rank's run padded with zeros to [`ZeroShards::block`] elements.
    fn all_blocks(&self, params: &Params, device: Device, part: impl Fn(usize) -> Option<Tensor>) -> Result<Tensor> {
        let blocks = (0..self.world_size).map(|rank| self.block_of(rank, params, device, &part));
        let blocks: Vec<Tensor> = blocks.collect::<Result<_>>()?;
        join(&blocks, self.world_size * self.block, device)
    }

    /// Rank `rank`'s block: `part(index)` (none: zeros) of each parameter it owns, zero-padded.
    fn block_of(
        &self,
        rank: usize,
        params: &Params,
        device: Device,
        part: &impl Fn(usize) -> Option<Tensor>,
    ) -> Result<Tensor> {
        let mut parts = Vec::new();
        for (index, (_, var)) in params.iter().enumerate().filter(|&(index, _)| self.places[index].0 == rank) {
            parts.push(match part(index) {
                Some(t) => t,
                None => var.value().zeros_like(),
            });
        }
        join(&parts, self.block, device)
    }

    /// Step 1: every gradient summed over the ranks, kept by its owner only (the others' set to
    /// none, so the optimizer passes them by).
    pub fn reduce_scatter_gradients(&self, world: &dyn Collective, params: &Params) -> Result<()> {
        let grads: Vec<Option<Tensor>> = params.iter().map(|(_, var)| var.grad()).collect();
        for ((name, _), g) in params.iter().zip(&grads) {
            if let Some(g) = g {
                check_f32(name, "the gradient", g)?;
            }
        }
        let all = self.all_blocks(params, params.device(), |index| grads[index].clone())?;
        let mine = world.reduce_scatter_sum_tensor(&all)?;
        for (index, ((_, var), &(_, offset, _))) in params.iter().zip(&self.places).enumerate() {
            match &grads[index] {
                Some(g) if self.owns(index) => var.set_grad(Some(cut(&mine, offset, g.shape())?))?,
                _ => var.set_grad(None)?,
            }
        }
        Ok(())
    }

    /// Step 2: [`crate::optim::clip_grad_norm`] over the shards. Each rank finds `Σ g²` of its own
    /// parameters; the sums are shared (every entry is one rank's, the others add zeros: exact)
    /// and added in parameter order in f32, as one process adds them. Returns `‖g‖`.
    pub fn clip_grad_norm(&self, world: &dyn Collective, params: &Params, max_norm: f64) -> Result<f64> {
        // This rank's sums, read back in one copy; the others' entries stay zero.
        let owned: Vec<(usize, Tensor)> = params
            .iter()
            .enumerate()
            .filter(|&(index, _)| self.owns(index))
            .filter_map(|(index, (_, var))| var.grad().map(|g| (index, g)))
            .collect();
        let squares = owned.iter().map(|(_, g)| Ok(g.mul(g)?.sum_all()?.reshape(&[1])?)).collect::<Result<Vec<_>>>()?;
        let mut sums = vec![0f32; self.places.len()];
        if !squares.is_empty() {
            let values = Tensor::cat(&squares.iter().collect::<Vec<_>>(), 0)?.to_vec::<f32>()?;
            for ((index, _), value) in owned.iter().zip(values) {
                sums[*index] = value;
            }
        }
        world.all_reduce_sum_f32(&mut sums)?;
        let norm = (sums.iter().fold(0f32, |total, s| total + s) as f64).sqrt();
        if let Some(coef) = clip_coefficient(norm, max_norm) {
            for (_, var) in params.iter() {
                if let Some(g) = var.grad() {
                    var.set_grad(Some(g.mul_scalar(coef)?))?;
                }
            }
        }
        Ok(norm)
    }

    /// Step 4: every rank's updated parameters, to every rank.
    pub fn all_gather_values(&self, world: &dyn Collective, params: &Params) -> Result<()> {
        let values: Vec<Tensor> = params.iter().map(|(_, var)| var.value()).collect();
        for ((name, _), v) in params.iter().zip(&values) {
            check_f32(name, "the value", v)?;
        }
        let mine = self.block_of(self.rank, params, params.device(), &|index| Some(values[index].clone()))?;
        let all = world.all_gather_tensor(&mine)?;
        for (index, ((_, var), &(owner, offset, _))) in params.iter().zip(&self.places).enumerate() {
            if !self.owns(index) {
                var.set_value(cut(&all, owner * self.block + offset, values[index].shape())?)?;
            }
        }
        Ok(())
    }

    /// The whole optimizer state, gathered from every rank's shard of it (on every rank: a
    /// collective), as one process would hold it — what a checkpoint saves, so that any number of
    /// ranks, sharded or not, can resume from it.
    pub fn gather_slots(&self, world: &dyn Collective, params: &Params, slots: &Slots) -> Result<Slots> {
        let device = params.device();
        // Which parameters have state (a parameter that never had a gradient has none).
        let mut present = vec![0f32; self.places.len()];
        for (index, (name, var)) in params.iter().enumerate() {
            if let Some(state) = slots.by_param.get(name).filter(|_| self.owns(index)) {
                present[index] = 1.0;
                for (slot, t) in slots.names.iter().zip(state) {
                    check_f32(name, slot, t)?;
                    if t.shape() != var.shape().as_slice() {
                        return Err(TrainError::Invalid(format!(
                            "the optimizer's {slot} of {name} is {:?}, not the parameter's shape {:?}: it cannot be \
                             sharded",
                            t.shape(),
                            var.shape()
                        )));
                    }
                }
            }
        }
        world.all_reduce_sum_f32(&mut present)?;
        let names: Vec<&str> = params.iter().map(|(name, _)| name).collect();
        let mut by_param: BTreeMap<String, Vec<Tensor>> = BTreeMap::new();
        for slot in 0..slots.names.len() {
            let state_of = |index: usize| slots.by_param.get(names[index]).map(|state| state[slot].clone());
            let mine = self.block_of(self.rank, params, device, &state_of)?;
            let all = world.all_gather_tensor(&mine)?;
            for (index, ((name, var), &(owner, offset, _))) in params.iter().zip(&self.places).enumerate() {
                if present[index] == 1.0 {
                    let t = cut(&all, owner * self.block + offset, &var.shape())?;
                    by_param.entry(name.to_string()).or_default().push(t);
                }
            }
        }
        Ok(Slots { steps: slots.steps, names: slots.names.clone(), by_param })
    }

    /// Drops the optimizer state of the parameters other ranks update (after loading a whole
    /// state from a checkpoint).
    pub fn keep_own_slots(&self, params: &Params, slots: &mut Slots) {
        let own: Vec<&str> =
            params.iter().enumerate().filter(|(index, _)| self.owns(*index)).map(|(_, (name, _))| name).collect();
        slots.by_param.retain(|name, _| own.contains(&name.as_str()));
    }
}
