// The warp-level tensor-core product with a documented register layout (mma.sync, sm_80 and
// later): D (16 × 8, f32) += A (16 × 16, bf16) · B (16 × 8, bf16), each operand spread over the 32
// lanes of a warp. Unlike WMMA's fragments, whose layout is unspecified, a kernel may compute on
// these registers directly: the accumulator of one product can become the A operand of the next.
// With g = lane / 4 and q = lane % 4, lane (g, q) holds (PTX ISA, "mma.m16n8k16"):
//   A: a[0] = A[g][2q, 2q+1],  a[1] = A[g+8][2q, 2q+1],  a[2] = A[g][2q+8, 2q+9],  a[3] = A[g+8][2q+8, 2q+9]
//   B: b[0] = B[2q, 2q+1][g],  b[1] = B[2q+8, 2q+9][g]
//   D: d[0], d[1] = D[g][2q, 2q+1],  d[2], d[3] = D[g+8][2q, 2q+1]
// where a register of A or B holds two bf16, the first (lower column or row) in its low half.
// The CPU emulator (kernels/emulator/cpp/cuda_emulator.hpp) defines mma_m16n8k16_bf16 itself, with this layout.
// A register of A or B is made by bf16_pair (bf16_copy.cuh, prepended before this file).

#ifndef CUDA_EMULATOR
// d += A·B for one warp's fragments a (A, 16 × 16) and b (B, 16 × 8), in the layout above.
__device__ void mma_m16n8k16_bf16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

// ldmatrix (sm_75 and later): N (2 or 4) 8 × 8 matrices of 16-bit elements from shared memory
// into N registers of every lane of a warp, in the layout of the fragments above. Lane l names row
// l % 8 of matrix l / 8 (`row`: 16 bytes, 16-byte aligned); lane (g, q) receives elements 2q and
// 2q + 1 of row g of matrix i in r[i]. One instruction where plain loads take one per register
// and their addresses, and no bank conflicts where the 8 rows of a matrix fall in distinct
// 16-byte bank groups. ldmatrix_trans (.trans) reads each matrix as its transpose: lane (g, q)
// receives elements g of rows 2q and 2q + 1 (low half first) — the B fragment of a product whose
// k runs down the rows, read from a tile stored row by row. The CPU emulator defines both itself,
// with these layouts.
#ifndef CUDA_EMULATOR
template <int N>
__device__ void ldmatrix(unsigned (&r)[N], const unsigned* row) {
    static_assert(N == 2 || N == 4, "x2 and x4");
    unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(row));
    if constexpr (N == 2)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(address));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(address));
}

template <int N>
__device__ void ldmatrix_trans(unsigned (&r)[N], const unsigned* row) {
    static_assert(N == 2 || N == 4, "x2 and x4");
    unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(row));
    if constexpr (N == 2)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
                     : "=r"(r[0]), "=r"(r[1])
                     : "r"(address));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(address));
}
#endif

