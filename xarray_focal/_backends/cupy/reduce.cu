// NaN-aware focal statistics (compiled by NVRTC through cupy.RawKernel; see launch.py).
//
// Macros set per variant by launch.py (and the FOCAL_STAT_* codes and FOCAL_EPS64 from
// xarray_focal._contract.cuda_defines()):
//   FOCAL_T  storage type of input and output (float or double)
//   FOCAL_K  outputs per thread, consecutive along x; FOCAL_WX x FOCAL_WY warps a block
//   NEED_X, NEED_WV, NEED_Q, NEED_MX, NEED_MN (0/1): the channels -- sum of w*x, sum of
//            w over valid taps, the variance's pair (see below), max, min; the count of
//            valid taps is always kept
//   UNIT_W   every run weight is 1 (statistics): no multiplications by w
//
// The tile, halo and bands are those of focal_correlate (correlate.cu), but the tile
// holds doubles (a float is converted once when staged) and every read tap is split into
// channels on the fly: valid = (v == v); NaN adds 0 to the sums and is skipped by fmax/fmin (which
// return the other operand). Runs of length L >= K share their middle L-K+1 taps
// ("core") among the thread's K windows; window k adds its own left suffix and right
// prefix -- sums, counts, maxima and minima all split this way, and every window still
// adds only taps inside it (inf and NaN stay exact). Everything is accumulated in double,
// counts in int; the finishing formulas are those of _algorithms/masked/finish.py.
//
// The sum of w*x is never shifted, so sum and mean do not depend on which other
// statistics are computed with them. The variance has its own pair, taken about a
// reference value s local to the window: a Part takes as s the first valid value it
// adds and keeps xs = sum(v - s), qs = sum((v - s)^2); an Acc takes the reference of the
// first part or tap with a valid value it receives and re-centres every later part on
// its own s (d = s_part - s_acc: xs += x + n d, qs += q + d (2 x + n d)). s is a value of
// the window, so |v - s| is at most the window's range R and the one-pass formula
// qs/n - (xs/n)^2 loses at most a few (n + 2) eps R^2, whatever lies outside the window.

typedef FOCAL_T T;
#define K FOCAL_K
#define WX FOCAL_WX
#define WY FOCAL_WY
#define NWARPS (WX * WY)
#define NTHREADS (32 * NWARPS)
#define TX (K * WX)
#define TY (32 * WY)

#include "common.cuh"

#include "stats.cuh"

extern "C" __global__ void __launch_bounds__(NTHREADS)
focal_reduce(const T* __restrict__ src, T* __restrict__ out,
             const int* __restrict__ ymap, const int* __restrict__ xmap,
             const int4* __restrict__ runs, const double* __restrict__ weights,
             const int* __restrict__ bands, const int nbands,
             const long long codes, const int nstats, const long long stat_stride,
             const double fill, const double threshold, const double wtotal,
             const int ntaps, const double wcancel,
             const int hs, const int ws, const int ho, const int wo,
             const int ylen, const int xlen, const int nbatch, const int pitch)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    double* tile = reinterpret_cast<double*>(smem_raw);

    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int wy = warp / WX;
    const int wx = warp - wy * WX;
    const int x0 = blockIdx.x * TX;
    const int y0 = blockIdx.y * TY;
    const int orow = wy * 32 + lane;
    const int ocol = wx * K;

    for (int b = blockIdx.z; b < nbatch; b += gridDim.z) {
        const T* srcb = src + (long long)b * hs * ws;
        Acc acc[K];
#pragma unroll
        for (int k = 0; k < K; ++k) acc[k].clear();

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

            __syncthreads();
            FOCAL_STAGE_HALO(double, tile, srcb, ymap, xmap, fill, y0 + dy0, x0 + dx0,
                             nrows, ncols, pitch, ws, ylen, xlen);
            __syncthreads();

            const double* base = tile + orow * pitch + ocol;
            for (int i = rbeg; i < rend; ++i) {
                const int4 rn = runs[i];  // (row in band, column in band, length, -)
                const double w = weights[i];
                const double* p = base + rn.x * pitch + rn.y;
                const int L = rn.z;
                if (L < K) {
                    for (int j = 0; j < L; ++j) {
#pragma unroll
                        for (int k = 0; k < K; ++k) acc[k].tap(p[k + j], w);
                    }
                    continue;
                }
                // Window k = p[k .. K-2] + core p[K-1 .. L-1] + p[L .. L+k-1].
                Part t;
                t.clear();
                for (int j = K - 1; j < L; ++j) t.add(p[j]);
                acc[K - 1].merge(t, w);
#pragma unroll
                for (int k = K - 2; k >= 0; --k) { t.add(p[k]); acc[k].merge(t, w); }
                Part u;
                u.clear();
#pragma unroll
                for (int k = 1; k < K; ++k) { u.add(p[L + k - 1]); acc[k].merge(u, w); }
            }
        }

        // One statistic at a time, staged through shared memory for coalesced stores.
        for (int s = 0; s < nstats; ++s) {
            const int code = int((codes >> (4 * s)) & 15);
            __syncthreads();
            double* stage = tile + orow * (TX + 1) + ocol;
#pragma unroll
            for (int k = 0; k < K; ++k) stage[k] = acc[k].finish(code, threshold, wtotal, ntaps, wcancel);
            __syncthreads();
            T* outb = out + s * stat_stride + (long long)b * ho * wo;
            FOCAL_STORE_TILE(outb, tile, y0, x0, ho, wo);
        }
    }
}
