//! The table of differentiable ops, one row per case (broadcasting and non-contiguous inputs
//! included), shared by the finite-difference checks (`gradcheck_ops.rs`, f64 on the CPU) and the
//! GPU-against-CPU checks (`cuda_ops.rs`). Masks built inside a case follow the input's device.

use autograd::{AttentionMask, Reduction, Var};
use tensor::{rng, DType, GeluApproximation, Result, Tensor};

pub type Case = (&'static str, Vec<Tensor>, Box<dyn Fn(&[Var]) -> Result<Var>>);

pub fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, DType::F64, &mut rng(seed))
}

/// Uniform in [0.5, 2): safe for log, sqrt, division and powers.
fn positive(shape: &[usize], seed: u64) -> Tensor {
    Tensor::uniform(shape, 0.5, 2.0, DType::F64, &mut rng(seed))
}

/// Dropout's keep-scale for p = ½: each entry 0 or 2, about half of each.
fn dropout_keep_scale(shape: &[usize], seed: u64) -> Tensor {
    let uniform = Tensor::uniform(shape, 0.0, 1.0, DType::F64, &mut rng(seed));
    uniform.cmp_scalar(0.5, tensor::CmpOp::Ge).unwrap().to_dtype(DType::F64).mul_scalar(2.0).unwrap()
}

fn ids(values: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape).unwrap()
}

/// A constant made inside a case, in the dtype and on the device of the case's input `v`.
fn like(v: &Var, t: Tensor) -> Result<Tensor> {
    t.to_dtype(v.value().dtype()).to_device(v.value().device())
}

pub fn case(name: &'static str, inputs: Vec<Tensor>, f: impl Fn(&[Var]) -> Result<Var> + 'static) -> Case {
    (name, inputs, Box::new(f))
}

pub fn elementwise_cases() -> Vec<Case> {
    vec![
        case("add", vec![randn(&[2, 3], 1), randn(&[2, 3], 2)], |v| v[0].add(&v[1])),
        case("add_broadcast_row", vec![randn(&[2, 3], 1), randn(&[3], 2)], |v| v[0].add(&v[1])),
        case("add_broadcast_both", vec![randn(&[2, 1], 1), randn(&[1, 3], 2)], |v| v[0].add(&v[1])),
        case("sub_broadcast", vec![randn(&[4, 1, 3], 3), randn(&[2, 3], 4)], |v| v[0].sub(&v[1])),
        case("mul_broadcast", vec![randn(&[2, 3], 5), randn(&[2, 1], 6)], |v| v[0].mul(&v[1])),
        case("div_broadcast", vec![randn(&[2, 3], 7), positive(&[3], 8)], |v| v[0].div(&v[1])),
        case("pow", vec![positive(&[2, 3], 9), randn(&[2, 3], 10)], |v| v[0].pow(&v[1])),
        case("maximum", vec![randn(&[2, 3], 11), randn(&[3], 12)], |v| v[0].maximum(&v[1])),
        case("minimum", vec![randn(&[2, 3], 13), randn(&[2, 3], 14)], |v| v[0].minimum(&v[1])),
        case("neg", vec![randn(&[5], 15)], |v| v[0].neg()),
        case("exp", vec![randn(&[5], 16)], |v| v[0].exp()),
        case("log", vec![positive(&[5], 17)], |v| v[0].log()),
        case("sqrt", vec![positive(&[5], 18)], |v| v[0].sqrt()),
        case("tanh", vec![randn(&[5], 19)], |v| v[0].tanh()),
        case("sigmoid", vec![randn(&[5], 20)], |v| v[0].sigmoid()),
        case("relu", vec![randn(&[7], 21)], |v| v[0].relu()),
        case("abs", vec![randn(&[7], 22)], |v| v[0].abs()),
        case("gelu_erf", vec![randn(&[7], 23)], |v| v[0].gelu(GeluApproximation::Erf)),
        case("gelu_tanh", vec![randn(&[7], 24)], |v| v[0].gelu(GeluApproximation::Tanh)),
        case("add_scalar", vec![randn(&[4], 25)], |v| v[0].add_scalar(1.5)),
        case("sub_scalar", vec![randn(&[4], 26)], |v| v[0].sub_scalar(0.5)),
        case("mul_scalar", vec![randn(&[4], 27)], |v| v[0].mul_scalar(-3.0)),
        case("div_scalar", vec![randn(&[4], 28)], |v| v[0].div_scalar(7.0)),
        case("powf", vec![positive(&[4], 29)], |v| v[0].powf(2.5)),
        // Non-contiguous inputs: the op sees a transposed or narrowed view.
        case("exp_transposed", vec![randn(&[2, 3], 30)], |v| v[0].t()?.exp()),
        case("mul_transposed_narrowed", vec![randn(&[3, 4], 31), randn(&[4, 3], 32)], |v| {
            v[0].narrow(1, 1, 2)?.mul(&v[1].t()?.narrow(1, 0, 2)?)
        }),
        case("used_twice", vec![randn(&[3], 33)], |v| v[0].mul(&v[0])?.add(&v[0])),
        // Dense operands: on a GPU in float4 packs and a tail (11 = 2·4 + 3) where they start
        // 16-byte aligned, one by one where a slice starts one float later.
        case("add_dense", vec![randn(&[11], 34), randn(&[11], 35)], |v| v[0].add(&v[1])?.gelu(GeluApproximation::Tanh)),
        case("add_dense_slices", vec![randn(&[12], 36), randn(&[12], 37)], |v| {
            v[0].narrow(0, 1, 11)?.add(&v[1].narrow(0, 0, 11)?)?.gelu(GeluApproximation::Erf)
        }),
    ]
}

pub fn reduction_and_shape_cases() -> Vec<Case> {
    vec![
        case("sum_dim", vec![randn(&[2, 3, 4], 40)], |v| v[0].sum(&[1], false)),
        case("sum_dims_keepdim", vec![randn(&[2, 3, 4], 41)], |v| v[0].sum(&[0, 2], true)),
        case("sum_all", vec![randn(&[2, 3], 42)], |v| v[0].sum_all()),
        case("mean_dim", vec![randn(&[2, 3, 4], 43)], |v| v[0].mean(&[-1], false)),
        case("mean_all", vec![randn(&[2, 3], 44)], |v| v[0].mean_all()),
        case("max_dim", vec![randn(&[3, 4], 45)], |v| v[0].max(&[1], false)),
        case("min_dims_keepdim", vec![randn(&[3, 4], 46)], |v| v[0].min(&[0, 1], true)),
        case("var_unbiased", vec![randn(&[3, 4], 47)], |v| v[0].var(&[1], false, 1)),
        case("var_population_keepdim", vec![randn(&[3, 4], 48)], |v| v[0].var(&[0], true, 0)),
        case("sum_of_transposed", vec![randn(&[3, 4], 49)], |v| v[0].t()?.sum(&[1], false)),
        case("reshape", vec![randn(&[2, 6], 50)], |v| v[0].reshape(&[3, 4])?.exp()),
        case("reshape_noncontiguous", vec![randn(&[2, 6], 51)], |v| v[0].t()?.reshape(&[12])?.exp()),
        case("permute", vec![randn(&[2, 3, 4], 52)], |v| v[0].permute(&[2, 0, 1])?.exp()),
        case("transpose", vec![randn(&[2, 3, 4], 53)], |v| v[0].transpose(0, 2)?.exp()),
        case("narrow", vec![randn(&[4, 5], 54)], |v| v[0].narrow(1, 1, 3)?.exp()),
        case("split", vec![randn(&[5, 2], 55)], |v| {
            let parts = v[0].split(&[2, 3], 0)?;
            parts[0].sum_all()?.mul(&parts[1].exp()?.sum_all()?)
        }),
        case("broadcast_to", vec![randn(&[3, 1], 56)], |v| v[0].broadcast_to(&[2, 3, 4])?.exp()),
        case("squeeze_unsqueeze", vec![randn(&[3, 1], 57)], |v| v[0].squeeze(1)?.unsqueeze(0)?.exp()),
        case("contiguous", vec![randn(&[3, 2], 58)], |v| v[0].t()?.contiguous()?.exp()),
        case("cat", vec![randn(&[2, 3], 59), randn(&[2, 2], 60)], |v| Var::cat(&[&v[0], &v[1]], 1)?.exp()),
        case("stack", vec![randn(&[2, 3], 61), randn(&[2, 3], 62)], |v| Var::stack(&[&v[0], &v[1]], 1)?.exp()),
    ]
}

pub fn matmul_and_nn_cases() -> Vec<Case> {
    let gamma_beta = |seed| vec![randn(&[2, 3, 5], seed), randn(&[5], seed + 1), randn(&[5], seed + 2)];
    vec![
        case("matmul", vec![randn(&[3, 4], 70), randn(&[4, 2], 71)], |v| v[0].matmul(&v[1])),
        case("linear", vec![randn(&[2, 3, 4], 76), randn(&[4, 2], 77), randn(&[2], 78)], |v| v[0].linear(&v[1], &v[2])),
        case(
            "linear_onto",
            vec![randn(&[2, 3, 4], 84), randn(&[4, 2], 85), randn(&[2], 86), randn(&[2, 3, 2], 87)],
            |v| v[0].linear_onto(&v[1], &v[2], &v[3]),
        ),
        case(
            "feed_forward_onto",
            vec![
                randn(&[2, 3, 4], 88),
                randn(&[4, 5], 89),
                randn(&[5], 90),
                randn(&[5, 4], 91),
                randn(&[4], 92),
                randn(&[2, 3, 4], 93),
            ],
            |v| v[0].feed_forward_onto((&v[1], &v[2]), GeluApproximation::Tanh, (&v[3], &v[4]), &v[5]),
        ),
        case(
            "feed_forward",
            vec![randn(&[2, 3, 4], 79), randn(&[4, 5], 80), randn(&[5], 81), randn(&[5, 3], 82), randn(&[3], 83)],
            |v| v[0].feed_forward((&v[1], &v[2]), GeluApproximation::Tanh, (&v[3], &v[4])),
        ),
        case("matmul_batched_broadcast", vec![randn(&[2, 3, 4], 72), randn(&[4, 2], 73)], |v| v[0].matmul(&v[1])),
        case("matmul_broadcast_batch_dims", vec![randn(&[2, 1, 3, 4], 74), randn(&[3, 4, 2], 75)], |v| {
            v[0].matmul(&v[1])
        }),
        case("matmul_transposed_operands", vec![randn(&[4, 3], 76), randn(&[2, 4], 77)], |v| {
            v[0].t()?.matmul(&v[1].t()?)
        }),
        case("matmul_tied_head", vec![randn(&[2, 3, 4], 180), randn(&[5, 4], 181)], |v| v[0].matmul(&v[1].t()?)),
        case("matmul_vector", vec![randn(&[4], 78), randn(&[4, 3], 79)], |v| v[0].matmul(&v[1])),
        case("softmax_last", vec![randn(&[3, 5], 80)], |v| v[0].softmax(-1)),
        case("softmax_dim0", vec![randn(&[3, 5], 81)], |v| v[0].softmax(0)),
        case("log_softmax", vec![randn(&[3, 5], 82)], |v| v[0].log_softmax(1)),
        case("layer_norm", gamma_beta(83), |v| v[0].layer_norm(&v[1], &v[2], 1e-5)),
        case("layer_norm_as_operand", gamma_beta(183), |v| v[0].layer_norm_as_operand(&v[1], &v[2], 1e-5)),
        // x + LN(x)·x: the norm's backward adds its dx to what x has received from the other two.
        case("layer_norm_on_a_residual_stream", gamma_beta(283), |v| {
            v[0].add(&v[0].layer_norm_as_operand(&v[1], &v[2], 1e-5)?.mul(&v[0])?)
        }),
        // x + LN(x): what x has received is the very gradient the norm reads as dy.
        case("layer_norm_beside_its_skip", gamma_beta(383), |v| v[0].add(&v[0].layer_norm(&v[1], &v[2], 1e-5)?)),
        case("layer_norm_transposed_input", vec![randn(&[5, 3], 86), randn(&[3], 87), randn(&[3], 88)], |v| {
            v[0].t()?.t()?.layer_norm(&v[1], &v[2], 1e-5)
        }),
        case("index_select", vec![randn(&[4, 3], 90)], |v| v[0].index_select(0, &ids(&[3, 0, 3, 1], &[4]))),
        case("index_select_dim1", vec![randn(&[2, 4], 91)], |v| v[0].index_select(1, &ids(&[1, 1, 2], &[3]))),
        case("embedding_repeated_ids", vec![randn(&[5, 3], 92)], |v| {
            v[0].embedding(&ids(&[4, 1, 4, 0, 4, 2], &[2, 3]))
        }),
        case("gather", vec![randn(&[3, 4], 93)], |v| v[0].gather(1, &ids(&[3, 0, 1, 1, 2, 2], &[3, 2]))),
        case("where_cond", vec![randn(&[2, 3], 94), randn(&[3], 95)], |v| {
            let mask = Tensor::from_vec(vec![1u32, 0, 1, 0, 0, 1], &[2, 3])?.to_device(v[0].value().device())?;
            Var::where_cond(&mask, &v[0], &v[1])
        }),
        case("masked_fill", vec![randn(&[2, 3], 96)], |v| {
            v[0].masked_fill(&Tensor::from_vec(vec![0u32, 1, 0], &[3])?.to_device(v[0].value().device())?, -2.0)
        }),
        case("tril", vec![randn(&[2, 3, 3], 97)], |v| v[0].tril(0)),
        case("triu", vec![randn(&[3, 4], 98)], |v| v[0].triu(1)),
    ]
}

pub fn loss_and_attention_cases() -> Vec<Case> {
    let qkv = |t: usize, s: usize, seed| {
        vec![randn(&[2, 2, t, 4], seed), randn(&[2, 2, s, 4], seed + 1), randn(&[2, 2, s, 3], seed + 2)]
    };
    vec![
        case("cross_entropy_mean", vec![randn(&[4, 5], 100)], |v| {
            v[0].cross_entropy(&ids(&[1, 4, 0, 2], &[4]), None, Reduction::Mean)
        }),
        case("distillation_loss", vec![randn(&[3, 4], 182)], |v| {
            v[0].distillation_loss(&like(&v[0], randn(&[3, 4], 183))?, &ids(&[1, -100, 3], &[3]), 2.5, 0.7, Some(-100))
        }),
        case("cross_entropy_ignore_index", vec![randn(&[2, 2, 5], 101)], |v| {
            v[0].cross_entropy(&ids(&[1, -100, 3, 0], &[2, 2]), Some(-100), Reduction::Mean)
        }),
        // The fused classifier: hidden states (2, 3, 4) and a tied weight (6, 4); one ignored row.
        case("classifier_cross_entropy", vec![randn(&[2, 3, 4], 107), randn(&[6, 4], 108)], |v| {
            v[0].classifier_cross_entropy(&v[1], &ids(&[5, -100, 0, 2, 2, 3], &[2, 3]), Some(-100))
        }),
        case("cross_entropy_sum", vec![randn(&[3, 4], 102)], |v| {
            v[0].cross_entropy(&ids(&[3, 3, 0], &[3]), None, Reduction::Sum)
        }),
        case("cross_entropy_none", vec![randn(&[3, 4], 103)], |v| {
            v[0].cross_entropy(&ids(&[0, 1, 2], &[3]), None, Reduction::None)
        }),
        case("bce_with_logits", vec![randn(&[2, 3], 104)], |v| {
            let targets = Tensor::from_f64s(&[1., 0., 1., 0., 0.3, 1.], &[2, 3], DType::F64)?;
            v[0].bce_with_logits(&like(&v[0], targets)?, Reduction::Mean)
        }),
        case("binary_cross_entropy", vec![randn(&[4], 105)], |v| {
            v[0].sigmoid()?.binary_cross_entropy(
                &like(&v[0], Tensor::from_f64s(&[1., 0., 0.2, 1.], &[4], DType::F64)?)?,
                Reduction::Sum,
            )
        }),
        case("mse_loss", vec![randn(&[2, 3], 106)], |v| {
            v[0].mse_loss(&like(&v[0], Tensor::zeros(&[2, 3], DType::F64))?, Reduction::Mean)
        }),
        case("attention", qkv(3, 3, 110), |v| {
            Var::scaled_dot_product_attention(&v[0], &v[1], &v[2], AttentionMask::default())
        }),
        case("attention_causal", qkv(4, 4, 113), |v| {
            Var::scaled_dot_product_attention(&v[0], &v[1], &v[2], AttentionMask::CAUSAL)
        }),
        case("attention_causal_fewer_queries", qkv(2, 4, 116), |v| {
            Var::scaled_dot_product_attention(&v[0], &v[1], &v[2], AttentionMask::CAUSAL)
        }),
        case("attention_composed_causal", qkv(4, 5, 125), |v| {
            Var::scaled_dot_product_attention_composed(&v[0], &v[1], &v[2], AttentionMask::CAUSAL)
        }),
        case("attention_packed", vec![randn(&[2, 3, 12], 128)], |v| {
            Var::packed_self_attention(&v[0], 2, AttentionMask::CAUSAL)
        }),
        case("attention_causal_dropout", qkv(3, 4, 131), |v| {
            let keep_scale = like(&v[0], dropout_keep_scale(&[2, 2, 3, 4], 134))?;
            let mask = AttentionMask { causal: true, keep: None, dropout: Some(&keep_scale) };
            Var::scaled_dot_product_attention(&v[0], &v[1], &v[2], mask)
        }),
        case("attention_packed_dropout", vec![randn(&[2, 3, 12], 137)], |v| {
            let keep_scale = like(&v[0], dropout_keep_scale(&[2, 2, 3, 3], 138))?;
            let mask = AttentionMask { causal: true, keep: None, dropout: Some(&keep_scale) };
            Var::packed_self_attention(&v[0], 2, mask)
        }),
        case("attention_padding", qkv(3, 4, 119), |v| {
            let keep = Tensor::from_vec(vec![1u32, 1, 1, 0, 1, 1, 0, 0], &[2, 1, 1, 4])?;
            Var::scaled_dot_product_attention(
                &v[0],
                &v[1],
                &v[2],
                AttentionMask { causal: false, keep: Some(&keep), dropout: None },
            )
        }),
        case("attention_causal_and_padding", qkv(4, 4, 122), |v| {
            let keep = Tensor::from_vec(vec![1u32, 1, 1, 0, 1, 1, 1, 1], &[2, 1, 1, 4])?;
            Var::scaled_dot_product_attention(
                &v[0],
                &v[1],
                &v[2],
                AttentionMask { causal: true, keep: Some(&keep), dropout: None },
            )
        }),
    ]
}
