// Focal correlation and statistics with a footprint per output row (geodesic kernels on
// latitude/longitude grids), compiled by NVRTC through cupy.RawKernel (see geodesic.py).
//
// Macros set per variant by geodesic.py (and the FOCAL_STAT_* codes and FOCAL_EPS64 from
// xarray_focal._contract.cuda_defines()):
//   FOCAL_T   storage type of input and output (float or double)
//   FOCAL_K   outputs per lane of an ordinary work item (heavy items take one)
//   FOCAL_NP  parts per output of a heavy item (see below)
//   FOCAL_SHARED  1: the work items are of the shared layout, 0: of the strided one
//   NEED_X, NEED_WV, NEED_Q, NEED_MX, NEED_MN, UNIT_W: the channels, as in reduce.cu
//   AREA_W    run weights are the cells' areas: mean and variance divide by the valid
//             weight (stats.cuh)
//   FOCAL_WMODE  what a run weighs: 0 nothing (statistics), 1 its kernel weight
//             (correlate), 2 the area of its source row (area_weighted=True)
//
// The per-row table: output row y (tile-local; grid row row0 + y) has footprint class
// c = row_class[row0 + y], whose runs are runs[cls_ptr[c] .. cls_ptr[c + 1]] as (dy, dx,
// length, -) in the tile's padded coordinates, weights wts[] alongside, and per class
// (taps, weight sum, absolute weight sum) in cls_info. The tables are the kernel's, on
// the device once; only the index maps and the work list belong to a tile.
//
// Work: one warp per item (row, first column, outputs per lane, layout); every lane of a
// warp follows the same runs (one output row: no divergence), and the host lists the
// heaviest items first, so that the rows near a pole, whose footprints take whole rows
// (thousands of taps), do not all start last. Two layouts (geodesic.py's SHARED_RUNS):
//   shared  (item_shared) lane l owns the K consecutive outputs first + l K + k, whose
//           windows share each run's core (L + K - 1 reads for K outputs, as reduce.cu);
//           rows of long footprints sum each core in FOCAL_NP parts;
//   strided (item) lane l owns outputs first + l + 32 k: each load of a warp reads 32
//           consecutive cells; each output sums its runs alone; rows of long footprints
//           take one output a lane, its runs in FOCAL_NP parts.
// Every window adds only taps inside it, run by run into Parts (stats.cuh) merged with the
// run's weight: the rounding is that of a sum of one run's taps plus a few terms per run,
// as on the CPU, and NaN and inf stay exact. Parts are independent sums: several in
// flight keep one lane's long sum from being one chain of dependent additions. Source
// columns inside the x map's plain shift are computed, not looked up: each run's taps
// split into at most three warp-uniform stretches for that. A run that is a whole row of
// a global grid (FOCAL nfull: every longitude once, the rows nearest a pole) is the same
// set of cells for every output of the row: the warp sums it once, a 32nd per lane, and
// joins the lanes' parts (warp_join) -- still only taps inside each window.

typedef FOCAL_T T;
#define K FOCAL_K
#define NWARPS 4
#define NTHREADS (32 * NWARPS)

#include "common.cuh"

#include "stats.cuh"

// The launch's arguments, gathered for the device functions below.
struct Args {
    const T* src;
    T* out;
    const int* ymap;
    const int* xmap;
    const int* row_class;
    const int* cls_ptr;
    const int4* runs;
    const double* wts;
    const double* cls_info;
    const double* area;
    long long codes;
    long long stat_stride;
    double fill;
    double min_count;
    int nstats;
    int propagate;
    int row0;
    int hs, ws, ho, wo;
    int xlo, xhi, xoff;
    int nfull;
};

// One stretch j0 .. j1 - 1 of a run's taps into the parts; PLAIN: source column = padded
// column + xoff for every lane (no look-up). Output k's taps go round-robin into its NP
// parts part[k * NP + q] (q = (j - j0) % NP): NP independent sums in flight.
template <int KK, int NP, bool PLAIN>
__device__ __forceinline__ void stretch(Part (&part)[KK * NP], const T* __restrict__ srow,
                                        const bool row_in, const int (&px0)[KK], const int j0,
                                        const int j1, const Args& a)
{
    for (int j = j0; j < j1; j += NP) {
#pragma unroll
        for (int q = 0; q < NP; ++q) {
            if (NP > 1 && j + q >= j1) break;
#pragma unroll
            for (int k = 0; k < KK; ++k) {
                const int px = px0[k] + j + q;
                const int sx = PLAIN ? px + a.xoff : __ldg(a.xmap + px);
                part[k * NP + q].add((row_in && sx >= 0) ? double(__ldg(srow + sx)) : a.fill);
            }
        }
    }
}

// The parts of the 32 lanes joined (lane order, a tree), the whole on every lane.
__device__ __forceinline__ void warp_join(Part& p)
{
    constexpr unsigned all = 0xffffffffu;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        Part o;
        o.n = __shfl_down_sync(all, p.n, off);
        o.x = __shfl_down_sync(all, p.x, off);
        o.xs = __shfl_down_sync(all, p.xs, off);
        o.qs = __shfl_down_sync(all, p.qs, off);
        o.s = __shfl_down_sync(all, p.s, off);
        o.mx = __shfl_down_sync(all, p.mx, off);
        o.mn = __shfl_down_sync(all, p.mn, off);
        if ((threadIdx.x & 31) + off < 32) p.join(o);
    }
    p.n = __shfl_sync(all, p.n, 0);
    p.x = __shfl_sync(all, p.x, 0);
    p.xs = __shfl_sync(all, p.xs, 0);
    p.qs = __shfl_sync(all, p.qs, 0);
    p.s = __shfl_sync(all, p.s, 0);
    p.mx = __shfl_sync(all, p.mx, 0);
    p.mn = __shfl_sync(all, p.mn, 0);
}

// One tap at padded column px, plain or looked up as the column lies (a few taps a run).
__device__ __forceinline__ double tap_at(const T* __restrict__ srow, const bool row_in,
                                         const int px, const Args& a);

// The outputs of one work item: KK per lane, each run's taps in NP parts per output.
template <int KK, int NP>
__device__ __forceinline__ void item(const int y, const int first, const int lane,
                                     const T* __restrict__ srcb, T* __restrict__ outb,
                                     const long long plane, const Args& a)
{
    const int c = __ldg(a.row_class + a.row0 + y);
    int xk[KK];
#pragma unroll
    for (int k = 0; k < KK; ++k) xk[k] = min(first + lane + 32 * k, a.wo - 1);
    // The warp's outputs span columns first .. last (clamped to the row).
    const int last = min(first + 32 * KK - 1, a.wo - 1);

    Acc acc[KK];
#pragma unroll
    for (int k = 0; k < KK; ++k) acc[k].clear();
    for (int i = a.cls_ptr[c]; i < a.cls_ptr[c + 1]; ++i) {
        const int4 rn = __ldg(a.runs + i);  // (dy, dx, length, -)
        const int t = y + rn.x;
        const int sy = __ldg(a.ymap + t);
        const bool row_in = sy >= 0;
        const T* srow = srcb + (long long)(row_in ? sy : 0) * a.ws;
        double w = 1.0;
        if (FOCAL_WMODE == 1) w = __ldg(a.wts + i);
        if (FOCAL_WMODE == 2) w = __ldg(a.area + a.row0 + t);
        if (rn.z == a.nfull) {
            // A whole row of a global grid (near a pole): every output of the row reads
            // every longitude once, so the warp sums the row once, each lane a 32nd.
            Part p;
            p.clear();
            for (int j = lane; j < rn.z; j += 32) p.add(tap_at(srow, row_in, first + rn.y + j, a));
            warp_join(p);
#pragma unroll
            for (int k = 0; k < KK; ++k) acc[k].merge(p, w);
            continue;
        }
        int px0[KK];
#pragma unroll
        for (int k = 0; k < KK; ++k) px0[k] = xk[k] + rn.y;
        // Taps j with padded column px0 + j in [xlo, xhi) for every lane are plain.
        const int L = rn.z;
        const int jA = max(0, min(L, a.xlo - (first + rn.y)));
        const int jB = max(jA, min(L, a.xhi - (last + rn.y)));
        Part part[KK * NP];
#pragma unroll
        for (int k = 0; k < KK * NP; ++k) part[k].clear();
        stretch<KK, NP, false>(part, srow, row_in, px0, 0, jA, a);
        stretch<KK, NP, true>(part, srow, row_in, px0, jA, jB, a);
        stretch<KK, NP, false>(part, srow, row_in, px0, jB, L, a);
#pragma unroll
        for (int k = 0; k < KK; ++k) {
#pragma unroll
            for (int q = 0; q < NP; ++q) acc[k].merge(part[k * NP + q], w);
        }
    }

    const double ntaps = a.cls_info[3 * c + 0];
    const double wtotal = a.cls_info[3 * c + 1];
    const double wcancel = ntaps * FOCAL_EPS64 * a.cls_info[3 * c + 2];
    // _geodesic._threshold: every tap of this row's footprint for propagate.
    const double threshold = a.propagate ? fmax(ntaps, a.min_count) : fmax(1.0, a.min_count);
    for (int s = 0; s < a.nstats; ++s) {
        const int code = int((a.codes >> (4 * s)) & 15);
        T* orow = outb + s * a.stat_stride + plane + (long long)y * a.wo;
#pragma unroll
        for (int k = 0; k < KK; ++k) {
            const int x = first + lane + 32 * k;
            if (x < a.wo) orow[x] = T(acc[k].finish(code, threshold, wtotal, int(ntaps), wcancel));
        }
    }
}

__device__ __forceinline__ double tap_at(const T* __restrict__ srow, const bool row_in,
                                         const int px, const Args& a)
{
    const int sx = (px >= a.xlo && px < a.xhi) ? px + a.xoff : __ldg(a.xmap + px);
    return (row_in && sx >= 0) ? double(__ldg(srow + sx)) : a.fill;
}

// Taps pbase + j0 .. pbase + j1 - 1 round-robin into NP parts (one lane's run core).
template <int NP, bool PLAIN>
__device__ __forceinline__ void core_stretch(Part (&part)[NP], const T* __restrict__ srow,
                                             const bool row_in, const int pbase, const int j0,
                                             const int j1, const Args& a)
{
    for (int j = j0; j < j1; j += NP) {
#pragma unroll
        for (int q = 0; q < NP; ++q) {
            if (NP > 1 && j + q >= j1) break;
            const int px = pbase + j + q;
            const int sx = PLAIN ? px + a.xoff : __ldg(a.xmap + px);
            part[q].add((row_in && sx >= 0) ? double(__ldg(srow + sx)) : a.fill);
        }
    }
}

// The outputs of one work item whose lanes own KK *consecutive* outputs each (lane l:
// first + l KK + k; needs wo >= KK): the KK windows of a run of length L >= KK share its
// core, taps KK-1 .. L-1, summed once (in NP parts); window k adds its own prefix
// (taps k .. KK-2) and suffix (taps L .. L+k-1) as two more parts -- L + KK - 1 reads for
// KK outputs, and every window still adds only taps inside it, as reduce.cu's runs do.
// Lanes past the row's end move back to its last KK outputs and store only their own.
template <int KK, int NP>
__device__ __forceinline__ void item_shared(const int y, const int first, const int lane,
                                            const T* __restrict__ srcb, T* __restrict__ outb,
                                            const long long plane, const Args& a)
{
    const int c = __ldg(a.row_class + a.row0 + y);
    const int own = first + lane * KK;         // this lane's first output
    const int b = min(own, a.wo - KK);         // the first output it computes
    const int bmin = min(first, a.wo - KK);    // the warp's smallest and largest b
    const int bmax = min(first + 31 * KK, a.wo - KK);

    Acc acc[KK];
#pragma unroll
    for (int k = 0; k < KK; ++k) acc[k].clear();
    for (int i = a.cls_ptr[c]; i < a.cls_ptr[c + 1]; ++i) {
        const int4 rn = __ldg(a.runs + i);  // (dy, dx, length, -)
        const int t = y + rn.x;
        const int sy = __ldg(a.ymap + t);
        const bool row_in = sy >= 0;
        const T* srow = srcb + (long long)(row_in ? sy : 0) * a.ws;
        double w = 1.0;
        if (FOCAL_WMODE == 1) w = __ldg(a.wts + i);
        if (FOCAL_WMODE == 2) w = __ldg(a.area + a.row0 + t);
        const int L = rn.z;
        if (L == a.nfull) {  // a whole row of a global grid: summed once, as in item()
            Part p;
            p.clear();
            for (int j = lane; j < L; j += 32) p.add(tap_at(srow, row_in, first + rn.y + j, a));
            warp_join(p);
#pragma unroll
            for (int k = 0; k < KK; ++k) acc[k].merge(p, w);
            continue;
        }
        const int pbase = b + rn.y;  // padded column of tap 0 of output b
        if (L >= KK) {
            // Core taps j with pbase + j in [xlo, xhi) for every lane are plain.
            const int jA = max(KK - 1, min(L, a.xlo - (bmin + rn.y)));
            const int jB = max(jA, min(L, a.xhi - (bmax + rn.y)));
            Part core[NP];
#pragma unroll
            for (int q = 0; q < NP; ++q) core[q].clear();
            core_stretch<NP, false>(core, srow, row_in, pbase, KK - 1, jA, a);
            core_stretch<NP, true>(core, srow, row_in, pbase, jA, jB, a);
            core_stretch<NP, false>(core, srow, row_in, pbase, jB, L, a);
#pragma unroll
            for (int k = 0; k < KK; ++k) {
#pragma unroll
                for (int q = 0; q < NP; ++q) acc[k].merge(core[q], w);
            }
            Part pre;
            pre.clear();
#pragma unroll
            for (int k = KK - 2; k >= 0; --k) {
                pre.add(tap_at(srow, row_in, pbase + k, a));
                acc[k].merge(pre, w);
            }
            Part suf;
            suf.clear();
#pragma unroll
            for (int k = 1; k < KK; ++k) {
                suf.add(tap_at(srow, row_in, pbase + L + k - 1, a));
                acc[k].merge(suf, w);
            }
        } else {
            // A short run: its L + KK - 1 taps read once, each added to the windows holding it.
            Part part[KK];
#pragma unroll
            for (int k = 0; k < KK; ++k) part[k].clear();
            for (int m = 0; m < L + KK - 1; ++m) {
                const double v = tap_at(srow, row_in, pbase + m, a);
#pragma unroll
                for (int k = 0; k < KK; ++k)
                    if (m - k >= 0 && m - k < L) part[k].add(v);
            }
#pragma unroll
            for (int k = 0; k < KK; ++k) acc[k].merge(part[k], w);
        }
    }

    const double ntaps = a.cls_info[3 * c + 0];
    const double wtotal = a.cls_info[3 * c + 1];
    const double wcancel = ntaps * FOCAL_EPS64 * a.cls_info[3 * c + 2];
    const double threshold = a.propagate ? fmax(ntaps, a.min_count) : fmax(1.0, a.min_count);
    for (int s = 0; s < a.nstats; ++s) {
        const int code = int((a.codes >> (4 * s)) & 15);
        T* orow = outb + s * a.stat_stride + plane + (long long)y * a.wo;
#pragma unroll
        for (int k = 0; k < KK; ++k) {
            const int x = b + k;
            if (x >= own && x < a.wo)
                orow[x] = T(acc[k].finish(code, threshold, wtotal, int(ntaps), wcancel));
        }
    }
}

extern "C" __global__ void __launch_bounds__(NTHREADS)
focal_geodesic(const T* __restrict__ src, T* __restrict__ out,
               const int* __restrict__ ymap, const int* __restrict__ xmap,
               const int* __restrict__ row_class, const int* __restrict__ cls_ptr,
               const int4* __restrict__ runs, const double* __restrict__ wts,
               const double* __restrict__ cls_info, const double* __restrict__ area,
               const int4* __restrict__ items, const int nitems,
               const long long codes, const int nstats, const long long stat_stride,
               const double fill, const int propagate, const double min_count,
               const int row0, const int hs, const int ws, const int ho, const int wo,
               const int nbatch, const int xlo, const int xhi, const int xoff,
               const int nfull)
{
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int w = blockIdx.x * NWARPS + warp;
    if (w >= nitems) return;
    Args a;
    a.src = src; a.out = out; a.ymap = ymap; a.xmap = xmap; a.row_class = row_class;
    a.cls_ptr = cls_ptr; a.runs = runs; a.wts = wts; a.cls_info = cls_info; a.area = area;
    a.codes = codes; a.stat_stride = stat_stride; a.fill = fill; a.min_count = min_count;
    a.nstats = nstats; a.propagate = propagate; a.row0 = row0;
    a.hs = hs; a.ws = ws; a.ho = ho; a.wo = wo; a.xlo = xlo; a.xhi = xhi; a.xoff = xoff;
    a.nfull = nfull;
    // (output row, first column, outputs per lane, layout): layout 0 strided outputs, 1
    // consecutive outputs sharing run cores, 2 the same with FOCAL_NP parts per core.
    const int4 it = items[w];
    // One layout per compiled variant (FOCAL_SHARED): the unused one would cost registers.
    for (int b = blockIdx.y; b < nbatch; b += gridDim.y) {
        const T* srcb = src + (long long)b * hs * ws;
        const long long plane = (long long)b * ho * wo;
#if FOCAL_SHARED
        if (it.w == 2)
            item_shared<K, FOCAL_NP>(it.x, it.y, lane, srcb, out, plane, a);
        else
            item_shared<K, 1>(it.x, it.y, lane, srcb, out, plane, a);
#else
        if (it.z == 1)
            item<1, FOCAL_NP>(it.x, it.y, lane, srcb, out, plane, a);
        else
            item<K, 1>(it.x, it.y, lane, srcb, out, plane, a);
#endif
    }
}
