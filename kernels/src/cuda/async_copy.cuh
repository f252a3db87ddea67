// Asynchronous copies global → shared (cp.async, Ampere and later): the data does not pass through
// registers, so the next tiles load while the warps multiply the current ones. Prepended to the
// sources that pipeline their loads. The CPU emulator (kernels/emulator/cpp/cuda_emulator.hpp) defines these
// three as plain copies instead.
#ifndef CUDA_EMULATOR
// Copies 16 bytes, or writes 16 zero bytes when !valid (reads nothing).
__device__ void cp_async16(void* shared, const void* global, bool valid) {
    unsigned address = (unsigned)__cvta_generic_to_shared(shared);
    int bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(address), "l"(global), "r"(bytes));
}

// Closes the group of copies issued so far.
__device__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

// Waits until at most N groups are still in flight.
template <int N>
__device__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
#endif
