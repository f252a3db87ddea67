//! Devices: names, moving tensors, and the errors of a machine without a GPU (a GPU machine runs
//! the CUDA op tests of `autograd/tests/cuda_ops.rs` instead).

use tensor::{DType, Device, Error, Tensor};

#[test]
fn devices_parse_and_print_by_name() {
    assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
    assert_eq!("cuda".parse::<Device>(), Ok(Device::Cuda(0)));
    assert_eq!("cuda:3".parse::<Device>(), Ok(Device::Cuda(3)));
    assert_eq!(Device::Cuda(1).to_string(), "cuda:1");
    for bad in ["gpu", "cuda:", "cuda:x", "CPU"] {
        let e = bad.parse::<Device>().unwrap_err();
        assert!(e.contains("expected cpu, cuda or cuda:N"), "{bad}: {e}");
    }
}

#[test]
fn moving_to_the_cpu_is_a_no_op_and_keeps_the_values() {
    let x = Tensor::from_vec(vec![1f32, 2., 3., 4., 5., 6.], &[2, 3]).unwrap().t().unwrap();
    let y = x.to_device(Device::Cpu).unwrap();
    assert!(y.shares_storage_with(&x));
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![1., 4., 2., 5., 3., 6.]);
}

#[test]
fn without_a_gpu_moving_there_is_a_clear_error() {
    if kernels::cuda::driver_available() {
        return; // a GPU machine: the CUDA op tests cover it
    }
    let x = Tensor::zeros(&[2, 2], DType::F32);
    let e = x.to_device(Device::Cuda(0)).unwrap_err();
    assert!(matches!(e, Error::Cuda { op: "to_device", .. }), "{e:?}");
    assert!(e.to_string().contains("no CUDA device"), "{e}");
    let e = Tensor::full_on(&[3], 1.0, DType::F32, Device::Cuda(0)).unwrap_err();
    assert!(e.to_string().contains("libcuda.so"), "{e}");
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn tensors_travel_to_the_gpu_and_back() {
    let gpu = Device::Cuda(0);
    // A strided view arrives dense, with its values; masks and ids travel too.
    let x =
        Tensor::from_vec((0..12).map(|i| i as f32).collect(), &[3, 4]).unwrap().t().unwrap().narrow(0, 1, 2).unwrap();
    let on_gpu = x.to_device(gpu).unwrap();
    assert_eq!(on_gpu.device(), gpu);
    assert_eq!(on_gpu.to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
    assert_eq!(on_gpu.to_device(Device::Cpu).unwrap().to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
    let ids = Tensor::from_vec(vec![3i64, -1, 7], &[3]).unwrap();
    assert_eq!(ids.to_device(gpu).unwrap().to_vec::<i64>().unwrap(), vec![3, -1, 7]);
    let mask = Tensor::from_vec(vec![1u32, 0], &[2]).unwrap().to_device(gpu).unwrap();
    assert_eq!(mask.to_vec::<u32>().unwrap(), vec![1, 0]);
    // Views of device tensors read their own elements.
    assert_eq!(on_gpu.t().unwrap().contiguous().to_vec::<f32>().unwrap(), x.t().unwrap().to_vec::<f32>().unwrap());
    assert_eq!(Tensor::full_on(&[2], 2.5, DType::F32, gpu).unwrap().to_vec::<f32>().unwrap(), vec![2.5, 2.5]);
    // An empty tensor is fine too.
    assert_eq!(Tensor::zeros(&[0, 3], DType::F32).to_device(gpu).unwrap().elem_count(), 0);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn arg_reductions_match_the_cpu() {
    // The index of each row's maximum and minimum, over a transposed view (ties: the first).
    let x = Tensor::from_vec((0..60).map(|i| ((i * 37) % 17) as f32).collect(), &[6, 10]).unwrap().t().unwrap();
    let on_gpu = x.to_device(Device::Cuda(0)).unwrap();
    for dim in [0, 1] {
        let (max, min) = (on_gpu.argmax(dim, false).unwrap(), on_gpu.argmin(dim, false).unwrap());
        assert_eq!(max.to_vec::<i64>().unwrap(), x.argmax(dim, false).unwrap().to_vec::<i64>().unwrap(), "dim {dim}");
        assert_eq!(min.to_vec::<i64>().unwrap(), x.argmin(dim, false).unwrap().to_vec::<i64>().unwrap(), "dim {dim}");
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn nan_propagates_on_the_gpu_as_on_the_cpu() {
    // A NaN in the first, a middle and the last column of a row (a block's threads fold strided
    // slices), beside clean rows; relu, maximum and minimum element by element.
    let (rows, cols) = (4, 700);
    let mut values: Vec<f32> = (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
    for (row, col) in [(0, 0), (1, 350), (2, 699)] {
        values[row * cols + col] = f32::NAN;
    }
    let mut rotated = values.clone();
    rotated.rotate_left(1); // its NaNs one place earlier: maximum sees NaN from either side
    let x = Tensor::from_vec(values, &[rows, cols]).unwrap();
    let y = Tensor::from_vec(rotated, &[rows, cols]).unwrap();
    let gx = x.to_device(Device::Cuda(0)).unwrap();
    let gy = y.to_device(Device::Cuda(0)).unwrap();
    let bits = |t: &Tensor| t.to_device(Device::Cpu).unwrap().to_dtype(DType::F64).to_vec::<f64>().unwrap();
    let same = |cpu: Tensor, gpu: Tensor, what: &str| {
        let (c, g) = (bits(&cpu), bits(&gpu));
        let differ = c.iter().zip(&g).position(|(a, b)| a != b && !(a.is_nan() && b.is_nan()));
        assert!(differ.is_none(), "{what}: element {differ:?}: the CPU gives {:?}", differ.map(|i| (c[i], g[i])));
    };
    same(x.relu().unwrap(), gx.relu().unwrap(), "relu");
    same(x.maximum(&y).unwrap(), gx.maximum(&gy).unwrap(), "maximum");
    same(x.minimum(&y).unwrap(), gx.minimum(&gy).unwrap(), "minimum");
    same(x.max(&[1], false).unwrap(), gx.max(&[1], false).unwrap(), "max");
    same(x.min(&[1], false).unwrap(), gx.min(&[1], false).unwrap(), "min");
    let cpu_max = bits(&x.max(&[1], false).unwrap());
    assert!(cpu_max[..3].iter().all(|v| v.is_nan()) && cpu_max[3].is_finite());
    for (cpu, gpu) in [(x.argmax(1, false), gx.argmax(1, false)), (x.argmin(1, false), gx.argmin(1, false))] {
        let (cpu, gpu) = (cpu.unwrap().to_vec::<i64>().unwrap(), gpu.unwrap().to_device(Device::Cpu).unwrap());
        assert_eq!(cpu[..3], [0, 350, 699], "the first NaN");
        assert_eq!(cpu, gpu.to_vec::<i64>().unwrap());
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn masks_and_ids_convert_and_copy_on_the_gpu() {
    let gpu = Device::Cuda(0);
    // Transposed views: read through their layouts by the conversion kernels.
    let mask = Tensor::from_vec(vec![1u32, 0, 0, 1, 1, 0], &[2, 3]).unwrap().t().unwrap();
    let ids = Tensor::from_vec(vec![3i64, -1, 7, 1 << 40, 0, 2], &[3, 2]).unwrap().t().unwrap();
    for (x, wide) in [(mask, false), (ids, true)] {
        let on_gpu = x.to_device(gpu).unwrap();
        let as_f32 = on_gpu.to_dtype(DType::F32);
        assert_eq!(as_f32.device(), gpu);
        assert_eq!(as_f32.to_vec::<f32>().unwrap(), x.to_dtype(DType::F32).to_vec::<f32>().unwrap());
        if wide {
            assert_eq!(on_gpu.contiguous().to_vec::<i64>().unwrap(), x.contiguous().to_vec::<i64>().unwrap());
        } else {
            assert_eq!(on_gpu.contiguous().to_vec::<u32>().unwrap(), x.contiguous().to_vec::<u32>().unwrap());
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn an_op_on_two_devices_names_both() {
    let a = Tensor::ones(&[2], DType::F32);
    let b = a.to_device(Device::Cuda(0)).unwrap();
    let e = a.add(&b).unwrap_err();
    assert_eq!(e, Error::DeviceMismatch { op: "add", lhs: Device::Cpu, rhs: Device::Cuda(0) });
    assert_eq!(e.to_string(), "add: tensors on different devices: cpu and cuda:0");
    assert!(b.matmul(&a.reshape(&[2, 1]).unwrap()).unwrap_err().to_string().contains("cuda:0 and cpu"));
    // bf16 and f64 stay on the CPU: moving them is refused by name.
    let e = a.to_dtype(DType::F64).to_device(Device::Cuda(0)).unwrap_err();
    assert!(e.to_string().contains("F64"), "{e}");
}
