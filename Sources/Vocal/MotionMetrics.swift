import Foundation
import NeoTensor

/// A motion clip `[T, D]` as plain row-major floats (25 fps, one latent per frame).
public struct MotionClip: Sendable, Equatable {
    public let frames: Int
    public let dim: Int
    public let values: [Float]

    public init(values: [Float], frames: Int, dim: Int) {
        ensure(values.count == frames * dim, "MotionClip: \(values.count) values for \(frames) frames × \(dim)")
        self.values = values; self.frames = frames; self.dim = dim
    }

    /// From a tensor `[T, D]`.
    public init(_ tensor: Tensor) {
        ensure(tensor.rank == 2, "MotionClip: expected a [T, D] tensor, got \(tensor.shape)")
        self.init(values: tensor.contiguous().toArray(), frames: tensor.shape[0], dim: tensor.shape[1])
    }

    @inline(__always) public subscript(t: Int, d: Int) -> Float { values[t * dim + d] }

    /// The track of one dimension over time.
    public func track(_ d: Int) -> [Float] { (0..<frames).map { self[$0, d] } }
}

/// Which keypoint coordinates define lip opening in the 70-number layout (keypoint k occupies
/// numbers 3k…3k+2 = x, y, z of its expression offset): opening = sign·(mean of the upper-lip
/// keypoints' coordinate − mean of the lower-lip keypoints'), sign = +1 when the axis points up.
public struct LipGeometry: Sendable, Equatable {
    public var upper: [Int]
    public var lower: [Int]
    /// 0 = x, 1 = y, 2 = z.
    public var axis: Int
    public var upIsPositive: Bool

    public init(upper: [Int], lower: [Int], axis: Int = 1, upIsPositive: Bool) {
        self.upper = upper; self.lower = lower; self.axis = axis; self.upIsPositive = upIsPositive
    }

    /// The synthetic performer corpus of NeoData (y up): upper lip = keypoint 14, lower lip =
    /// keypoint 12; opening = y₁₄ − y₁₂. The default.
    public static let synthetic = LipGeometry(upper: [14], lower: [12], axis: 1, upIsPositive: true)
    /// Motion extracted by LivePortrait (image axes, y down): the mouth-open edit of
    /// LivePortrait-based expression editors moves keypoint 19 along +y and 17 slightly along
    /// −y, so opening = y₁₉ − y₁₇ (lower minus upper).
    public static let livePortrait = LipGeometry(upper: [17], lower: [19], axis: 1, upIsPositive: false)
    /// The lip keypoints of LivePortrait-style pipelines.
    public static let lipKeypoints = [6, 12, 14, 17, 19, 20]
}

/// Audio–motion synchronisation found by shifting one track against the other.
public struct SyncOffset: Sendable, Equatable, Codable {
    /// Frames by which the motion lags the audio at the best match (negative: motion leads).
    public var offset: Int
    /// LSE-D-style distance: the smallest distance over the offsets.
    public var minDistance: Double
    /// LSE-C-style confidence: median distance over the offsets minus the smallest.
    public var confidence: Double
    /// Distance at each offset −maxOffset…maxOffset.
    public var distances: [Double]
}

/// Gaussian statistics (mean, covariance) of feature vectors.
public struct GaussianStatistics: Sendable, Equatable {
    public let dim: Int
    public let mean: [Double]
    /// Row-major `dim × dim`, unbiased (n − 1).
    public let covariance: [Double]
    public let count: Int
}

/// Motion-quality metrics over clips `[T, D]` (25 fps). Plain functions; the CLI, the reward
/// model and GRPO call them.
public enum MotionMetrics {
    /// Expression dims of the 70 layout (21 keypoints × xyz).
    public static let expressionDims = 0..<63
    /// Head-pose dims of the 70 layout (pitch, yaw, roll).
    public static let poseDims = 67..<70

    // MARK: Lips and audio

    /// Lip opening per frame (see `LipGeometry`).
    public static func lipOpening(_ clip: MotionClip, geometry: LipGeometry = .synthetic) -> [Float] {
        let top = (geometry.upper + geometry.lower).map { 3 * $0 + geometry.axis }.max() ?? 0
        ensure(top < clip.dim && !geometry.upper.isEmpty && !geometry.lower.isEmpty,
               "lipOpening: lip keypoints \(geometry.upper)/\(geometry.lower) do not fit a \(clip.dim)-number layout")
        let sign: Float = geometry.upIsPositive ? 1 : -1
        return (0..<clip.frames).map { t in
            var up: Float = 0, low: Float = 0
            for k in geometry.upper { up += clip[t, 3 * k + geometry.axis] }
            for k in geometry.lower { low += clip[t, 3 * k + geometry.axis] }
            return sign * (up / Float(geometry.upper.count) - low / Float(geometry.lower.count))
        }
    }

    /// RMS energy of 16 kHz mono audio per motion frame (640 samples at 25 fps); `frames`
    /// defaults to the number of whole and partial frames.
    public static func audioEnergyEnvelope(_ samples: [Float], sampleRate: Int = 16_000, fps: Int = 25, frames: Int? = nil) -> [Float] {
        ensure(sampleRate > 0 && fps > 0 && sampleRate % fps == 0, "audioEnergyEnvelope: sample rate \(sampleRate) must be a multiple of fps \(fps)")
        let hop = sampleRate / fps
        let count = frames ?? (samples.count + hop - 1) / hop
        return (0..<count).map { t in
            let lo = t * hop, hi = Swift.min(samples.count, lo + hop)
            guard hi > lo else { return 0 }
            var s: Double = 0
            for i in lo..<hi { s += Double(samples[i]) * Double(samples[i]) }
            return Float((s / Double(hi - lo)).squareRoot())
        }
    }

    /// Pearson correlation of two tracks over their common length (0 when either is constant).
    public static func pearson(_ a: [Float], _ b: [Float]) -> Double {
        let n = Swift.min(a.count, b.count)
        guard n >= 2 else { return 0 }
        var ma = 0.0, mb = 0.0
        for i in 0..<n { ma += Double(a[i]); mb += Double(b[i]) }
        ma /= Double(n); mb /= Double(n)
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in 0..<n {
            let x = Double(a[i]) - ma, y = Double(b[i]) - mb
            sab += x * y; saa += x * x; sbb += y * y
        }
        return saa > 0 && sbb > 0 ? sab / (saa * sbb).squareRoot() : 0
    }

    /// Lip-sync correlation: Pearson correlation of the lip opening with `track`, a ground-truth
    /// viseme/opening track where one exists, otherwise the audio energy envelope
    /// (`audioEnergyEnvelope`), at zero lag.
    public static func lipSyncCorrelation(_ clip: MotionClip, track: [Float], geometry: LipGeometry = .synthetic) -> Double {
        pearson(lipOpening(clip, geometry: geometry), track)
    }

    /// Audio–motion offset by cross-correlation over ±`maxOffset` frames. For each offset δ the
    /// motion track m is compared with the audio track a shifted by δ (m[t] against a[t − δ]) on
    /// their overlap; both segments are standardised there and the distance is the mean squared
    /// difference, d(δ) = 2·(1 − r(δ)) ∈ [0, 4] with r the correlation on the overlap. The
    /// LSE-D-style score is min d, the LSE-C-style confidence is median d − min d (SyncNet's
    /// definitions with this distance), the offset is the argmin.
    public static func syncOffset(motion m: [Float], audio a: [Float], maxOffset: Int = 15) -> SyncOffset {
        let n = Swift.min(m.count, a.count)
        ensure(maxOffset >= 0 && n - maxOffset >= 2, "syncOffset: \(n) frames are too few for offsets of ±\(maxOffset)")
        var distances: [Double] = []
        for delta in -maxOffset...maxOffset {
            // Overlap: t in [max(0, δ), min(n, n + δ)).
            let lo = Swift.max(0, delta), hi = Swift.min(n, n + delta)
            let x = Array(m[lo..<hi]), y = (lo..<hi).map { a[$0 - delta] }
            distances.append(2 * (1 - pearson(x, y)))
        }
        var best = 0
        for i in distances.indices where distances[i] < distances[best] { best = i }
        let sorted = distances.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : 0.5 * (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2])
        return SyncOffset(offset: best - maxOffset, minDistance: distances[best], confidence: median - distances[best], distances: distances)
    }

    // MARK: Motion statistics

    /// Jitter: mean absolute jerk, the third difference x[t+3] − 3x[t+2] + 3x[t+1] − x[t],
    /// over frames and the given dims (default all), in latent units per frame³.
    public static func jitter(_ clip: MotionClip, dims: Range<Int>? = nil) -> Double {
        let ds = dims ?? 0..<clip.dim
        ensure(ds.upperBound <= clip.dim, "jitter: dims \(ds) exceed the clip's \(clip.dim)")
        guard clip.frames >= 4, !ds.isEmpty else { return 0 }
        var s = 0.0
        for t in 0..<(clip.frames - 3) {
            for d in ds {
                let j = Double(clip[t + 3, d]) - 3 * Double(clip[t + 2, d]) + 3 * Double(clip[t + 1, d]) - Double(clip[t, d])
                s += Swift.abs(j)
            }
        }
        return s / Double((clip.frames - 3) * ds.count)
    }

    /// Mean over `dims` of the standard deviation over time (population).
    public static func meanStd(_ clip: MotionClip, dims: Range<Int>) -> Double {
        ensure(dims.upperBound <= clip.dim, "meanStd: dims \(dims) exceed the clip's \(clip.dim)")
        guard clip.frames >= 1, !dims.isEmpty else { return 0 }
        var total = 0.0
        for d in dims {
            var m = 0.0
            for t in 0..<clip.frames { m += Double(clip[t, d]) }
            m /= Double(clip.frames)
            var v = 0.0
            for t in 0..<clip.frames { let x = Double(clip[t, d]) - m; v += x * x }
            total += (v / Double(clip.frames)).squareRoot()
        }
        return total / Double(dims.count)
    }

    /// Expression range: mean standard deviation over time of the expression dims (0..<63).
    public static func expressionRange(_ clip: MotionClip, dims: Range<Int> = expressionDims) -> Double { meanStd(clip, dims: dims) }

    /// Head-pose diversity: mean standard deviation over time of the pose dims (67..<70).
    public static func headPoseDiversity(_ clip: MotionClip, dims: Range<Int> = poseDims) -> Double { meanStd(clip, dims: dims) }

    // MARK: Fréchet distance

    /// Windowed motion features for the Fréchet distance: for each window of `window` frames
    /// (every `stride` frames), the mean of each dim in `dims` and the mean absolute frame-to-frame
    /// velocity of each (2·|dims| numbers): pose/expression level and how lively it moves.
    public static func motionFeatures(_ clip: MotionClip, window: Int = 10, stride: Int = 5, dims: Range<Int>? = nil) -> [[Double]] {
        let ds = dims ?? 0..<clip.dim
        ensure(window >= 2 && stride >= 1 && ds.upperBound <= clip.dim, "motionFeatures: bad window \(window), stride \(stride) or dims \(ds)")
        guard clip.frames >= window else { return [] }
        var out: [[Double]] = []
        var start = 0
        while start + window <= clip.frames {
            var f = [Double](repeating: 0, count: 2 * ds.count)
            for (j, d) in ds.enumerated() {
                var m = 0.0, v = 0.0
                for t in start..<(start + window) { m += Double(clip[t, d]) }
                for t in (start + 1)..<(start + window) { v += Swift.abs(Double(clip[t, d]) - Double(clip[t - 1, d])) }
                f[j] = m / Double(window)
                f[ds.count + j] = v / Double(window - 1)
            }
            out.append(f)
            start += stride
        }
        return out
    }

    /// Mean and unbiased covariance of feature vectors (at least two, all the same length).
    public static func gaussianStatistics(_ features: [[Double]]) -> GaussianStatistics {
        ensure(features.count >= 2, "gaussianStatistics: need at least two feature vectors, got \(features.count)")
        let n = features[0].count
        ensure(features.allSatisfy { $0.count == n }, "gaussianStatistics: feature vectors differ in length")
        var mean = [Double](repeating: 0, count: n)
        for f in features { for i in 0..<n { mean[i] += f[i] } }
        for i in 0..<n { mean[i] /= Double(features.count) }
        var cov = [Double](repeating: 0, count: n * n)
        cov.withUnsafeMutableBufferPointer { c in
            var centred = [Double](repeating: 0, count: n)
            for f in features {
                for i in 0..<n { centred[i] = f[i] - mean[i] }
                centred.withUnsafeBufferPointer { x in
                    for i in 0..<n {
                        let xi = x[i]
                        let row = c.baseAddress! + i &* n
                        for j in i..<n { row[j] += xi * x[j] }
                    }
                }
            }
            let scale = 1 / Double(features.count - 1)
            for i in 0..<n { for j in i..<n { let v = c[i * n + j] * scale; c[i * n + j] = v; c[j * n + i] = v } }
        }
        return GaussianStatistics(dim: n, mean: mean, covariance: cov, count: features.count)
    }

    /// Fréchet distance between Gaussians: ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2·(Σ₁^½ Σ₂ Σ₁^½)^½).
    /// Σ₁^½ and the trace of the outer square root come from symmetric eigendecompositions
    /// (Jacobi, in Double); negative eigenvalues from rounding are clamped to 0.
    public static func frechetDistance(_ a: GaussianStatistics, _ b: GaussianStatistics) -> Double {
        ensure(a.dim == b.dim, "frechetDistance: feature dims differ (\(a.dim) vs \(b.dim))")
        let n = a.dim
        var meanTerm = 0.0
        for i in 0..<n { let d = a.mean[i] - b.mean[i]; meanTerm += d * d }
        var trace = 0.0
        for i in 0..<n { trace += a.covariance[i * n + i] + b.covariance[i * n + i] }
        let rootA = symmetricMatrixFunction(a.covariance, n: n) { Swift.max($0, 0).squareRoot() }
        let inner = multiply(multiply(rootA, b.covariance, n: n), rootA, n: n)
        // Symmetrise against rounding before the second decomposition.
        var sym = inner
        for i in 0..<n { for j in (i + 1)..<n { let v = 0.5 * (inner[i * n + j] + inner[j * n + i]); sym[i * n + j] = v; sym[j * n + i] = v } }
        let eigen = symmetricEigen(sym, n: n)
        let traceRoot = eigen.values.reduce(0) { $0 + Swift.max($1, 0).squareRoot() }
        return Swift.max(0, meanTerm + trace - 2 * traceRoot)
    }

    /// Fréchet distance between the Gaussian statistics of two feature sets.
    public static func frechetDistance(_ a: [[Double]], _ b: [[Double]]) -> Double {
        frechetDistance(gaussianStatistics(a), gaussianStatistics(b))
    }

    /// Fréchet distance between the windowed motion features (`motionFeatures`) of two sets of clips.
    public static func frechetDistance(generated: [MotionClip], real: [MotionClip], window: Int = 10, stride: Int = 5,
                                       dims: Range<Int>? = nil) -> Double {
        let a = generated.flatMap { motionFeatures($0, window: window, stride: stride, dims: dims) }
        let b = real.flatMap { motionFeatures($0, window: window, stride: stride, dims: dims) }
        return frechetDistance(a, b)
    }

    // MARK: Linear algebra in Double

    /// Eigen-decomposition of a symmetric `n × n` matrix (row-major) by cyclic Jacobi rotations.
    /// Returns the eigenvalues (ascending) and the eigenvectors as the columns of a row-major
    /// matrix, so A = V·diag(λ)·Vᵀ.
    public static func symmetricEigen(_ matrix: [Double], n: Int, maxSweeps: Int = 64) -> (values: [Double], vectors: [Double]) {
        ensure(matrix.count == n * n, "symmetricEigen: \(matrix.count) numbers for a \(n)×\(n) matrix")
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        a.withUnsafeMutableBufferPointer { ab in
            v.withUnsafeMutableBufferPointer { vb in
                let A = ab.baseAddress!, V = vb.baseAddress!
                var scale = 0.0
                for i in 0..<(n &* n) { scale += A[i] * A[i] }
                let tolerance = 1e-30 * Swift.max(scale, 1e-300)
                for _ in 0..<maxSweeps {
                    var off = 0.0
                    for p in 0..<n { for q in 0..<n where q != p { off += A[p &* n &+ q] * A[p &* n &+ q] } }
                    if off <= tolerance { break }
                    for p in 0..<Swift.max(n - 1, 0) {
                        for q in (p + 1)..<n {
                            let apq = A[p &* n &+ q]
                            if apq == 0 { continue }
                            let app = A[p &* n &+ p], aqq = A[q &* n &+ q]
                            let theta = (aqq - app) / (2 * apq)
                            let t = (theta >= 0 ? 1.0 : -1.0) / (Swift.abs(theta) + (theta * theta + 1).squareRoot())
                            let c = 1 / (t * t + 1).squareRoot(), s = t * c
                            // Columns p and q of A and V, then rows p and q of A: A ← Pᵀ·A·P.
                            for k in 0..<n {
                                let akp = A[k &* n &+ p], akq = A[k &* n &+ q]
                                A[k &* n &+ p] = c * akp - s * akq
                                A[k &* n &+ q] = s * akp + c * akq
                                let vkp = V[k &* n &+ p], vkq = V[k &* n &+ q]
                                V[k &* n &+ p] = c * vkp - s * vkq
                                V[k &* n &+ q] = s * vkp + c * vkq
                            }
                            for k in 0..<n {
                                let apk = A[p &* n &+ k], aqk = A[q &* n &+ k]
                                A[p &* n &+ k] = c * apk - s * aqk
                                A[q &* n &+ k] = s * apk + c * aqk
                            }
                            A[p &* n &+ q] = 0
                            A[q &* n &+ p] = 0
                        }
                    }
                }
            }
        }
        let order = (0..<n).sorted { a[$0 * n + $0] < a[$1 * n + $1] }
        let values = order.map { a[$0 * n + $0] }
        var vectors = [Double](repeating: 0, count: n * n)
        for (j, src) in order.enumerated() { for i in 0..<n { vectors[i * n + j] = v[i * n + src] } }
        return (values, vectors)
    }

    /// f(A) = V·diag(f(λ))·Vᵀ for a symmetric matrix.
    static func symmetricMatrixFunction(_ a: [Double], n: Int, _ f: (Double) -> Double) -> [Double] {
        let (values, vectors) = symmetricEigen(a, n: n)
        let fv = values.map(f)
        var out = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                var s = 0.0
                for k in 0..<n { s += vectors[i * n + k] * fv[k] * vectors[j * n + k] }
                out[i * n + j] = s
                out[j * n + i] = s
            }
        }
        return out
    }

    /// Row-major n × n product.
    static func multiply(_ a: [Double], _ b: [Double], n: Int) -> [Double] {
        var out = [Double](repeating: 0, count: n * n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { op in
                    for i in 0..<n {
                        let row = op.baseAddress! + i &* n
                        for k in 0..<n {
                            let aik = ap[i &* n &+ k]
                            if aik == 0 { continue }
                            let brow = bp.baseAddress! + k &* n
                            for j in 0..<n { row[j] += aik * brow[j] }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// The metrics of a set of generated clips, averaged over clips, as the CLI prints them.
public struct MotionMetricReport: Sendable, Equatable, Codable {
    public var clips: Int
    /// Mean lip-sync correlation (vs the ground-truth tracks, or the audio envelopes).
    public var lipSyncCorrelation: Double?
    /// Which track lip sync was measured against: "viseme" or "energy".
    public var lipSyncReference: String?
    /// Mean |offset| in frames, and the mean LSE-D/LSE-C-style scores (`MotionMetrics.syncOffset`).
    public var meanAbsoluteOffset: Double?
    public var syncDistance: Double?
    public var syncConfidence: Double?
    public var jitter: Double
    public var expressionRange: Double
    public var headPoseDiversity: Double
    /// Fréchet distance to the real clips' windowed motion features, when real clips are given.
    public var frechetDistance: Double?

    /// Evaluates `generated` clips. `tracks` (one per clip) are the ground-truth opening/viseme
    /// tracks when `tracksAreViseme`, otherwise audio energy envelopes; `real` clips give the
    /// Fréchet distance. Offsets are searched only on clips long enough for ±`maxOffset`.
    public static func evaluate(generated: [MotionClip], tracks: [[Float]]? = nil, tracksAreViseme: Bool = false,
                                real: [MotionClip]? = nil, geometry: LipGeometry = .synthetic, maxOffset: Int = 15,
                                expressionDims: Range<Int> = MotionMetrics.expressionDims,
                                poseDims: Range<Int> = MotionMetrics.poseDims) -> MotionMetricReport {
        ensure(!generated.isEmpty, "MotionMetricReport.evaluate: no clips")
        if let tracks { ensure(tracks.count == generated.count, "MotionMetricReport.evaluate: \(tracks.count) tracks for \(generated.count) clips") }
        func mean(_ xs: [Double]) -> Double? { xs.isEmpty ? nil : xs.reduce(0, +) / Double(xs.count) }
        var report = MotionMetricReport(clips: generated.count, jitter: 0, expressionRange: 0, headPoseDiversity: 0)
        report.jitter = mean(generated.map { MotionMetrics.jitter($0) }) ?? 0
        report.expressionRange = mean(generated.map { MotionMetrics.expressionRange($0, dims: expressionDims) }) ?? 0
        report.headPoseDiversity = mean(generated.map { MotionMetrics.headPoseDiversity($0, dims: poseDims) }) ?? 0
        if let tracks {
            report.lipSyncReference = tracksAreViseme ? "viseme" : "energy"
            report.lipSyncCorrelation = mean(zip(generated, tracks).map { MotionMetrics.lipSyncCorrelation($0, track: $1, geometry: geometry) })
            let offsets = zip(generated, tracks).compactMap { clip, track -> SyncOffset? in
                guard Swift.min(clip.frames, track.count) - maxOffset >= 2 else { return nil }
                return MotionMetrics.syncOffset(motion: MotionMetrics.lipOpening(clip, geometry: geometry), audio: track, maxOffset: maxOffset)
            }
            report.meanAbsoluteOffset = mean(offsets.map { Double(Swift.abs($0.offset)) })
            report.syncDistance = mean(offsets.map(\.minDistance))
            report.syncConfidence = mean(offsets.map(\.confidence))
        }
        if let real {
            report.frechetDistance = MotionMetrics.frechetDistance(generated: generated, real: real)
        }
        return report
    }
}
