// Focal correlation (compiled by NVRTC through cupy.RawKernel; see launch.py).
//
// Macros set per variant by launch.py:
//   FOCAL_T  storage type of input and output (float or double)
//   FOCAL_A  accumulation type; also the type the shared-memory tile holds
//   FOCAL_K  outputs per thread, consecutive along x
//
// One block computes a TY x TX output tile of one 2-D slice (blockIdx.z walks the
// leading axes, so an N-D cube is one launch). Lane l of a warp owns output row l of its
// warp's 32 rows and K consecutive columns: a warp's shared-memory reads hit 32 different
// rows at the same column, which the odd row pitch spreads over all 32 banks.
//
// The kernel comes as *runs*: adjacent taps of one kernel row with one weight (a disc is
// one run per row). Zero taps are never part of a run, so they are never read. A run of
// length L contributes w * (sum of L neighbours) to each of the thread's K outputs:
//   L == 1      K loads, K fused multiply-adds (general kernels)
//   1 < L < K   the L+K-1 values slide through registers: one load per step
//   L >= K      the K windows share the middle L-K+1 values ("core"); each window adds
//               its own left suffix and right prefix (K-1 values on each side), so K
//               windows cost L+K-1 loads. Every window sum adds only values inside the
//               window: a NaN or inf outside it cannot leak in, unlike running sums.
// Runs of one kernel row accumulate into `racc`, flushed into `tot` at the row's end;
// layout.py bounds the rounding of this structure and picks FOCAL_A from it.
//
// Tiles larger than shared memory are split into bands of kernel rows/columns; each band
// loads its own halo and the accumulators carry over.

typedef FOCAL_T T;
typedef FOCAL_A A;
#define K FOCAL_K
#define WX 4
#define WY 2
#define NWARPS (WX * WY)
#define NTHREADS (32 * NWARPS)
#define TX (K * WX)
#define TY (32 * WY)

#include "common.cuh"

extern "C" __global__ void __launch_bounds__(NTHREADS)
focal_correlate(const T* __restrict__ src, T* __restrict__ out,
                const int* __restrict__ ymap, const int* __restrict__ xmap,
                const int4* __restrict__ runs, const A* __restrict__ weights,
                const int* __restrict__ bands, const int nbands,
                const A fill, const int hs, const int ws, const int ho, const int wo,
                const int ylen, const int xlen, const int nbatch, const int pitch)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    A* tile = reinterpret_cast<A*>(smem_raw);

    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int wy = warp / WX;
    const int wx = warp - wy * WX;
    const int x0 = blockIdx.x * TX;
    const int y0 = blockIdx.y * TY;
    const int orow = wy * 32 + lane;   // this thread's output row within the tile
    const int ocol = wx * K;           // its first output column within the tile

    for (int b = blockIdx.z; b < nbatch; b += gridDim.z) {
        const T* srcb = src + (long long)b * hs * ws;
        T* outb = out + (long long)b * ho * wo;

        A tot[K];
        A racc[K];
#pragma unroll
        for (int k = 0; k < K; ++k) { tot[k] = A(0); racc[k] = A(0); }

        for (int band = 0; band < nbands; ++band) {
            // (first row, height, first column, width, first run, end run): layout.py
            const int dy0 = bands[6 * band + 0];
            const int bh = bands[6 * band + 1];
            const int dx0 = bands[6 * band + 2];
            const int bw = bands[6 * band + 3];
            const int rbeg = bands[6 * band + 4];
            const int rend = bands[6 * band + 5];
            const int nrows = TY + bh - 1;
            const int ncols = TX + bw - 1;

            __syncthreads();  // the previous band (or slice) is done with the tile
            FOCAL_STAGE_HALO(A, tile, srcb, ymap, xmap, fill, y0 + dy0, x0 + dx0,
                             nrows, ncols, pitch, ws, ylen, xlen);
            __syncthreads();

            const A* base = tile + orow * pitch + ocol;
            for (int i = rbeg; i < rend; ++i) {
                const int4 rn = runs[i];   // (row in band, column in band, length, row end: 1, only run: 2)
                const A w = weights[i];
                const A* p = base + rn.x * pitch + rn.y;
                const int L = rn.z;
                if (L == 1) {
#pragma unroll
                    for (int k = 0; k < K; ++k) racc[k] = fma(w, p[k], racc[k]);
                } else if (L < K) {
                    A v[K];
#pragma unroll
                    for (int k = 0; k < K; ++k) v[k] = p[k];
                    for (int j = 0;;) {
#pragma unroll
                        for (int k = 0; k < K; ++k) racc[k] = fma(w, v[k], racc[k]);
                        if (++j == L) break;
#pragma unroll
                        for (int k = 0; k < K - 1; ++k) v[k] = v[k + 1];
                        v[K - 1] = p[j + K - 1];
                    }
                } else {
                    // Window k covers p[k .. k+L-1] = p[k..K-2] + p[K-1..L-1] + p[L..L+k-1].
                    A core = p[K - 1];
                    for (int j = K; j < L; ++j) core += p[j];
                    A part[K];
                    A t = core;
                    part[K - 1] = core;
#pragma unroll
                    for (int k = K - 2; k >= 0; --k) { t += p[k]; part[k] = t; }
                    A u = A(0);
#pragma unroll
                    for (int k = 1; k < K; ++k) { u = (k == 1) ? p[L] : u + p[L + k - 1]; part[k] += u; }
                    if (rn.w == 2) {
                        // The row's only run: straight into the total, no row flush.
#pragma unroll
                        for (int k = 0; k < K; ++k) tot[k] = fma(w, part[k], tot[k]);
                        continue;
                    }
#pragma unroll
                    for (int k = 0; k < K; ++k) racc[k] = fma(w, part[k], racc[k]);
                }
                if (rn.w) {
#pragma unroll
                    for (int k = 0; k < K; ++k) { tot[k] += racc[k]; racc[k] = A(0); }
                }
            }
        }

        // Stage through shared memory so the global stores are coalesced rows.
        __syncthreads();
        A* stage = tile + orow * (TX + 1) + ocol;
#pragma unroll
        for (int k = 0; k < K; ++k) stage[k] = tot[k];
        __syncthreads();
        FOCAL_STORE_TILE(outb, tile, y0, x0, ho, wo);
    }
}
