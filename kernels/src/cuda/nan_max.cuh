// A maximum and minimum that keep NaN: the larger (smaller) of a and b, or NaN when either is NaN —
// IEEE 754-2019's maximum, as PyTorch's max, softmax and ReLU give. fmaxf returns the other operand
// instead, so a row of NaN scores would look fully masked (its maximum −∞) and come out as zeros.
// One instruction from sm_80 on (max.NaN.f32); the CPU emulator compares. Prepended to the sources
// whose kernels take a maximum or a minimum.

__device__ float max_nan(float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800 && !defined(CUDA_EMULATOR)
    float d;
    asm("max.NaN.f32 %0, %1, %2;" : "=f"(d) : "f"(a), "f"(b));
    return d;
#else
    return a > b || a != a ? a : b;
#endif
}

// min(a, b) = −max(−a, −b): negation is exact and keeps NaN.
__device__ float min_nan(float a, float b) {
    return -max_nan(-a, -b);
}
