//! The NCCL collectives on GPU tensors, in a clique of one rank (one GPU; a clique of several
//! needs one process per GPU: `train/tests/mpi.rs` on a multi-GPU machine): each collective of one
//! rank is the identity, read from a dense tensor and from a strided view, and what they refuse.
//! Needs a CUDA GPU and libnccl (`cargo test -p tensor --features nccl --test nccl -- --ignored`).
#![cfg(feature = "nccl")]

use tensor::cuda::{nccl_comm, nccl_unique_id};
use tensor::{rng, DType, Device, Tensor};

#[test]
#[ignore = "needs a CUDA GPU and libnccl"]
fn a_clique_of_one_gives_back_what_it_was_given() {
    let id = nccl_unique_id().unwrap();
    let comm = nccl_comm(0, 0, 1, &id).unwrap();
    assert_eq!((comm.rank(), comm.world_size()), (0, 1));
    let host = Tensor::randn(&[3, 1000], 0.0, 1.0, DType::F32, &mut rng(7));
    let gpu = host.to_device(Device::Cuda(0)).unwrap();
    let dense = gpu.flatten_all().unwrap();
    // Views NCCL cannot read in place (copied dense first): elements 5…104 of the buffer, and
    // row 1's elements with a stride of 1000 (row 1 of the transpose).
    let offset = dense.narrow(0, 5, 100).unwrap();
    let strided = gpu.t().unwrap().narrow(0, 1, 1).unwrap().reshape(&[3]).unwrap();
    assert!(!strided.is_contiguous());
    for t in [dense, offset, strided] {
        let want = t.to_vec::<f32>().unwrap();
        for got in [t.nccl_all_reduce_sum(&comm), t.nccl_reduce_scatter_sum(&comm), t.nccl_all_gather(&comm)] {
            let got = got.unwrap();
            assert_eq!(got.device(), Device::Cuda(0));
            assert_eq!(got.to_vec::<f32>().unwrap(), want);
        }
    }
    let refused = |t: &Tensor| t.nccl_all_reduce_sum(&comm).unwrap_err().to_string();
    assert!(refused(&gpu).contains("1-D"), "{}", refused(&gpu));
    assert!(refused(&host.flatten_all().unwrap()).contains("GPU tensor"), "{}", refused(&host.flatten_all().unwrap()));
}
