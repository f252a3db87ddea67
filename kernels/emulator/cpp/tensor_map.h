// The emulated driver's CUtensorMap (cuTensorMapEncodeTiled in fake_cuda.cpp), as the emulator's
// TMA copies (tma_load_2d in cuda_emulator.hpp) read it: a 2-D tensor of 2-byte elements in the
// 128 bytes a tensor map has.
#pragma once
#include <stdint.h>

struct EmulatedTensorMap {
    uint64_t magic;          // TENSOR_MAP_MAGIC once encoded
    uint64_t address;        // of element (0, 0)
    uint64_t dims[2];        // elements, the contiguous dim first
    uint64_t row_bytes;      // from one element of dim 1 to the next
    uint32_t box[2];         // the copied box, in elements, the contiguous dim first
    uint32_t swizzle_bytes;  // 0, or 128: the 16-byte chunk c of box row r lands at c ^ (r % 8)
};

static const uint64_t TENSOR_MAP_MAGIC = 0x50414d54554d45ull;  // "EMUTMAP"
static_assert(sizeof(EmulatedTensorMap) <= 128, "a CUtensorMap is 128 bytes");
