//! The collectives' users, checked over ranks that are threads of this process: a test stand-in for
//! MPI whose sums add the ranks' values in rank order (as MPI does for two ranks), so a sharded
//! step can be compared bit for bit with a replicated one. (`tests/mpi.rs` runs the real thing.)

use super::*;
use crate::optim::{clip_grad_norm, AdamW, Optimizer, Slots};
use autograd::Params;
use std::sync::{Arc, Barrier, Mutex};
use tensor::{AdamWConfig, Tensor};

/// What the ranks of a [`ThreadWorld`] share: one deposit per rank, and a barrier.
struct Exchange {
    deposits: Mutex<Vec<Vec<f64>>>,
    barrier: Barrier,
}

/// One rank of `world_size` threads.
struct ThreadWorld {
    rank: usize,
    world_size: usize,
    exchange: Arc<Exchange>,
}

impl ThreadWorld {
    /// Runs `body(rank's world)` on `world_size` threads and returns their results in rank order.
    fn run<T: Send>(world_size: usize, body: impl Fn(ThreadWorld) -> T + Sync) -> Vec<T> {
        let exchange = Arc::new(Exchange {
            deposits: Mutex::new(vec![Vec::new(); world_size]),
            barrier: Barrier::new(world_size),
        });
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..world_size)
                .map(|rank| {
                    let world = ThreadWorld { rank, world_size, exchange: exchange.clone() };
                    let body = &body;
                    s.spawn(move || body(world))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// Every rank's `values`, in rank order.
    fn exchange(&self, values: Vec<f64>) -> Vec<Vec<f64>> {
        self.exchange.deposits.lock().unwrap()[self.rank] = values;
        self.exchange.barrier.wait();
        let all = self.exchange.deposits.lock().unwrap().clone();
        self.exchange.barrier.wait(); // nobody deposits again before everyone has read
        all
    }

    fn sum_f32(&self, values: &[f32]) -> Vec<f32> {
        let all = self.exchange(values.iter().map(|&v| v as f64).collect());
        (0..values.len()).map(|i| all[1..].iter().fold(all[0][i] as f32, |sum, rank| sum + rank[i] as f32)).collect()
    }
}

impl Collective for ThreadWorld {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.world_size
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        let sum = self.sum_f32(buf);
        buf.copy_from_slice(&sum);
        Ok(())
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        let all = self.exchange(buf.to_vec());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = all[1..].iter().fold(all[0][i], |sum, rank| sum + rank[i]);
        }
        Ok(())
    }
    fn all_gather_u64(&self, value: u64) -> Result<Vec<u64>> {
        Ok(self.exchange(vec![value as f64]).iter().map(|v| v[0] as u64).collect())
    }
    fn reduce_scatter_sum_f32(&self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        assert_eq!(send.len(), recv.len() * self.world_size);
        let sum = self.sum_f32(send);
        recv.copy_from_slice(&sum[self.rank * recv.len()..][..recv.len()]);
        Ok(())
    }
    fn all_gather_f32(&self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        assert_eq!(recv.len(), send.len() * self.world_size);
        let all = self.exchange(send.iter().map(|&v| v as f64).collect());
        for (chunk, rank) in recv.chunks_mut(send.len()).zip(all) {
            chunk.iter_mut().zip(rank).for_each(|(r, v)| *r = v as f32);
        }
        Ok(())
    }
    fn broadcast_bytes(&self, buf: &mut [u8], root: usize) -> Result<()> {
        let all = self.exchange(buf.iter().map(|&b| b as f64).collect());
        buf.iter_mut().zip(&all[root]).for_each(|(b, v)| *b = *v as u8);
        Ok(())
    }
    fn abort(&self, _: i32) -> ! {
        panic!("a rank aborted")
    }
}

/// A model's parameters of uneven sizes (so shards are uneven and padded), equal on every rank.
fn parameters() -> Params {
    let shapes: [&[usize]; 6] = [&[7, 5], &[5], &[3, 4], &[4], &[11, 3], &[2]];
    let mut params = Params::new();
    for (i, shape) in shapes.iter().enumerate() {
        let n: usize = shape.iter().product();
        let values = (0..n).map(|j| ((i * 31 + j * 7) % 17) as f32 / 17.0 - 0.5).collect();
        params.add(format!("p{i}"), Tensor::from_vec(values, shape).unwrap()).unwrap();
    }
    params
}

/// Rank `rank`'s gradients at `step`: different on every rank; `p3` has none (unused).
fn set_gradients(params: &Params, rank: usize, step: usize) {
    for (i, (name, var)) in params.iter().enumerate() {
        if name == "p3" {
            var.set_grad(None).unwrap();
            continue;
        }
        let n = var.value().elem_count();
        let g = (0..n).map(|j| (((i + 3 * rank + 5 * step) * 13 + j * 11) % 23) as f32 / 7.0 - 1.5).collect();
        var.set_grad(Some(Tensor::from_vec(g, &var.shape()).unwrap())).unwrap();
    }
}

fn values(params: &Params) -> Vec<Vec<f32>> {
    params.iter().map(|(_, v)| v.value().to_vec::<f32>().unwrap()).collect()
}

fn adamw() -> AdamW {
    AdamW::new(AdamWConfig { lr: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 })
}

#[test]
fn gradients_are_summed_bucket_by_bucket_in_parameter_order() {
    let summed = ThreadWorld::run(2, |world| {
        let params = parameters();
        set_gradients(&params, world.rank(), 0);
        // 20-element buckets: several buckets, one gradient larger than a bucket (alone in it).
        all_reduce_gradients(&world, &params, 20).unwrap();
        params.iter().map(|(_, v)| v.grad().map(|g| g.to_vec::<f32>().unwrap())).collect::<Vec<_>>()
    });
    assert_eq!(summed[0], summed[1]);
    let (ours, theirs) = (parameters(), parameters());
    set_gradients(&ours, 0, 0);
    set_gradients(&theirs, 1, 0);
    for (((_, a), (_, b)), got) in ours.iter().zip(theirs.iter()).zip(&summed[0]) {
        let expected = a.grad().map(|a| {
            let b = b.grad().unwrap().to_vec::<f32>().unwrap();
            a.to_vec::<f32>().unwrap().iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>()
        });
        assert_eq!(got, &expected);
    }
}

#[test]
fn shards_are_runs_of_whole_parameters_that_cover_them_all() {
    let params = parameters(); // 35, 5, 12, 4, 33, 2 elements: 91
    for world_size in 1..=5 {
        let shards: Vec<ZeroShards> = (0..world_size).map(|r| ZeroShards::new(&params, world_size, r)).collect();
        let owners: Vec<usize> =
            (0..params.len()).map(|i| (0..world_size).find(|&r| shards[r].owns(i)).unwrap()).collect();
        for i in 0..params.len() {
            assert_eq!((0..world_size).filter(|&r| shards[r].owns(i)).count(), 1, "one owner each");
        }
        assert!(owners.windows(2).all(|w| w[0] <= w[1]), "contiguous runs: {owners:?}");
        assert_eq!(shards[0].shard_sizes().iter().sum::<usize>(), 91);
    }
    // Two ranks: 35 + 5 | 12 + 4 + 33 + 2 (p2's middle, element 46 of 0…90, is past the half).
    assert_eq!(ZeroShards::new(&params, 2, 0).shard_sizes(), [40, 51]);
}

/// A rank's weights and its (gathered) optimizer state, by name, after training.
struct Trained {
    weights: Vec<Vec<f32>>,
    state: Vec<(String, Vec<f32>)>,
}

/// One optimizer step both ways on `world_size` ranks: replicated (all-reduce, clip, AdamW on
/// everything) and sharded (reduce-scatter, sharded clip, AdamW on the shard, all-gather).
fn train(world_size: usize, sharded: bool, steps: usize) -> Vec<Trained> {
    ThreadWorld::run(world_size, |world| {
        let params = parameters();
        let mut optimizer = adamw();
        let shards = ZeroShards::new(&params, world_size, world.rank());
        for step in 0..steps {
            set_gradients(&params, world.rank(), step);
            if sharded {
                shards.reduce_scatter_gradients(&world, &params).unwrap();
                shards.clip_grad_norm(&world, &params, 3.0).unwrap();
                optimizer.step(&params, 0.1).unwrap();
                shards.all_gather_values(&world, &params).unwrap();
            } else {
                all_reduce_gradients(&world, &params, BUCKET_ELEMENTS).unwrap();
                clip_grad_norm(&params, 3.0).unwrap();
                optimizer.step(&params, 0.1).unwrap();
            }
        }
        let slots = match sharded {
            true => shards.gather_slots(&world, &params, optimizer.slots()).unwrap(),
            false => optimizer.slots().clone(),
        };
        let state = slots.export().into_iter().map(|(n, t)| (n, t.to_vec::<f32>().unwrap())).collect();
        Trained { weights: values(&params), state }
    })
}

#[test]
fn a_sharded_step_is_bit_identical_to_a_replicated_one() {
    for world_size in [2, 3] {
        let replicated = train(world_size, false, 3);
        let sharded = train(world_size, true, 3);
        for (rank, trained) in sharded.iter().enumerate() {
            assert_eq!(trained.weights, replicated[0].weights, "weights of rank {rank} of {world_size}");
            assert_eq!(trained.state, replicated[0].state, "optimizer state gathered on rank {rank} of {world_size}");
        }
        // The clip was active (the test would not see the sharded norm otherwise), and p3 (no
        // gradient) kept its value and has no state.
        assert_ne!(train(world_size, false, 1)[0].weights, train_unclipped(world_size));
        assert_eq!(replicated[0].weights[3], values(&parameters())[3]);
        assert!(replicated[0].state.iter().all(|(name, _)| !name.ends_with(".p3")));
    }
}

/// The weights after one replicated step without clipping.
fn train_unclipped(world_size: usize) -> Vec<Vec<f32>> {
    ThreadWorld::run(world_size, |world| {
        let params = parameters();
        set_gradients(&params, world.rank(), 0);
        all_reduce_gradients(&world, &params, BUCKET_ELEMENTS).unwrap();
        adamw().step(&params, 0.1).unwrap();
        values(&params)
    })
    .remove(0)
}

#[test]
fn each_rank_keeps_the_state_of_its_shard_only() {
    let params = parameters();
    let mut optimizer = adamw();
    set_gradients(&params, 0, 0);
    optimizer.step(&params, 0.1).unwrap();
    let mut slots = optimizer.slots().clone();
    let shards = ZeroShards::new(&params, 2, 1);
    shards.keep_own_slots(&params, &mut slots);
    let kept: Vec<&String> = slots.by_param.keys().collect();
    assert_eq!(kept, ["p2", "p4", "p5"]); // p3 is rank 1's too, but never had a gradient
}

#[test]
fn a_rank_with_other_settings_is_named() {
    let errors =
        ThreadWorld::run(2, |world| check_same_run(&world, 7 + world.rank() as u64).map_err(|e| e.to_string()));
    let e = errors[0].clone().unwrap_err();
    assert!(e.contains("rank 1 was started with other settings"), "{e}");
    assert!(ThreadWorld::run(2, |world| check_same_run(&world, 8).is_ok()).iter().all(|&ok| ok));
}

#[test]
fn what_cannot_be_exchanged_is_named() {
    let errors = ThreadWorld::run(2, |world| {
        let mut params = Params::new();
        let w = params.add("w", Tensor::from_vec(vec![1f64, 2.0], &[2]).unwrap()).unwrap();
        w.set_grad(Some(Tensor::from_vec(vec![0.5f64, 0.5], &[2]).unwrap())).unwrap();
        let shards = ZeroShards::new(&params, 2, world.rank());
        let replicated = all_reduce_gradients(&world, &params, BUCKET_ELEMENTS).unwrap_err().to_string();
        let sharded = shards.reduce_scatter_gradients(&world, &params).unwrap_err().to_string();
        [replicated, sharded]
    });
    for e in errors.concat() {
        assert!(e.contains("exchanges f32 tensors; the gradient of w is F64"), "{e}");
    }
    // Optimizer state that is not of its parameter's shape cannot be cut into shards.
    let errors = ThreadWorld::run(1, |world| {
        let params = parameters();
        let mut slots = Slots::new(&["m"]);
        slots.by_param.insert("p0".into(), vec![Tensor::from_vec(vec![0f32; 3], &[3]).unwrap()]);
        let gathered = ZeroShards::new(&params, 1, world.rank()).gather_slots(&world, &params, &slots);
        gathered.err().expect("a misshapen state").to_string()
    });
    assert!(errors[0].contains("the optimizer's m of p0 is [3], not the parameter's shape [7, 5]"), "{}", errors[0]);
}
