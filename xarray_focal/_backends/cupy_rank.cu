// Order statistics (median, percentiles) and class statistics (majority, minority,
// variety) of each window's valid values. The launcher (cupy_rank.py, next to this file)
// prepends:
//   T            the data's float type (float or double); MN/MX its min and max
//   NTAPS        the footprint's number of cells
//   TAP_DY/TAP_DX the cells' row and column in the footprint's box, as {...} lists:
//                compile-time constants, so the unrolled reads share their index-map loads
//   SORT_CELLS   the sorting network's compare-exchanges, CE(a, b) ..., or nothing for
//                footprints too large for one (sorted by insertion instead)
//   FAST         (order_stat only) defined when each thread computes a TR x TC tile of
//                outputs with a selection network (cupy_rank_select.py), with
//                FAST_ROWS/FAST_COLS (the region's index-map reads), FAST_LOAD (its cells),
//                FAST_NET (the network: straight-line MN/MX on registers) and FAST_STORE
//                (each output's statistics, finished as below)
// Reads go through the tile's index maps (yidx/xidx: padded coordinate -> frame row/column,
// -1 outside: `fill`), as on the CPU, so every boundary mode and dask chunk is the same code.
// The selection network runs where the thread's region is inside the output, has no NaN
// and no cell outside the frame (every window then has NTAPS valid values, the wanted
// ranks are constants); any other window goes through order_one: NaN reads as +inf and is
// counted out, the window is sorted, the valid values then come first in sorted order.
// The statistic is finished in double exactly as xarray_focal/_algorithms/rank/order.py
// does (_positions, _value): numpy's median and "linear" percentile.

#define NAN_ __longlong_as_double(0x7ff8000000000000LL)
#define INF_ __longlong_as_double(0x7ff0000000000000LL)
#define CE(a, b) { T lo_ = v[a] < v[b] ? v[a] : v[b]; v[b] = v[a] < v[b] ? v[b] : v[a]; v[a] = lo_; }

__device__ double lerp_exact(double a, double b, double t) {
    if (t == 0.0 || a == b) return a;
    if (isinf(a) || isinf(b)) {
        if (isinf(a) && isinf(b)) return NAN_;
        return isinf(b) ? b : a;
    }
    double d = b - a;
    if (t >= 0.5) return b - d * (1.0 - t);
    return a + d * t;
}

// The statistic q (NaN: the median) from its lower and upper order statistics a <= c with
// weight w: order.py's _value.
__device__ __forceinline__ double finish(double a, double c, double w, double q) {
    if (isnan(q)) {
        if (w == 0.0) return a;
        double r = (a + c) * 0.5;
        if (isinf(r) && isfinite(a) && isfinite(c)) r = a * 0.5 + c * 0.5;
        return r;
    }
    return lerp_exact(a, c, w);
}

// The window of output (y, x) read through the maps (NaN as +inf), sorted; its valid count.
__device__ __forceinline__ long long load_sorted(
    const T* __restrict__ slice, long long fw, const int* __restrict__ yidx,
    const int* __restrict__ xidx, T fill, long long y, long long x, T* v)
{
    const int tdy[NTAPS] = TAP_DY;
    const int tdx[NTAPS] = TAP_DX;
    long long n = 0;
    const T inf = (T)INF_;
#pragma unroll
    for (int t = 0; t < NTAPS; ++t) {
        long long sy = yidx[y + tdy[t]];
        long long sx = xidx[x + tdx[t]];
        T val = (sy < 0 || sx < 0) ? fill : slice[sy * fw + sx];
        bool ok = !isnan(val);
        v[t] = ok ? val : inf;
        n += ok;
    }
#ifdef SORT_CELLS
    SORT_CELLS
#else
    for (int i = 1; i < NTAPS; ++i) {
        T key = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > key) { v[j + 1] = v[j]; --j; }
        v[j + 1] = key;
    }
#endif
    return n;
}

// The NaN-aware path: one output cell, any number of valid values.
__device__ void order_one(
    const T* __restrict__ slice, long long fw, const int* __restrict__ yidx,
    const int* __restrict__ xidx, T fill, long long b, long long nb, long long ho,
    long long wo, long long y, long long x, const double* __restrict__ qs, int nq,
    long long thr, T* __restrict__ out)
{
    T v[NTAPS];
    long long n = load_sorted(slice, fw, yidx, xidx, fill, y, x, v);
    for (int s = 0; s < nq; ++s) {
        T* dst = out + ((s * nb + b) * ho + y) * wo + x;
        if (n < thr || n == 0) { *dst = (T)NAN_; continue; }
        double q = qs[s];
        long long i, j;
        double w;
        if (isnan(q)) {  // the median
            j = n / 2;
            if (n % 2 == 1) { i = j; w = 0.0; } else { i = j - 1; w = 0.5; }
        } else {
            double vi = (double)(n - 1) * (q / 100.0);
            if (vi >= (double)(n - 1)) { i = j = n - 1; w = 0.0; }
            else { i = (long long)floor(vi); j = i + 1; w = vi - (double)i; }
        }
        // Picked by an unrolled select chain, not v[i]: a runtime index would put v in
        // local memory instead of registers.
        T va = v[0], vc = v[0];
#pragma unroll
        for (int t = 0; t < NTAPS; ++t) {
            if (t == i) va = v[t];
            if (t == j) vc = v[t];
        }
        *dst = (T)finish((double)va, (double)vc, w, q);
    }
}

// One slice b of order_stat (the kernel loops over slices: a grid has at most 65535 in z).
__device__ __forceinline__ void order_slice(
    long long b, const T* __restrict__ frame, long long fh, long long fw,
    const int* __restrict__ yidx, const int* __restrict__ xidx, T fill,
    long long nb, long long ho, long long wo,
    const double* __restrict__ qs, int nq, long long thr, T* __restrict__ out)
{
    const T* slice = frame + b * fh * fw;
#ifdef FAST
    long long x0 = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * TC;
    long long y0 = ((long long)blockIdx.y * blockDim.y + threadIdx.y) * TR;
    if (x0 >= wo || y0 >= ho) return;
    if (x0 + TC <= wo && y0 + TR <= ho && NTAPS >= thr) {
        FAST_ROWS
        FAST_COLS
        if (FAST_INSIDE) {
            bool ok = true;
            FAST_LOAD
            if (ok) {
                FAST_NET
                FAST_STORE
                return;
            }
        }
    }
    for (int r = 0; r < TR; ++r)
        for (int c = 0; c < TC; ++c)
            if (y0 + r < ho && x0 + c < wo)
                order_one(slice, fw, yidx, xidx, fill, b, nb, ho, wo, y0 + r, x0 + c, qs, nq,
                          thr, out);
#else
    long long x = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long y = (long long)blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= wo || y >= ho) return;
    order_one(slice, fw, yidx, xidx, fill, b, nb, ho, wo, y, x, qs, nq, thr, out);
#endif
}

extern "C" __global__ void order_stat(
    const T* __restrict__ frame, long long fh, long long fw,
    const int* __restrict__ yidx, const int* __restrict__ xidx, T fill,
    long long nb, long long ho, long long wo,
    const double* __restrict__ qs, int nq, long long thr, T* __restrict__ out)
{
    for (long long b = blockIdx.z; b < nb; b += gridDim.z)
        order_slice(b, frame, fh, fw, yidx, xidx, fill, nb, ho, wo, qs, nq, thr, out);
}

// Class statistics, one thread per output: the sorted window's runs of equal values are
// its classes (ascending, so the first run of a tie is the smallest class). codes[s]:
// 0 majority, 1 minority, 2 variety (xarray_focal/_algorithms/rank/classes.py).
__device__ __forceinline__ void class_slice(
    long long b, const T* __restrict__ frame, long long fh, long long fw,
    const int* __restrict__ yidx, const int* __restrict__ xidx, T fill,
    long long nb, long long ho, long long wo,
    const int* __restrict__ codes, int nq, long long thr, T* __restrict__ out)
{
    long long x = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long y = (long long)blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= wo || y >= ho) return;
    const T* slice = frame + b * fh * fw;
    T v[NTAPS];
    long long n = load_sorted(slice, fw, yidx, xidx, fill, y, x, v);
    int variety = 0, start = 0, most = 0, least = NTAPS + 1;
    T major = v[0], minor = v[0];
#pragma unroll
    for (int t = 0; t < NTAPS; ++t) {
        // A run ends at t when the next value differs (or t is the last valid value).
        bool last = (t + 1 >= n) || (t + 1 < NTAPS && v[t + 1] != v[t]);
        if (t < n && last) {
            int len = t + 1 - start;
            ++variety;
            if (len > most) { most = len; major = v[t]; }
            if (len < least) { least = len; minor = v[t]; }
            start = t + 1;
        }
    }
    for (int s = 0; s < nq; ++s) {
        T* dst = out + ((s * nb + b) * ho + y) * wo + x;
        if (n < thr || n == 0) { *dst = (T)NAN_; continue; }
        int code = codes[s];
        *dst = code == 0 ? major : code == 1 ? minor : (T)variety;
    }
}

extern "C" __global__ void class_stat(
    const T* __restrict__ frame, long long fh, long long fw,
    const int* __restrict__ yidx, const int* __restrict__ xidx, T fill,
    long long nb, long long ho, long long wo,
    const int* __restrict__ codes, int nq, long long thr, T* __restrict__ out)
{
    for (long long b = blockIdx.z; b < nb; b += gridDim.z)
        class_slice(b, frame, fh, fw, yidx, xidx, fill, nb, ho, wo, codes, nq, thr, out);
}
