// Pieces shared by correlate.cu and reduce.cu.
//
// launch.py pastes this file in place of the #include (with #line directives, so NVRTC
// messages name this file and its lines) after the including file has defined:
//   T        storage type of input and output
//   NWARPS   warps per block; TX x TY the block's output tile
// and the loops expect `warp` and `lane` (the thread's warp in the block, lane in the warp).

#ifndef FOCAL_COMMON_CUH
#define FOCAL_COMMON_CUH

__device__ __forceinline__ double nan_value() { return __longlong_as_double(0x7ff8000000000000LL); }
__device__ __forceinline__ double inf_value() { return __longlong_as_double(0x7ff0000000000000LL); }

// The two loops below are macros, expanded in place: as __device__ routines (even
// __forceinline__ templates) the compiler allocated more registers to the kernels that
// call them, which made the r=7 kernels measurably slower.

// Stage the band's input tile plus halo (nrows x ncols, row pitch `pitch`) in shared
// memory as type S, reading through the per-axis index maps: every boundary mode and
// every dask chunk is just data here (-1: outside the array, `fill`). Rows are spread
// over the warps, columns over the lanes.
#define FOCAL_STAGE_HALO(S, tile, srcb, ymap, xmap, fill, py0, px0, nrows, ncols, pitch, ws, \
                         ylen, xlen)                                                       \
    for (int r = warp; r < (nrows); r += NWARPS) {                                          \
        const int py = (py0) + r;                                                           \
        const int sy = (py < (ylen)) ? (ymap)[py] : -1;                                     \
        const T* srow = (srcb) + (long long)(sy < 0 ? 0 : sy) * (ws);                       \
        S* trow = (tile) + r * (pitch);                                                     \
        for (int c = lane; c < (ncols); c += 32) {                                          \
            const int px = (px0) + c;                                                       \
            const int sx = (px < (xlen)) ? (xmap)[px] : -1;                                 \
            trow[c] = (sy >= 0 && sx >= 0) ? S(srow[sx]) : (fill);                          \
        }                                                                                   \
    }

// Write the TY x TX outputs staged in `tile` (row pitch TX + 1) to the slice `outb`, one
// coalesced row per warp at a time.
#define FOCAL_STORE_TILE(outb, tile, y0, x0, ho, wo)                                        \
    for (int r = warp; r < TY; r += NWARPS) {                                               \
        const int y = (y0) + r;                                                             \
        if (y >= (ho)) break;                                                               \
        for (int c = lane; c < TX; c += 32) {                                               \
            const int x = (x0) + c;                                                         \
            if (x < (wo)) (outb)[(long long)y * (wo) + x] = T((tile)[r * (TX + 1) + c]);    \
        }                                                                                   \
    }

#endif  // FOCAL_COMMON_CUH
