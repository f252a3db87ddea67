// GELU forward and backward on dense rows (the formulas in gelu.cuh, the loops in layout.cuh,
// packs.cuh and bf16_copy.cuh, prepended). GELU's input u is f32, or (under bf16 products) the
// MLP's first product x·W₁ in bf16 with the bias b₁ its product left out, added here as each
// element is read: u = x·W₁ + b₁ is never written. Buffers that start aligned for packs move 4
// elements at a time (the copy's rows must hold whole packs, cols a multiple of 4, and start 8-byte
// aligned: each pack's copy is one 8-byte store), the last n % 4 elements one by one.

// Whether a copy can take packs of 4 (rows whole packs, starting 8-byte aligned), or there is none.
__device__ bool copy_takes_packs(Bf16Copy copy) {
    return !copy.data || (copy.cols % 4 == 0 && copy_rows_aligned_8(copy));
}

// Whether the bias can be read in packs of 4 along rows of cols (or there is none).
__device__ bool bias_takes_packs(const float* bias, long long cols) {
    return !bias || (cols % 4 == 0 && aligned_16(bias));
}

// u[i] = x[i] + bias[i % cols] (x[i] without a bias).
template <class X>
__device__ float preactivation(const X* x, const float* bias, long long cols, long long i) {
    float u = value_at(x, i);
    return bias ? u + bias[i % cols] : u;
}

// Pack p of u (elements 4p … 4p + 3, in one row: cols a multiple of 4 where there is a bias).
template <class X>
__device__ Pack<4> preactivation_pack(const X* x, const float* bias, long long cols, long long p) {
    Pack<4> u = load_pack<4>(x, p);
    if (bias) {
        Pack<4> b = load_pack<4>(bias, (4 * p % cols) / 4);
#pragma unroll
        for (int e = 0; e < 4; ++e) u.v[e] += b.v[e];
    }
    return u;
}

// y = GELU(u), approx: 0 = erf, 1 = tanh, with y's bf16 copy when given one (bf16_copy.cuh: a
// GELU's output is the input of the MLP's second linear layer), or into the copy alone (y null).
template <class X>
__device__ void gelu_forward_of(int approx, long long n, long long cols, const X* x, const float* bias, float* y,
                                Bf16Copy copy) {
    if (packs_aligned<4>(x) && bias_takes_packs(bias, cols) && aligned_16(y) && copy_takes_packs(copy)) {
        GRID_STRIDE_LOOP(p, n / 4) {
            Pack<4> v = preactivation_pack(x, bias, cols, p);
#pragma unroll
            for (int e = 0; e < 4; ++e) v.v[e] = gelu_value(approx, v.v[e]);
            store_pack_with_copy(y, p, v, copy);
        }
        TAIL_LOOP(i, n) store_with_copy(y, i, gelu_value(approx, preactivation(x, bias, cols, i)), copy);
        return;
    }
    GRID_STRIDE_LOOP(i, n) { store_with_copy(y, i, gelu_value(approx, preactivation(x, bias, cols, i)), copy); }
}

extern "C" __global__ void gelu_forward(int approx, long long n, long long cols, const float* u, float* y,
                                        Bf16Copy copy) {
    gelu_forward_of(approx, n, cols, u, (const float*)0, y, copy);
}

extern "C" __global__ void gelu_forward_bf16_product(int approx, long long n, long long cols,
                                                     const __nv_bfloat16* product, const float* bias, float* y,
                                                     Bf16Copy copy) {
    gelu_forward_of(approx, n, cols, product, bias, y, copy);
}

// du = dy · GELU'(u), dy in u's precision (f32, or bf16 where the product that made it wrote bf16),
// into du and/or du's bf16 copy (the copy alone where du is null: the MLP's first layer's output
// gradient, which only that layer's products and its bias's column sums read).
template <class X, class D>
__device__ void gelu_backward_of(int approx, long long n, long long cols, const X* x, const float* bias, const D* dy,
                                 float* du, Bf16Copy copy) {
    if (packs_aligned<4>(x) && bias_takes_packs(bias, cols) && packs_aligned<4>(dy) && aligned_16(du) &&
        copy_takes_packs(copy)) {
        GRID_STRIDE_LOOP(p, n / 4) {
            Pack<4> v = preactivation_pack(x, bias, cols, p), d = load_pack<4>(dy, p);
#pragma unroll
            for (int e = 0; e < 4; ++e) d.v[e] *= gelu_derivative(approx, v.v[e]);
            store_pack_with_copy(du, p, d, copy);
        }
        TAIL_LOOP(i, n) {
            store_with_copy(du, i, value_at(dy, i) * gelu_derivative(approx, preactivation(x, bias, cols, i)), copy);
        }
        return;
    }
    GRID_STRIDE_LOOP(i, n) {
        store_with_copy(du, i, value_at(dy, i) * gelu_derivative(approx, preactivation(x, bias, cols, i)), copy);
    }
}

extern "C" __global__ void gelu_backward(int approx, long long n, long long cols, const float* u, const float* dy,
                                         float* du, Bf16Copy copy) {
    gelu_backward_of(approx, n, cols, u, (const float*)0, dy, du, copy);
}

extern "C" __global__ void gelu_backward_bf16_product(int approx, long long n, long long cols,
                                                      const __nv_bfloat16* product, const float* bias,
                                                      const __nv_bfloat16* dy, float* du, Bf16Copy copy) {
    gelu_backward_of(approx, n, cols, product, bias, dy, du, copy);
}
