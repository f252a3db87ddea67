// GELU forward and backward on dense f32 buffers (the formulas in gelu.cuh, the loops in layout.cuh,
// packs.cuh and bf16_copy.cuh, prepended). Buffers that start 16-byte aligned move in float4 packs
// (the copy's rows must hold whole packs, cols a multiple of 4, and start 8-byte aligned: each
// pack's copy is one 8-byte store), the last n % 4 elements one by one.

// y = GELU(x); approx: 0 = erf, 1 = tanh. With y's bf16 copy when given one (bf16_copy.cuh: a
// GELU's output is the input of the MLP's second linear layer).
extern "C" __global__ void gelu_forward(int approx, long long n, const float* x, float* y, Bf16Copy copy) {
    if (aligned_16(x) && aligned_16(y) && (!copy.data || (copy.cols % 4 == 0 && copy_rows_aligned_8(copy)))) {
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

// dx = dy · GELU'(x).
extern "C" __global__ void gelu_backward(int approx, long long n, const float* x, const float* dy, float* dx) {
    if (aligned_16(x) && aligned_16(dy) && aligned_16(dx)) {
        GRID_STRIDE_LOOP(p, n / 4) {
            Pack<4> v = load_pack<4>(x, p), d = load_pack<4>(dy, p);
#pragma unroll
            for (int e = 0; e < 4; ++e) d.v[e] *= gelu_derivative(approx, v.v[e]);
            store_pack<4>(dx, p, d);
        }
        TAIL_LOOP(i, n) dx[i] = dy[i] * gelu_derivative(approx, x[i]);
        return;
    }
    GRID_STRIDE_LOOP(i, n) {
        dx[i] = dy[i] * gelu_derivative(approx, x[i]);
    }
}
