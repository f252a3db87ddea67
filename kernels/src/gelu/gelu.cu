// GELU forward and backward on dense f32 buffers (the formulas in gelu.cuh, the loops in layout.cuh,
// packs.cuh and bf16_copy.cuh, prepended). Buffers that start 16-byte aligned move in float4 packs
// (the copy's rows must hold whole packs, cols a multiple of 4, and start 8-byte aligned: each
// pack's copy is one 8-byte store), the last n % 4 elements one by one.

// Whether a copy can take packs of 4 (rows whole packs, starting 8-byte aligned), or there is none.
__device__ bool copy_takes_packs(Bf16Copy copy) {
    return !copy.data || (copy.cols % 4 == 0 && copy_rows_aligned_8(copy));
}

// y = GELU(x); approx: 0 = erf, 1 = tanh. With y's bf16 copy when given one (bf16_copy.cuh: a
// GELU's output is the input of the MLP's second linear layer), or into the copy alone (y null).
extern "C" __global__ void gelu_forward(int approx, long long n, const float* x, float* y, Bf16Copy copy) {
    if (aligned_16(x) && aligned_16(y) && copy_takes_packs(copy)) {
        GRID_STRIDE_LOOP(p, n / 4) {
            Pack<4> v = load_pack<4>(x, p);
#pragma unroll
            for (int e = 0; e < 4; ++e) v.v[e] = gelu_value(approx, v.v[e]);
            store_pack_with_copy(y, p, v, copy);
        }
        TAIL_LOOP(i, n) store_with_copy(y, i, gelu_value(approx, x[i]), copy);
        return;
    }
    GRID_STRIDE_LOOP(i, n) { store_with_copy(y, i, gelu_value(approx, x[i]), copy); }
}

// dx = dy · GELU'(x), dy f32 or bf16 (D; bf16 where the product that made it wrote bf16), into dx
// and/or dx's bf16 copy (the copy alone where dx is null: the MLP's first layer's output gradient,
// which only that layer's products and its bias's column sums read).
template <class D>
__device__ void gelu_backward_of(int approx, long long n, const float* x, const D* dy, float* dx, Bf16Copy copy) {
    if (aligned_16(x) && packs_aligned<4>(dy) && aligned_16(dx) && copy_takes_packs(copy)) {
        GRID_STRIDE_LOOP(p, n / 4) {
            Pack<4> v = load_pack<4>(x, p), d = load_pack<4>(dy, p);
#pragma unroll
            for (int e = 0; e < 4; ++e) d.v[e] *= gelu_derivative(approx, v.v[e]);
            store_pack_with_copy(dx, p, d, copy);
        }
        TAIL_LOOP(i, n) store_with_copy(dx, i, value_at(dy, i) * gelu_derivative(approx, x[i]), copy);
        return;
    }
    GRID_STRIDE_LOOP(i, n) { store_with_copy(dx, i, value_at(dy, i) * gelu_derivative(approx, x[i]), copy); }
}

extern "C" __global__ void gelu_backward(int approx, long long n, const float* x, const float* dy, float* dx,
                                         Bf16Copy copy) {
    gelu_backward_of(approx, n, x, dy, dx, copy);
}

extern "C" __global__ void gelu_backward_bf16_dy(int approx, long long n, const float* x, const __nv_bfloat16* dy,
                                                 float* dx, Bf16Copy copy) {
    gelu_backward_of(approx, n, x, dy, dx, copy);
}
