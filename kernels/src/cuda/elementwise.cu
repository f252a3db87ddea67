// Elementwise ops on strided f32 tensors with numpy broadcasting: element i of the output (dense,
// row-major) reads each input at the offset its own shape/strides give (stride 0 on broadcast dims).
// Where every operand is dense from a 16-byte aligned start (a residual add, a gradient
// accumulation), the elements move in float4 packs instead, the last n % 4 one by one. layout.cuh,
// packs.cuh and gelu.cuh are prepended (GELU is a unary op here).

// Whether layout l reads its elements densely from a 16-byte aligned start in base.
__device__ bool dense_packs(const float* base, const Layout& l) {
    return l.rank == 1 && l.strides[0] == 1 && aligned_16(base + l.offset);
}

// op: 0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min, 6 pow.
__device__ float binary_op(int op, float a, float b) {
    switch (op) {
        case 0: return a + b;
        case 1: return a - b;
        case 2: return a * b;
        case 3: return a / b;
        case 4: return max_nan(a, b);
        case 5: return min_nan(a, b);
        default: return powf(a, b);
    }
}

// out[i] = a[i] op b[i], a and b broadcast to the output's shape by their layouts.
extern "C" __global__ void binary_f32(int op, long long n, const float* a, Layout la, const float* b, Layout lb,
                                      float* out) {
    if (dense_packs(a, la) && dense_packs(b, lb) && aligned_16(out)) {
        a += la.offset, b += lb.offset;
        GRID_STRIDE_LOOP(p, n / 4) {
            Pack<4> x = load_pack<4>(a, p), y = load_pack<4>(b, p);
#pragma unroll
            for (int e = 0; e < 4; ++e) x.v[e] = binary_op(op, x.v[e], y.v[e]);
            store_pack<4>(out, p, x);
        }
        TAIL_LOOP(i, n) out[i] = binary_op(op, a[i], b[i]);
        return;
    }
    GRID_STRIDE_LOOP(i, n) out[i] = binary_op(op, a[offset_of(i, la)], b[offset_of(i, lb)]);
}

// dst[i] += src[i] for a dense dst and a strided src (gradient accumulation in place).
extern "C" __global__ void add_assign_f32(long long n, float* dst, const float* src, Layout ls) {
    if (dense_packs(src, ls) && aligned_16(dst)) {
        src += ls.offset;
        GRID_STRIDE_LOOP(p, n / 4) {
            Pack<4> d = load_pack<4>(dst, p), x = load_pack<4>(src, p);
#pragma unroll
            for (int e = 0; e < 4; ++e) d.v[e] += x.v[e];
            store_pack<4>(dst, p, d);
        }
        TAIL_LOOP(i, n) dst[i] += src[i];
        return;
    }
    GRID_STRIDE_LOOP(i, n) dst[i] += src[offset_of(i, ls)];
}

// op: 0 neg, 1 exp, 2 log, 3 tanh, 4 sigmoid, 5 relu, 6 sqrt, 7 abs, 8 x + s, 9 x·s, 10 xˢ, 11 x / s,
// 12 GELU (erf), 13 GELU (tanh).
__device__ float unary_op(int op, float x, float s) {
    switch (op) {
        case 0: return -x;
        case 1: return expf(x);
        case 2: return logf(x);
        case 3: return tanhf(x);
        case 4: return 1.0f / (1.0f + expf(-x));
        case 5: return max_nan(x, 0.0f);
        case 6: return sqrtf(x);
        case 7: return fabsf(x);
        case 8: return x + s;
        case 9: return x * s;
        case 10: return powf(x, s);
        case 11: return x / s;
        case 12: return gelu_value(0, x);
        default: return gelu_value(1, x);
    }
}

// out[i] = f(x[i]) for a strided x (also the copy of a view into dense memory: op 9, s = 1).
extern "C" __global__ void unary_f32(int op, float s, long long n, const float* x, Layout lx, float* out) {
    if (dense_packs(x, lx) && aligned_16(out)) {
        x += lx.offset;
        GRID_STRIDE_LOOP(p, n / 4) {
            Pack<4> v = load_pack<4>(x, p);
#pragma unroll
            for (int e = 0; e < 4; ++e) v.v[e] = unary_op(op, v.v[e], s);
            store_pack<4>(out, p, v);
        }
        TAIL_LOOP(i, n) out[i] = unary_op(op, x[i], s);
        return;
    }
    GRID_STRIDE_LOOP(i, n) out[i] = unary_op(op, x[offset_of(i, lx)], s);
}

// The other direction: dense x into a strided place of out (a slice of a concatenation).
extern "C" __global__ void copy_into_f32(long long n, const float* x, float* out, Layout lo) {
    GRID_STRIDE_LOOP(i, n) out[offset_of(i, lo)] = x[i];
}

// out[i] = value.
extern "C" __global__ void fill_f32(long long n, float value, float* out) {
    GRID_STRIDE_LOOP(i, n) out[i] = value;
}

// op: 0 ==, 1 !=, 2 <, 3 <=, 4 >, 5 >=; out is a u32 mask.
extern "C" __global__ void cmp_f32(int op, long long n, const float* a, Layout la, const float* b, Layout lb,
                                   unsigned int* out) {
    GRID_STRIDE_LOOP(i, n) {
        float x = a[offset_of(i, la)], y = b[offset_of(i, lb)];
        bool r = op == 0 ? x == y : op == 1 ? x != y : op == 2 ? x < y : op == 3 ? x <= y : op == 4 ? x > y : x >= y;
        out[i] = r ? 1u : 0u;
    }
}

// out[i] = cond[i] != 0 ? a[i] : b[i], all three broadcast by their layouts.
extern "C" __global__ void where_f32(long long n, const unsigned int* cond, Layout lc, const float* a, Layout la,
                                     const float* b, Layout lb, float* out) {
    GRID_STRIDE_LOOP(i, n) out[i] = cond[offset_of(i, lc)] != 0 ? a[offset_of(i, la)] : b[offset_of(i, lb)];
}
