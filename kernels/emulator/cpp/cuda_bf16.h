// bf16 for the CUDA emulator (cuda_emulator.hpp): the upper 16 bits of an f32, rounded to nearest
// even as __float2bfloat16_rn does on the GPU.
#pragma once
#include <stdint.h>
#include <string.h>

struct __nv_bfloat16;
inline __nv_bfloat16 __float2bfloat16_rn(float f);
inline float __bfloat162float(__nv_bfloat16 h);

struct __nv_bfloat16 {
    uint16_t bits;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f) : bits(__float2bfloat16_rn(f).bits) {}
    operator float() const { return __bfloat162float(*this); }
};

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    __nv_bfloat16 h;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        h.bits = (uint16_t)((u >> 16) | 0x40);  // NaN stays a (quiet) NaN
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
        h.bits = (uint16_t)(u >> 16);
    }
    return h;
}

inline float __bfloat162float(__nv_bfloat16 h) {
    uint32_t u = (uint32_t)h.bits << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.bits; }
